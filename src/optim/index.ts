export { SGD } from './sgd';
export { AdamW, Adam } from './adamw';
export type { AdamWOptions } from './adamw';
export type { Optimizer } from './optimizer';
export type { SGDOptions } from './sgd';
export { cosineDecayLr, warmupCosineLr, stepDecayLr, cosineDecaySchedule, warmupCosineSchedule, stepDecaySchedule } from './lr';
export type { LrSchedule } from './lr';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler';
