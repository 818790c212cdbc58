// One batch of a data set, prepared as training or evaluation prepares it, for figures (show-data,
// visualize, TensorBoard's images): from CIFAR-10 or the synthetic set in memory, or from your
// own images (indexed with a checkpoint's classes and split when given, streamed like training).
import { loadCifar10 } from './cifar10';
import { detectDataFormat } from './data-format';
import { ImageFileLoader } from './image-loader';
import { indexImages } from './image-index';
import { IMAGENET_MEAN, IMAGENET_STD, imagenetEvalPipeline, imagenetTrainPipeline } from './image-transforms';
import { DataLoader } from './loader';
import type { SplitDescription } from './split';
import { syntheticDataset } from './synthetic';
import { CIFAR10_MEAN, CIFAR10_STD, testTransforms, trainTransforms } from './transforms';
import type { Tensor } from '../tensor';

export interface SampleSource {
  /** CIFAR-10's folder or your images; default the synthetic set. */
  data?: string;
  /** 'train': augmented as training sees it; 'eval': the evaluation's (test or validation split). */
  kind: 'train' | 'eval';
  /** The synthetic set's seed. */
  seed?: number;
  /** The order's seed. */
  shuffleSeed?: number;
  /** The model's input (defaults: CIFAR-10's 32 / your images' 224, their mean and std). */
  imageSize?: number;
  mean?: number[];
  std?: number[];
  /** A checkpoint's record (own images): its classes, split and evaluation resize. */
  classes?: readonly string[];
  split?: SplitDescription;
  resizeSize?: number;
}

export interface SampleBatch {
  /** Normalised float32 [B, 3, S, S] and int64 [B]: the caller's to dispose. */
  images: Tensor;
  labels: Tensor;
  classNames: readonly string[];
  mean: number[];
  std: number[];
}

export async function sampleBatch(source: SampleSource): Promise<SampleBatch> {
  const detected = source.data === undefined ? null : detectDataFormat(source.data);
  if (detected === null || detected.format === 'cifar10') return memoryBatch(source);
  const index = await indexImages(detected.path, { format: detected.format, classes: source.classes, split: source.split, badImages: 'skip' });
  const samples = source.kind === 'train' ? index.train : index.val.length > 0 ? index.val : index.test;
  const size = source.imageSize ?? 224;
  const [mean, std] = [source.mean ?? [...IMAGENET_MEAN], source.std ?? [...IMAGENET_STD]];
  const pipeline = source.kind === 'train' ? imagenetTrainPipeline(size, { mean, std }) : imagenetEvalPipeline(size, { resizeSize: source.resizeSize, mean, std });
  const loader = new ImageFileLoader(samples, index.classes, { batchSize: Math.min(16, samples.length), seed: source.shuffleSeed ?? 0, pipeline, workers: 1, badImages: 'skip' });
  try {
    for await (const batch of loader.prefetch(0)) return { images: batch.images, labels: batch.labels, classNames: index.classes, mean, std };
    throw new Error(`${detected.path}: no ${source.kind === 'train' ? 'training' : 'evaluation'} images`);
  } finally {
    loader.dispose();
  }
}

function memoryBatch(source: SampleSource): SampleBatch {
  const split = source.kind === 'train' ? 'train' : 'test';
  const dataset = source.data !== undefined ? loadCifar10(source.data, split) : syntheticDataset(split, { size: source.kind === 'train' ? 1024 : 512, seed: source.seed ?? 0 });
  const [mean, std] = [source.mean ?? [...CIFAR10_MEAN], source.std ?? [...CIFAR10_STD]];
  const transform = source.kind === 'train' ? trainTransforms() : testTransforms({ imageSize: source.imageSize, mean, std });
  const loader = new DataLoader(dataset, { batchSize: 256, seed: source.shuffleSeed ?? 0, transform });
  const batch = loader.batch(0, 0);
  return { images: batch.images, labels: batch.labels, classNames: dataset.classNames, mean, std };
}
