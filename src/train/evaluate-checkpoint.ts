// `eval`: a checkpoint's accuracy on its evaluation split: CIFAR-10's test set or the synthetic
// set's, or (a model trained on your own images) the validation split it was trained with, drawn
// again from its record (same classes, same files, same split) and prepared as it was evaluated.
import type { Device } from '../device';
import type { BatchSource } from '../data/batch-source';
import { loadCifar10 } from '../data/cifar10';
import { detectDataFormat } from '../data/data-format';
import { ImageFileLoader } from '../data/image-loader';
import { indexImages } from '../data/image-index';
import { imagenetEvalPipeline } from '../data/image-transforms';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { testTransforms } from '../data/transforms';
import { modelFromCheckpoint, type CheckpointMeta } from './checkpoint';
import { evaluate, type EvaluationResult } from './evaluate';

export interface EvaluateCheckpointOptions {
  /** CIFAR-10 folder, or your images (default: where the checkpoint's images were); the synthetic set without either. */
  data?: string;
  batchSize?: number;
  device?: Device;
}

export async function evaluateCheckpoint(file: string, options: EvaluateCheckpointOptions = {}): Promise<EvaluationResult & { classNames: string[]; synthetic: boolean }> {
  const { model, meta } = modelFromCheckpoint(file, options.device);
  const loader = meta.data ? await folderLoader(meta, options) : tensorLoader(meta, options);
  try {
    const result = await evaluate(model, loader);
    return { ...result, classNames: [...loader.dataset.classNames], synthetic: meta.data === undefined && options.data === undefined };
  } finally {
    loader.dispose();
    model.dispose();
  }
}

function tensorLoader(meta: CheckpointMeta, options: EvaluateCheckpointOptions): BatchSource {
  const dataset = options.data === undefined ? syntheticDataset('test', { seed: (meta.config.seed as number) ?? 0 }) : loadCifar10(options.data, 'test');
  return new DataLoader(dataset, { batchSize: options.batchSize ?? 256, shuffle: false, transform: testTransforms({ imageSize: meta.imageSize, mean: meta.mean, std: meta.std }) });
}

/** The validation split the model was trained with (or test/ where the layout had no val/). */
async function folderLoader(meta: CheckpointMeta, options: EvaluateCheckpointOptions): Promise<BatchSource> {
  const record = meta.data!;
  const detected = detectDataFormat(options.data ?? record.source, record.format as Parameters<typeof detectDataFormat>[1]);
  const index = await indexImages(detected.path, { format: detected.format, classes: meta.classNames, split: record.split, badImages: record.skippedCount > 0 ? 'skip' : 'fail' });
  const samples = index.val.length > 0 ? index.val : index.test;
  const pipeline = imagenetEvalPipeline(meta.imageSize, { resizeSize: meta.evalTransform?.resizeSize, mean: meta.mean, std: meta.std });
  return new ImageFileLoader(samples, index.classes, { batchSize: options.batchSize ?? 256, shuffle: false, pipeline });
}
