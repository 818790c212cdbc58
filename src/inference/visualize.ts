// visualize: the tutorial's prediction figure. The first test batch goes through the model in
// inference mode; 6 images in a 2x3 grid titled predict:<class>, blue when right, red when wrong,
// de-normalised (std * x + mean, clipped) for display.
import { inferenceMode } from '../autograd';
import { sampleBatch } from '../data/sample-batch';
import { writeFileAtomic } from '../io/atomic';
import { renderImageGrid } from '../io/images';
import { dispose, tensor, tidy } from '../tensor';
import type { Module } from '../nn/module';
import { modelFromCheckpoint, type CheckpointMeta } from '../train/checkpoint';
import { VISUALIZE_OPTIONS, type VisualizeOptions } from './options';

export type { VisualizeOptions } from './options';

export interface VisualizeResult {
  out: string;
  synthetic: boolean;
  items: { predicted: string; actual: string; correct: boolean }[];
}

/** What a figure needs of a model's checkpoint (or of a run in progress). */
export type FigureMeta = Pick<CheckpointMeta, 'imageSize' | 'mean' | 'std' | 'evalTransform' | 'data'> & { classNames: readonly string[] };

export interface PredictionFigure {
  png: Buffer;
  items: { predicted: string; actual: string; correct: boolean }[];
}

/** The figure for a model in memory (left in the mode it was in): the first images of its
 * evaluation split (CIFAR-10 at `data`, the synthetic set of `seed`, or your images: `data`, or
 * where the checkpoint's images were, with its classes and split) with what the model predicts. */
export async function predictionFigure(model: Module, meta: FigureMeta, options: { data?: string; seed?: number; shuffleSeed?: number } = {}): Promise<PredictionFigure> {
  const batch = await sampleBatch({
    data: options.data ?? meta.data?.source,
    kind: 'eval',
    seed: options.seed,
    shuffleSeed: options.shuffleSeed,
    imageSize: meta.imageSize,
    mean: meta.mean,
    std: meta.std,
    ...(meta.data ? { classes: meta.classNames, split: meta.data.split, resizeSize: meta.evalTransform?.resizeSize } : {}),
  });
  const dataset = { classNames: batch.classNames };
  const count = Math.min(6, batch.images.shape[0]);
  const device = model.parameters()[0]?.device ?? 'cpu';
  const wasTraining = model.training;
  model.eval();
  try {
    const [predicted, shown] = inferenceMode(() =>
      tidy(() => {
        const images = batch.images.narrow(0, 0, count).to(device);
        const classes = Array.from(model.forward(images).argmax(1).toArray() as BigInt64Array, Number);
        const std = tensor(meta.std, [1, 3, 1, 1], { device: 'cpu' });
        const mean = tensor(meta.mean, [1, 3, 1, 1], { device: 'cpu' });
        return [classes, images.to('cpu').mul(std).add(mean)] as const;
      }),
    );
    const actual = Array.from(batch.labels.toArray() as BigInt64Array, Number).slice(0, count);
    const items = predicted.map((p, i) => ({ predicted: meta.classNames[p], actual: dataset.classNames[actual[i]], correct: p === actual[i] }));
    const png = await renderImageGrid(
      shown,
      items.map((it) => `predict:${it.predicted}`),
      { columns: 3, colors: items.map((it) => (it.correct ? 'blue' : 'red')) },
    );
    shown.dispose();
    return { png, items };
  } finally {
    model.train(wasTraining);
    dispose([batch.images, batch.labels]);
  }
}

export async function visualizePredictions(checkpoint: string, options: VisualizeOptions = {}): Promise<VisualizeResult> {
  const o = VISUALIZE_OPTIONS.resolve(options);
  const { model, meta } = modelFromCheckpoint(checkpoint, o.device);
  try {
    const synthetic = o.data === undefined && meta.data === undefined;
    const { png, items } = await predictionFigure(model, meta, { data: o.data, seed: (meta.config.seed as number) ?? 0, shuffleSeed: o.seed });
    writeFileAtomic(o.out, [png]);
    return { out: o.out, synthetic, items };
  } finally {
    model.dispose();
  }
}
