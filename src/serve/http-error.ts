// An error with the HTTP status (and headers) the server answers it with (defined with the
// library's other error classes).
export { HttpError } from '../error-classes';
