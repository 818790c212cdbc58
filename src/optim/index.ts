export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { cosineDecayLr, warmupCosineLr, stepDecayLr } from './lr';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler';
