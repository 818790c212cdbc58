export { loadWeights, readWeights, saveWeights, detectWeightsFormat, loadTorchvisionStateDict } from './weights';
export type { WeightsFormat, LoadWeightsOptions } from './weights';
export { readTorchCheckpoint, CheckpointError } from './torch-pth';
export { readSafetensors, readSafetensorsFile, saveSafetensors } from './safetensors';
export { readMindsporeCheckpoint, mindsporeToTorchName } from './mindspore';
export { writeFileAtomic } from './atomic';
export { renderImageGrid } from './images';
export type { GridOptions } from './images';
