export { Classifier } from './classifier';
export type { Prediction, ClassifierOptions } from './classifier';
export { imageToChw, normalizeBatch } from './preprocess';
export type { ImageInput } from './preprocess';
export { visualizePredictions } from './visualize';
export type { VisualizeOptions, VisualizeResult } from './visualize';
