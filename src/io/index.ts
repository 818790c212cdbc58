export { loadWeights, readWeights, saveWeights, detectWeightsFormat, loadTorchvisionStateDict } from './weights';
export type { WeightsFormat, LoadWeightsOptions, ReadWeightsOptions } from './weights';
export {
  PRETRAINED_WEIGHTS,
  TORCHVISION_WEIGHTS_BASE_URL,
  findPretrained,
  resolvePretrained,
  downloadPretrained,
  downloadWeightsFile,
  downloadWeightsFileSync,
  cachedPretrained,
  pretrainedUrl,
  weightsCacheDir,
  torchHubCheckpointsDir,
  sha256PrefixOf,
  WeightsDownloadError,
} from './pretrained';
export type {
  PretrainedWeights,
  PretrainedArch,
  PretrainedEvalTransform,
  PretrainedLocationOptions,
  PretrainedDownloadOptions,
  PretrainedDownloadResult,
  HashedDownloadOptions,
  HashedDownloadResult,
} from './pretrained';
export { readTorchCheckpoint, CheckpointError } from './torch-pth';
export { readSafetensors, readSafetensorsFile, saveSafetensors } from './safetensors';
export { readMindsporeCheckpoint, mindsporeToTorchName } from './mindspore';
export { writeFileAtomic } from './atomic';
export { renderImageGrid } from './images';
export type { GridOptions } from './images';
