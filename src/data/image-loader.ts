// Batches streamed from image files, for training and evaluation on the user's own images: the
// same order, batches and dropLast as DataLoader (a sampler's positions per epoch, cut into
// batches), but each image is read and decoded when its batch is made, on decode threads, a
// bounded number of batches ahead: memory follows the prefetch depth, not the data set's size.
// The training thread receives each batch as one buffer of normalised floats and only copies it
// into a tensor (or, with transfer 'uint8', as bytes it normalises).
import * as os from 'node:os';
import { ImageFileError } from '../error-classes';
import { checkBoolean, checkChoice, checkInteger, invalidArgument } from '../errors';
import { Tensor, fromBytes, tensor, tidy } from '../tensor';
import { workerFile } from '../worker-file';
import { WorkerThread, WorkerThreadError } from '../worker-thread';
import type { BatchSource } from './batch-source';
import type { ImageSample } from './image-folder';
import type { ImageBatchMessage, ImageControl, ImageJob, ImageWorkerData, ImageWorkerMessage } from './image-loader-protocol';
import { checkImagePipeline, type ImagePipeline } from './image-transforms';
import type { Batch } from './loader';
import { RandomSampler, SequentialSampler, type Sampler } from './sampler';

export interface ImageFileLoaderOptions {
  batchSize: number;
  /** Keys the order (without a sampler) and every image's augmentation; default 0. */
  seed?: number;
  /** Default true. Not with `sampler` (which decides the order). */
  shuffle?: boolean;
  /** Which positions each epoch visits (a DistributedSampler for a rank's shard); default a
   * RandomSampler(size, seed), or a SequentialSampler with shuffle false. */
  sampler?: Sampler;
  /** Leave out the last partial batch; default false. */
  dropLast?: boolean;
  /** What each image goes through (imagenetTrainPipeline() / imagenetEvalPipeline()). */
  pipeline: ImagePipeline;
  /** Decode threads; default one per core (at least 1). */
  workers?: number;
  /** Batches prepared ahead of the consumer, in all; default 2 per decode thread. */
  prefetchBatches?: number;
  /** 'fail' (default): an image that fails to decode ends the epoch with an ImageFileError naming
   * it; 'skip': it is left out of its batch (which is smaller) and reported to onSkipped. */
  badImages?: 'fail' | 'skip';
  /** Called (on this thread, before its batch is yielded) for each image skipped. */
  onSkipped?: (file: string, reason: string) => void;
  /** Images each thread decodes at once; default 2 (measured on 2 cores with 2 threads: 10-20%
   * more images/s than 1, while a thread's JavaScript works on one image sharp decodes the other;
   * 3 or more only add thread switches). */
  decodesPerWorker?: number;
  /** How pixels cross from the decode threads: 'float32' (default: normalised on the decode
   * thread, through a table; this thread only copies them into a tensor, 0.4 ms an image at 224)
   * or 'uint8' (a quarter of the memory; normalised here, by four tensor ops that cost this
   * thread about 2.5 ms of CPU an image at 224, measured). */
  transfer?: 'uint8' | 'float32';
}

const UV_THREADPOOL_DEFAULT = 4;

/** libvips threads per image so that images decoded at once x threads each fill the cores
 * without oversubscribing them (sharp runs on libuv's pool, UV_THREADPOOL_SIZE threads). */
function vipsThreadsFor(inFlight: number): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || UV_THREADPOOL_DEFAULT;
  return Math.max(1, Math.floor(os.availableParallelism() / Math.min(pool, inFlight)));
}

/** Every sample's file as UTF-8 in one shared buffer (threads read paths without a copy each). */
function sharedPaths(samples: readonly ImageSample[]): { paths: SharedArrayBuffer; offsets: SharedArrayBuffer } {
  const encoded = samples.map((s) => Buffer.from(s.file, 'utf8'));
  const offsets = new Float64Array(new SharedArrayBuffer(8 * (samples.length + 1)));
  encoded.forEach((b, i) => (offsets[i + 1] = offsets[i] + b.length));
  const paths = new SharedArrayBuffer(Math.max(1, offsets[samples.length]));
  const view = new Uint8Array(paths);
  encoded.forEach((b, i) => view.set(b, offsets[i]));
  return { paths, offsets: offsets.buffer as SharedArrayBuffer };
}

export class ImageFileLoader implements BatchSource {
  readonly samples: readonly ImageSample[];
  readonly dataset: { readonly size: number; readonly classNames: readonly string[] };
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly sampler: Sampler;
  readonly dropLast: boolean;
  readonly pipeline: ImagePipeline;
  readonly workers: number;
  readonly prefetchBatches: number;
  readonly badImages: 'fail' | 'skip';
  readonly decodesPerWorker: number;
  readonly transfer: 'uint8' | 'float32';
  readonly #onSkipped: ((file: string, reason: string) => void) | undefined;
  #pool: DecodePool | null = null;

