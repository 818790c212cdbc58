// A run's data, whatever it is: the built-in synthetic set or CIFAR-10 (in memory, the tutorial's
// transforms), or the user's own images (class folders or a manifest: indexed, checked, streamed
// from disk with the ImageNet recipe). Each gives the same parts: loaders for both splits, the
// class names of the model's outputs, the input the model expects, and what a checkpoint records
// so that every consumer prepares images the same way (data-parts.ts).
import { loadCifar10, type ImageDataset } from '../data/cifar10';
import { detectDataFormat } from '../data/data-format';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { CIFAR10_MEAN, CIFAR10_STD, testTransforms, trainTransforms } from '../data/transforms';
import type { TrainConfig } from './config';
import { leavesOneImage, type InputCard, type ResumedInput, type RunConfig, type RunData } from './data-parts';
import { TrainingError } from './errors';
import { folderData } from './folder-data';
import type { Owned } from './setup';
import type { Strategy } from './strategy';

/** The run's data: the built-in synthetic set, CIFAR-10, or the user's images, as `data` is. */
export async function setUpData(c: TrainConfig, strategy: Strategy, rankBatch: number, owned: Owned, resumed: ResumedInput): Promise<RunData> {
  const format = c.data === undefined ? null : detectDataFormat(c.data, c.dataFormat);
  if (format === null || format.format === 'cifar10') return tensorData(c, strategy, rankBatch, owned, resumed);
  return folderData(c, format, strategy, rankBatch, owned, resumed);
}

/** The synthetic set or CIFAR-10, held in memory: 10 classes at 32x32 unless told otherwise. */
function tensorData(c: TrainConfig, strategy: Strategy, rankBatch: number, owned: Owned, resumed: ResumedInput): RunData {
  const synthetic = c.data === undefined;
  const load = (split: 'train' | 'test'): ImageDataset =>
    synthetic ? syntheticDataset(split, { size: c.syntheticSize[split], seed: c.seed }) : loadCifar10(c.data!, split);
  const trainSet = owned.addDataset(load('train'));
  const testSet = owned.addDataset(load('test'));
  const config: RunConfig = { ...c, numClasses: c.numClasses ?? resumed?.numClasses ?? 10, imageSize: c.imageSize ?? resumed?.imageSize ?? 32 };
  const largestLabel = trainSet.labelArray.reduce((a, b) => Math.max(a, b), 0);
  if (largestLabel >= config.numClasses) {
    throw new TrainingError(`the training data has labels up to ${largestLabel} (${trainSet.classNames.length} classes) but numClasses is ${config.numClasses}: pass numClasses (--num-classes) ${largestLabel + 1} or more`);
  }
  // One name per output: the data's names, then 'class N' for outputs the data does not use.
  const classNames = Array.from({ length: config.numClasses }, (_, i) => trainSet.classNames[i] ?? `class ${i}`);
  const pipeline = { imageSize: config.imageSize };
  const dataDevice = c.dataOnDevice ? c.device : 'cpu';
  // Data-parallel ranks each read their own shard in batches of their share of the global batch,
  // with augmentation keyed by rank so that no two ranks draw the same crops.
  const sampler = strategy.trainSampler(trainSet.size, c.seed);
  const imagesPerEpoch = sampler?.size ?? trainSet.size;
  const dropLast = leavesOneImage(imagesPerEpoch, rankBatch);
  const trainLoader = owned.add(
    new DataLoader(trainSet, { batchSize: rankBatch, seed: strategy.augmentationSeed(c.seed), sampler, transform: trainTransforms(pipeline), device: dataDevice, dropLast }),
  );
  const testLoader = owned.add(
    new DataLoader(testSet, { batchSize: c.evalBatchSize, seed: c.seed + 1, sampler: strategy.testSampler(testSet.size), transform: testTransforms(pipeline), device: dataDevice }),
  );
  const notes = synthetic ? [`Training on the built-in SYNTHETIC dataset (${trainSet.size} train / ${testSet.size} test images): pass --data DIR for CIFAR-10 or your own images.`] : [];
  const card: InputCard = { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD], classNames };
  return { config, trainLoader, testLoader, trainSize: trainSet.size, testSize: testSet.size, imagesPerEpoch, dropLast, card, notes };
}
