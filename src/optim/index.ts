export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { cosineDecayLr, warmupCosineLr, stepDecayLr, cosineDecaySchedule, warmupCosineSchedule, stepDecaySchedule } from './lr';
export type { LrSchedule } from './lr';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler';