  constructor(samples: readonly ImageSample[], classNames: readonly string[], options: ImageFileLoaderOptions) {
    if (!Array.isArray(samples)) throw invalidArgument('an array of { file, path, label } samples', 'samples', samples);
    if (!Array.isArray(classNames)) throw invalidArgument('an array of class names', 'classNames', classNames);
    const bad = samples.findIndex((s) => typeof s?.file !== 'string' || !Number.isInteger(s.label) || s.label < 0 || s.label >= classNames.length);
    if (bad >= 0) throw new RangeError(`ImageFileLoader: sample ${bad} (${samples[bad]?.path ?? samples[bad]?.file}) needs a file and a label from 0 to ${classNames.length - 1}, and has label ${samples[bad]?.label}`);
    this.samples = samples;
    this.dataset = { size: samples.length, classNames };
    this.batchSize = checkInteger('batchSize', options.batchSize, 1);
    if (options.sampler !== undefined && options.shuffle !== undefined) {
      throw new TypeError('ImageFileLoader: shuffle and sampler are alternatives (the sampler decides the order): pass one');
    }
    this.seed = checkInteger('seed', options.seed ?? 0, 0);
    if (options.sampler !== undefined && typeof (options.sampler as Partial<Sampler>)?.indices !== 'function') {
      throw new TypeError('ImageFileLoader: sampler must have indices(epoch) and size (a RandomSampler, SequentialSampler or DistributedSampler)');
    }
    this.shuffle = options.sampler ? !(options.sampler instanceof SequentialSampler) : checkBoolean('shuffle', options.shuffle ?? true);
    this.sampler = options.sampler ?? (this.shuffle ? new RandomSampler(samples.length, this.seed) : new SequentialSampler(samples.length));
    this.dropLast = checkBoolean('dropLast', options.dropLast ?? false);
    this.pipeline = checkImagePipeline(options.pipeline);
    this.workers = checkInteger('workers', options.workers ?? Math.max(1, os.availableParallelism()), 1, 256);
    this.prefetchBatches = checkInteger('prefetchBatches', options.prefetchBatches ?? 2 * this.workers, 1);
    this.badImages = checkChoice('badImages', options.badImages, ['fail', 'skip'], 'fail');
    this.decodesPerWorker = checkInteger('decodesPerWorker', options.decodesPerWorker ?? 2, 1, 64);
    this.transfer = checkChoice('transfer', options.transfer, ['uint8', 'float32'], 'float32');
    if (options.onSkipped !== undefined && typeof options.onSkipped !== 'function') throw invalidArgument('a function', 'onSkipped', options.onSkipped);
    this.#onSkipped = options.onSkipped;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler.size / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The positions of `epoch`, in order (the sampler's). */
  order(epoch: number): Int32Array {
    return this.sampler.indices(epoch);
  }

  /**
   * The batches of `epoch` from batch `start`, decoded on the decode threads (started on the first
   * call, kept for later epochs; they do not keep the process alive between epochs). One epoch
   * at a time per loader; leaving the loop early stops its decoding. Dispose each batch's tensors.
   */
  async *prefetch(epoch = 0, options: { start?: number } = {}): AsyncGenerator<Batch> {
    const start = checkInteger('start', options.start ?? 0, 0);
    if (!this.#pool || this.#pool.ended) {
      this.#pool?.close();
      this.#pool = new DecodePool(this.workers, this.#workerData());
    }
    const order = this.order(epoch).subarray(0, this.dropLast ? this.length * this.batchSize : undefined);
    const depth = Math.max(1, Math.round(this.prefetchBatches / this.workers));
    const pool = this.#pool;
    for await (const m of pool.run(epoch, order, start, this.length, depth)) {
      if (m.kind === 'failure') throw new ImageFileError(this.samples[m.sample].path, m.reason);
      for (const s of m.skipped) this.#onSkipped?.(this.samples[s.sample].path, s.reason);
      if (m.count === 0) {
        pool.release(m);
        continue; // every image of the batch was skipped: nothing to train on
      }
      const batch = { images: this.#images(m), labels: tensor(m.labels, [m.count]), index: m.index, indices: m.indices };
      pool.release(m); // (before the batch is used: its thread may make the next one meanwhile)
      yield batch;
    }
  }

  /** The batch's pixels as a normalised float32 [B, 3, S, S] tensor. */
  #images(m: ImageBatchMessage): Tensor {
    const shape = [m.count, 3, this.pipeline.size, this.pipeline.size];
    const elements = m.count * 3 * this.pipeline.size * this.pipeline.size;
    if (this.transfer === 'float32') return tensor(new Float32Array(m.pixels, 0, elements), shape);
    const { mean, std } = this.pipeline;
    return tidy(() => {
      const bytes = fromBytes(new Uint8Array(m.pixels, 0, elements), shape, 'uint8');
      // ToTensor + Normalize as torchvision computes them, in float32: (x / 255 - mean) / std
      return bytes.to('float32').div(255).sub(tensor(mean, [1, 3, 1, 1])).div(tensor(std, [1, 3, 1, 1]));
    });
  }

  #workerData(): ImageWorkerData {
    const labels = new Int32Array(new SharedArrayBuffer(4 * this.samples.length));
    this.samples.forEach((s, i) => (labels[i] = s.label));
    return {
      ...sharedPaths(this.samples),
      labels: labels.buffer as SharedArrayBuffer,
      pipeline: this.pipeline,
      batchSize: this.batchSize,
      seed: this.seed,
      badImages: this.badImages,
      decodes: this.decodesPerWorker,
      vipsThreads: vipsThreadsFor(this.workers * this.decodesPerWorker),
      transfer: this.transfer,
    };
  }

