export { runTraining, stepLine, epochLine, finalLine, TrainingError } from './loop';
export type { TrainOptions, TrainEvent, TrainHooks, TrainResult } from './loop';
export { evaluate } from './evaluate';
export type { EvaluationResult } from './evaluate';
export { saveCheckpoint, readCheckpoint, modelFromCheckpoint, ARCHITECTURES, CHECKPOINT_FORMAT } from './checkpoint';
export type { CheckpointMeta, LoadedCheckpoint, Arch } from './checkpoint';
export { train } from './api';
export type { TrainHandle, TrainApiOptions } from './api';
