// The error of a training run (defined with the library's other error classes).
export { TrainingError } from '../error-classes';