  /** Ends the decode threads now (an epoch being read ends with an error); idempotent. A later
   * prefetch() starts new ones. */
  dispose(): void {
    this.#pool?.close();
    this.#pool = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The decode threads of one loader and the epoch they are making: thread t makes batches
 * start + t, start + t + N, ...; the consumer takes them in order and acknowledges each to its
 * thread, which may then make one more. */
class DecodePool {
  readonly #threads: WorkerThread<ImageWorkerMessage>[];
  #jobs = 0;
  #active = false;
  #inbox = new Map<number, ImageWorkerMessage>();
  #waiting: { index: number; resolve: (m: ImageWorkerMessage) => void; reject: (err: Error) => void } | null = null;
  #closed: Error | null = null;
  /** The thread that makes batch `index` of the current job. */
  #owner: (index: number) => WorkerThread<ImageWorkerMessage> = () => this.#threads[0];

  constructor(count: number, workerData: ImageWorkerData) {
    this.#threads = Array.from({ length: count }, () => {
      const thread = new WorkerThread<ImageWorkerMessage>('image decode thread', workerFile('data/image-loader-worker.js'), { workerData }, (m) => this.#receive(m));
      thread.keepsProcessAlive(false);
      return thread;
    });
  }

  get ended(): boolean {
    return this.#closed !== null || this.#threads.some((t) => t.ended !== null);
  }

  #receive(m: ImageWorkerMessage): void {
    if (m.id !== this.#jobs) return; // from a job already stopped
    if (this.#waiting?.index === m.index) {
      this.#waiting.resolve(m);
      this.#waiting = null;
    } else this.#inbox.set(m.index, m);
  }

  /** Batch `index`, when its thread has made it (or why a thread ended first). */
  #next(index: number): Promise<ImageWorkerMessage> {
    if (this.#closed) return Promise.reject(this.#closed);
    const ready = this.#inbox.get(index);
    if (ready) {
      this.#inbox.delete(index);
      return Promise.resolve(ready);
    }
    const made = new Promise<ImageWorkerMessage>((resolve, reject) => (this.#waiting = { index, resolve, reject }));
    return this.#threads.reduce((p, t) => t.race(p), made);
  }

  async *run(epoch: number, order: Int32Array, start: number, length: number, depth: number): AsyncGenerator<ImageWorkerMessage> {
    if (this.#active) throw new Error('ImageFileLoader.prefetch: one epoch at a time per loader (finish or break out of the one under way first)');
    this.#active = true;
    const id = ++this.#jobs;
    const n = this.#threads.length;
    this.#owner = (i: number) => this.#threads[(i - start) % n];
    try {
      this.#threads.forEach((thread, t) => {
        const batches: number[] = [];
        for (let b = start + t; b < length; b += n) batches.push(b);
        thread.keepsProcessAlive(true);
        thread.post({ kind: 'epoch', id, epoch, order, batches, depth } satisfies ImageJob);
      });
      for (let index = start; index < length; index++) {
        const m = await this.#next(index);
        if (m.kind === 'failure') {
          yield m; // (the loader throws it, naming the file)
          return;
        }
        yield m;
      }
    } finally {
      this.#active = false;
      this.#waiting = null;
      this.#inbox.clear();
      for (const thread of this.#threads) {
        if (thread.ended) continue;
        thread.post({ kind: 'stop', id } satisfies ImageControl);
        thread.keepsProcessAlive(false);
      }
    }
  }

  /** Lets batch `m`'s thread make one more, refilling `m`'s pixel buffer (which is then no
   * longer readable here: call once its tensors are made). */
  release(m: ImageBatchMessage): void {
    const thread = this.#owner(m.index);
    if (m.id === this.#jobs && !thread.ended && !this.#closed) thread.post({ kind: 'ack', id: m.id, buffer: m.pixels } satisfies ImageControl, [m.pixels]);
  }

  /** Ends the threads; an epoch being read ends at its next batch, whatever was ready. */
  close(): void {
    this.#closed ??= new WorkerThreadError('the image decode thread was closed (the loader was disposed)');
    this.#inbox.clear();
    this.#waiting?.reject(this.#closed);
    this.#waiting = null;
    for (const thread of this.#threads) void thread.close();
  }
}
