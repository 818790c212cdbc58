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
