// show-data: the first images of a training batch with their class names, as the tutorial's
// figure, de-normalised (std * x + mean) for display.
import * as fs from 'node:fs';
import { noGrad } from '../autograd';
import { writeFileAtomic } from '../io/atomic';
import { renderImageGrid } from '../io/images';
import { tensor } from '../tensor';
import { sampleBatch } from './sample-batch';

export interface ShowDataOptions {
  /** Your images (class folders, a manifest) or CIFAR-10's folder; default: the built-in synthetic set. */
  data?: string;
  /** Output PNG; default 'samples.png'. */
  out?: string;
  /** How many images; default 6. */
  count?: number;
  /** Loader seed; default 0. */
  seed?: number;
}

export interface ShowDataResult {
  out: string;
  labels: string[];
  /** The shapes the tutorial prints: images [256, 3, 32, 32], labels [256]. */
  imageShape: number[];
  labelShape: number[];
  synthetic: boolean;
}

/** The first `count` images of a training batch (augmented as training sees them), titled. */
export async function sampleGrid(
  options: { data?: string; count?: number; seed?: number; imageSize?: number } = {},
): Promise<{ png: Buffer; labels: string[]; imageShape: number[]; labelShape: number[] }> {
  const batch = await sampleBatch({ data: options.data, kind: 'train', shuffleSeed: options.seed ?? 0, imageSize: options.imageSize });
  try {
    const count = Math.min(options.count ?? 6, batch.images.shape[0]);
    const shown = noGrad(() => {
      const std = tensor(batch.std, [1, 3, 1, 1], { device: batch.images.device });
      const mean = tensor(batch.mean, [1, 3, 1, 1], { device: batch.images.device });
      return batch.images.narrow(0, 0, count).mul(std).add(mean).to('cpu');
    });
    const labelIds = Array.from(batch.labels.toArray() as BigInt64Array, Number).slice(0, count);
    const labels = labelIds.map((l) => batch.classNames[l]);
    const png = await renderImageGrid(shown, labels);
    shown.dispose();
    return { png, labels, imageShape: batch.images.shape, labelShape: batch.labels.shape };
  } finally {
    batch.images.dispose();
    batch.labels.dispose();
  }
}

export async function showData(options: ShowDataOptions = {}): Promise<ShowDataResult> {
  const { png, labels, imageShape, labelShape } = await sampleGrid(options);
  const out = options.out ?? 'samples.png';
  writeFileAtomic(out, [png]);
  return { out: fs.realpathSync(out), labels, imageShape, labelShape, synthetic: !options.data };
}
