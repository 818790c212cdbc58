// Batches for training and evaluation: seeded shuffling (same seed and epoch, same batches and
// same augmentation), last partial batch kept unless dropLast, optional device residency (the
// whole uint8 set moved once, augmented where it lives).
import { checkDevice, type Device } from '../device';
import { checkBoolean, checkInteger } from '../errors';
import { workerFile } from '../worker-file';
import { WorkerThread } from '../worker-thread';
import { Tensor, tensor, tidy } from '../tensor';
import type { ImageDataset } from './cifar10';
import { SeededRandom } from './random';
import { RandomSampler, SequentialSampler, type Sampler } from './sampler';
import type { PrefetchControl, PrefetchJob, PrefetchWorkerData } from './prefetch-protocol';
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
   * Frees the loader's own copies of the dataset (made when `device` is not the CPU) and ends its
   * prefetching thread now; the dataset itself is the caller's. `using loader = new DataLoader(...)` calls this at the end of
   * the block. Idempotent.
   */
  dispose(): void {
    if (this.#images !== this.dataset.images) this.#images.dispose();
    if (this.#labels !== this.dataset.labels) this.#labels.dispose();
    void this.#prefetcher?.thread.close();
    this.#prefetcher = null;
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

  #prefetcher: Prefetcher | null = null;

  /**
   * The same batches as epoch(), prepared `depth` ahead on a separate thread while the caller
   * works on the current one. The thread (with its copy of the images) is started on the first
   * call and serves every later epoch; dispose() ends it, and it does not keep the process alive
   * between epochs. One prefetch at a time per loader. Needs a transform from trainTransforms() /
   * testTransforms() and a CPU loader; otherwise it yields epoch()'s batches as they are made.
   */
  async *prefetch(epoch = 0, options: { depth?: number; start?: number; threads?: number } = {}): AsyncGenerator<Batch> {
    const start = options.start ?? 0;
    const spec = (this.#transform as Partial<SpecifiedTransform> | undefined)?.spec;
    if (!spec || this.device !== 'cpu') {
      yield* this.epoch(epoch, start);
      return;
    }
    const threads = options.threads ?? 1;
    if (!this.#prefetcher || this.#prefetcher.thread.ended || this.#prefetcher.threads !== threads) {
      void this.#prefetcher?.thread.close();
      this.#prefetcher = new Prefetcher({
        images: copyToShared(this.#images.toBytes()),
        labels: copyToShared(this.dataset.labelArray),
        shape: this.#images.shape,
        classNames: this.dataset.classNames,
        batchSize: this.batchSize,
        seed: this.seed,
        spec,
        threads,
      });
    }
    yield* this.#prefetcher.run({ epoch, order: this.order(epoch), start, length: this.length, depth: options.depth ?? 2 });
  }
}

/** The long-lived prefetching thread of one loader and the epoch it is preparing. */
class Prefetcher {
  readonly thread: WorkerThread<PrefetchedBatch>;
  readonly threads: number;
  #jobs = 0;
  #active = false;
  #inbox: PrefetchedBatch[] = [];
  #waiting: ((b: PrefetchedBatch) => void) | null = null;

  constructor(workerData: PrefetchWorkerData) {
    this.threads = workerData.threads;
    this.thread = new WorkerThread<PrefetchedBatch>('data prefetching thread', workerFile('data/prefetch-worker.js'), { workerData }, (m) => {
      if (m.id !== this.#jobs) return; // a batch of a job already stopped
      if (this.#waiting) {
        this.#waiting(m);
        this.#waiting = null;
      } else this.#inbox.push(m);
    });
    this.thread.keepsProcessAlive(false);
  }

  async *run(job: Omit<PrefetchJob, 'kind' | 'id'>): AsyncGenerator<Batch> {
    if (this.#active) throw new Error('DataLoader.prefetch: one epoch at a time per loader (finish or break out of the one under way first)');
    this.#active = true;
    const id = ++this.#jobs;
    this.#inbox = [];
    this.thread.keepsProcessAlive(true);
    try {
      this.thread.post({ kind: 'epoch', id, ...job } satisfies PrefetchJob);
      for (let i = job.start; i < job.length; i++) {
        const m = this.#inbox.shift() ?? (await this.thread.race(new Promise<PrefetchedBatch>((resolve) => (this.#waiting = resolve))));
        const images = tensor(m.images, m.shape, { device: 'cpu' });
        const labels = tensor(m.labels, [m.labels.length], { device: 'cpu' });
        this.thread.post({ kind: 'ack', id } satisfies PrefetchControl);
        yield { images, labels, index: m.index, indices: m.indices };
      }
    } finally {
      this.#active = false;
      this.#waiting = null;
      this.#inbox = [];
      if (!this.thread.ended) {
        this.thread.post({ kind: 'stop', id } satisfies PrefetchControl);
        this.thread.keepsProcessAlive(false);
      }
    }
  }
}

interface PrefetchedBatch {
  /** The job (epoch) it belongs to. */
  id: number;
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
