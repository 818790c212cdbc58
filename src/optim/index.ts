export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { cosineDecayLr, warmupCosineLr, stepDecayLr } from './lr';
