// visualize: the tutorial's prediction figure. The first test batch goes through the model in
// inference mode; 6 images in a 2x3 grid titled predict:<class>, blue when right, red when wrong,
// de-normalised (std * x + mean, clipped) for display.
import { inferenceMode } from '../autograd';
import type { Device } from '../device';
import { loadCifar10 } from '../data/cifar10';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { testTransforms } from '../data/transforms';
import { writeFileAtomic } from '../io/atomic';
import { renderImageGrid } from '../io/images';
import { dispose, tensor, tidy } from '../tensor';
import { modelFromCheckpoint } from '../train/checkpoint';

export interface VisualizeOptions {
  data?: string;
  /** Default 'predictions.png'. */
  out?: string;
  /** Shuffle seed of the test split; default 0. */
  seed?: number;
  device?: Device;
}

export interface VisualizeResult {
  out: string;
  synthetic: boolean;
  items: { predicted: string; actual: string; correct: boolean }[];
}

export async function visualizePredictions(checkpoint: string, options: VisualizeOptions = {}): Promise<VisualizeResult> {
  const { model, meta } = modelFromCheckpoint(checkpoint, options.device);
  const synthetic = options.data === undefined;
  const dataset = synthetic ? syntheticDataset('test', { size: 512, seed: (meta.config.seed as number) ?? 0 }) : loadCifar10(options.data!, 'test');
  const loader = new DataLoader(dataset, {
    batchSize: 256,
    seed: options.seed ?? 0,
    transform: testTransforms({ imageSize: meta.imageSize, mean: meta.mean, std: meta.std }),
  });
  const batch = loader.batch(0, 0);
  const count = Math.min(6, batch.images.shape[0]);
  const [predicted, shown] = inferenceMode(() =>
    tidy(() => {
      const images = batch.images.narrow(0, 0, count).to(model.options.device);
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
  const out = options.out ?? 'predictions.png';
  writeFileAtomic(out, [png]);
  dispose([shown, batch.images, batch.labels]);
  return { out, synthetic, items };
}
