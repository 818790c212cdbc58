export { CIFAR10_CLASSES, DatasetError, loadCifar10, readRecordFiles, parseRecords, resolveCifarFolder, TRAIN_FILES, TEST_FILES } from './cifar10';
export type { ImageDataset, Split } from './cifar10';
export { syntheticDataset, syntheticRecords, writeSyntheticCifar, SYNTHETIC_CLASSES } from './synthetic';
export { DataLoader } from './loader';
export type { Batch, DataLoaderOptions } from './loader';
export { SeededRandom } from './random';
export * as transforms from './transforms';
export { CIFAR10_MEAN, CIFAR10_STD, trainTransforms, testTransforms } from './transforms';
export type { BatchTransform, PipelineOptions } from './transforms';
