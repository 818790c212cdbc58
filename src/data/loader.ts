// Batches for training and evaluation: seeded shuffling (same seed and epoch, same batches and
// same augmentation), last partial batch kept unless dropLast, optional device residency (the
// whole uint8 set moved once, augmented where it lives).
import { checkDevice, type Device } from '../device';
import { checkBoolean, checkInteger } from '../errors';
import { Tensor, tensor, tidy } from '../tensor';
import type { ImageDataset } from './cifar10';
import { SeededRandom } from './random';
import type { BatchTransform } from './transforms';

export interface DataLoaderOptions {
  /** Default 256 (the tutorial's). */
  batchSize?: number;
  /** Default true. */
  shuffle?: boolean;
  /** Default 0. */
  seed?: number;
  /** Drop the last partial batch; default false (the tutorial keeps it). */
  dropLast?: boolean;
  /** Applied to each uint8 batch; default: none (uint8 images come out). */
  transform?: BatchTransform;
  /** Where batches are made: the uint8 set is copied there once. Default 'cpu'. */
  device?: Device;
}

export interface Batch {
  /** The transformed images (float32 [B, 3, H, W] with the tutorial's transforms). */
  images: Tensor;
  /** int64 [B] */
  labels: Tensor;
  /** Position of the batch in its epoch, from 0. */
  index: number;
  /** Dataset positions of the images. */
  indices: Int32Array;
}

export class DataLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly device: Device;
  readonly #transform: BatchTransform | undefined;
  readonly #images: Tensor;
  readonly #labels: Tensor;

  constructor(dataset: ImageDataset, options: DataLoaderOptions = {}) {
    this.dataset = dataset;
    this.batchSize = checkInteger('batchSize', options.batchSize ?? 256, 1);
    this.shuffle = checkBoolean('shuffle', options.shuffle ?? true);
    this.seed = checkInteger('seed', options.seed ?? 0, 0);
    this.dropLast = checkBoolean('dropLast', options.dropLast ?? false);
    this.device = checkDevice('device', options.device ?? 'cpu');
    this.#transform = options.transform;
    const resident = this.device !== 'cpu';
    this.#images = resident ? dataset.images.to(this.device) : dataset.images;
    this.#labels = resident ? dataset.labels.to(this.device) : dataset.labels;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.size / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The dataset order of `epoch`. */
  order(epoch: number): Int32Array {
    if (!this.shuffle) return Int32Array.from({ length: this.dataset.size }, (_, i) => i);
    return new SeededRandom(this.seed, epoch).permutation(this.dataset.size);
  }

  /** Batch `index` of `epoch`: the same for the same seed, epoch and index, in any order of calls. */
  batch(epoch: number, index: number, order = this.order(epoch)): Batch {
    const start = index * this.batchSize;
    const indices = order.subarray(start, Math.min(start + this.batchSize, order.length));
    return tidy(() => {
      const idx = tensor(indices, [indices.length], { device: this.device }).to('int64');
      const raw = this.#images.indexSelect(0, idx);
      const labels = this.#labels.indexSelect(0, idx);
      // A generator of its own per batch, so augmentation does not depend on what came before.
      const rng = new SeededRandom(this.seed, 0x10000 + epoch * 0x10000 + index);
      const images = this.#transform ? this.#transform(raw, rng) : raw;
      return { images, labels, index, indices: Int32Array.from(indices) };
    });
  }

  /** The batches of `epoch` in order; dispose each batch's tensors when done with them. */
  *epoch(epoch = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let i = 0; i < this.length; i++) yield this.batch(epoch, i, order);
  }
}
