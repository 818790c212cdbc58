export { CIFAR10_CLASSES, DatasetError, loadCifar10, readRecordFiles, parseRecords, resolveCifarFolder, TRAIN_FILES, TEST_FILES } from './cifar10';
export type { ImageDataset, Split } from './cifar10';
export { syntheticDataset, syntheticRecords, writeSyntheticCifar, SYNTHETIC_CLASSES } from './synthetic';
export { DataLoader } from './loader';
export type { Batch, DataLoaderOptions } from './loader';
export { SeededRandom } from './random';
export { RandomSampler, SequentialSampler, DistributedSampler } from './sampler';
export type { Sampler, DistributedSamplerOptions } from './sampler';
export * as transforms from './transforms';
export { CIFAR10_MEAN, CIFAR10_STD, trainTransforms, testTransforms } from './transforms';
export type { BatchTransform, PipelineOptions } from './transforms';
export { downloadCifar10, isCompleteCifarFolder, CIFAR10_URL, CIFAR10_MD5 } from './download';
export type { DownloadOptions, DownloadResult } from './download';
export { showData } from './show';
export type { ShowDataOptions, ShowDataResult } from './show';

import { CIFAR10_CLASSES as CLASSES, loadCifar10 as load } from './cifar10';
import { downloadCifar10 as download } from './download';
/** CIFAR-10 in one place: Cifar10.load(dir, split), Cifar10.download({ dir }), Cifar10.classes. */
export const Cifar10 = { load, download, classes: CLASSES } as const;
export { indexImages, badImagesError } from './image-index';
export type { ImageIndex, ImageIndexOptions } from './image-index';
export { detectDataFormat, DATA_FORMATS } from './data-format';
export type { DataFormat, DetectedData } from './data-format';
export { listImageFolder, findClasses, hasImageExtension, IMG_EXTENSIONS } from './image-folder';
export type { ImageSample, FolderListing } from './image-folder';
export { readManifest } from './manifest';
export type { ManifestListing, SplitName } from './manifest';
export { checkImageFile, checkImageFiles, imageDecodeError } from './image-check';
export type { BadFile, ImageCheckOptions, ImageHeader } from './image-check';
export { stratifiedSplit, validationCount, fileListHash, checkSameFiles } from './split';
export type { SplitDescription } from './split';
export { compareCodePoints } from './code-points';
export { ImageFileError, BadImagesError } from '../error-classes';
export { ImageFileLoader } from './image-loader';
export type { ImageFileLoaderOptions } from './image-loader';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  imagenetTrainPipeline,
  imagenetEvalPipeline,
  checkImagePipeline,
  randomResizedCropBox,
  resizedSize,
  centerCropBox,
  augmentationRandom,
} from './image-transforms';
export type { ImagePipeline, TrainImagePipeline, EvalImagePipeline, NormalizeOptions, CropBox } from './image-transforms';
export { decodeForEval, decodeRgb } from './image-decode';
