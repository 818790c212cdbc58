// Batches for training and evaluation: seeded shuffling (same seed and epoch, same batches and
// same augmentation), last partial batch kept unless dropLast, optional device residency (the
// whole uint8 set moved once, augmented where it lives).
import { checkDevice, type Device } from '../device';
import { checkBoolean, checkInteger } from '../errors';
import { native } from '../native';
import { workerFile } from '../worker-file';
import { WorkerThread } from '../worker-thread';
import { Tensor, tensor, tidy } from '../tensor';
import type { ImageDataset } from './cifar10';
import { SeededRandom } from './random';
import { RandomSampler, SequentialSampler, type Sampler } from './sampler';
import type { PrefetchWorkerData } from './prefetch-worker';
import type { BatchTransform, SpecifiedTransform } from './transforms';

export interface DataLoaderOptions {
  /** Default 256 (the tutorial's). */
  batchSize?: number;
  /** Default true. Not with `sampler` (which decides the order). */
  shuffle?: boolean;
  /** Keys the order (without a sampler) and the augmentation; default 0. */
  seed?: number;
  /** Which positions each epoch visits, in which order (e.g. a DistributedSampler); default a
   * RandomSampler(size, seed), or a SequentialSampler with shuffle false. */
  sampler?: Sampler;
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
  readonly sampler: Sampler;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly device: Device;
  readonly #transform: BatchTransform | undefined;
  readonly #images: Tensor;
  readonly #labels: Tensor;

  constructor(dataset: ImageDataset, options: DataLoaderOptions = {}) {
    this.dataset = dataset;
    this.batchSize = checkInteger('batchSize', options.batchSize ?? 256, 1);
    if (options.sampler !== undefined && options.shuffle !== undefined) {
      throw new TypeError('DataLoader: shuffle and sampler are alternatives (the sampler decides the order): pass one');
    }
    this.shuffle = options.sampler ? !(options.sampler instanceof SequentialSampler) : checkBoolean('shuffle', options.shuffle ?? true);
    this.seed = checkInteger('seed', options.seed ?? 0, 0);
    if (options.sampler !== undefined && typeof (options.sampler as Partial<Sampler>)?.indices !== 'function') {
      throw new TypeError('DataLoader: sampler must have indices(epoch) and size (a RandomSampler, SequentialSampler or DistributedSampler)');
    }
    this.sampler = options.sampler ?? (this.shuffle ? new RandomSampler(dataset.size, this.seed) : new SequentialSampler(dataset.size));
    this.dropLast = checkBoolean('dropLast', options.dropLast ?? false);
    this.device = checkDevice('device', options.device ?? 'cpu');
    this.#transform = options.transform;
    const resident = this.device !== 'cpu';
    this.#images = resident ? dataset.images.to(this.device) : dataset.images;
    this.#labels = resident ? dataset.labels.to(this.device) : dataset.labels;
  }

  /**
   * Frees the loader's own copies of the dataset (made when `device` is not the CPU) now; the
   * dataset itself is the caller's. `using loader = new DataLoader(...)` calls this at the end of
   * the block. Idempotent.
   */
  dispose(): void {
    if (this.#images !== this.dataset.images) this.#images.dispose();
    if (this.#labels !== this.dataset.labels) this.#labels.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler.size / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The dataset order of `epoch`. */
  order(epoch: number): Int32Array {
    return this.sampler.indices(epoch);
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

  /** The batches of `epoch` in order from `start`; dispose each batch's tensors when done with them. */
  *epoch(epoch = 0, start = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let i = start; i < this.length; i++) yield this.batch(epoch, i, order);
  }

  #shared: { images: SharedArrayBuffer; labels: SharedArrayBuffer } | undefined;

  /**
   * The same batches as epoch(), prepared `depth` ahead on a separate thread while the caller
   * works on the current one. Needs a transform from trainTransforms() / testTransforms() and a
   * CPU loader; otherwise it yields epoch()'s batches as they are made.
   */
  async *prefetch(epoch = 0, options: { depth?: number; start?: number; threads?: number } = {}): AsyncGenerator<Batch> {
    const start = options.start ?? 0;
    const spec = (this.#transform as Partial<SpecifiedTransform> | undefined)?.spec;
    if (!spec || this.device !== 'cpu') {
      yield* this.epoch(epoch, start);
      return;
    }
    this.#shared ??= {
      images: copyToShared(native.toBytes(this.#images.handle)),
      labels: copyToShared(this.dataset.labelArray),
    };
    const workerData: PrefetchWorkerData = {
      ...this.#shared,
      shape: this.#images.shape,
      classNames: this.dataset.classNames,
      batchSize: this.batchSize,
      seed: this.seed,
      spec,
      epoch,
      // The order and the batch count come from this side's sampler (any kind, not cloneable).
      order: this.order(epoch),
      length: this.length,
      start,
      depth: options.depth ?? 2,
      threads: options.threads ?? 1,
    };
    const inbox: PrefetchedBatch[] = [];
    let waiting: ((b: PrefetchedBatch) => void) | null = null;
    const thread = new WorkerThread<PrefetchedBatch>('data prefetching thread', workerFile('data/prefetch-worker.js'), { workerData }, (m) =>
      waiting ? (waiting(m), (waiting = null)) : inbox.push(m),
    );
    try {
      for (let i = start; i < this.length; i++) {
        const m = inbox.shift() ?? (await thread.race(new Promise<PrefetchedBatch>((resolve) => (waiting = resolve))));
        const images = tensor(m.images, m.shape, { device: 'cpu' });
        const labels = tensor(m.labels, [m.labels.length], { device: 'cpu' });
        thread.post('ack');
        yield { images, labels, index: m.index, indices: m.indices };
      }
    } finally {
      await thread.close();
    }
  }
}

interface PrefetchedBatch {
  index: number;
  shape: number[];
  images: Float32Array;
  labels: BigInt64Array;
  indices: Int32Array;
}

function copyToShared(bytes: Uint8Array): SharedArrayBuffer {
  const shared = new SharedArrayBuffer(bytes.length);
  new Uint8Array(shared).set(bytes);
  return shared;
}
