// Classifier: inference for services. The model lives on a worker thread; concurrent classify()
// calls are batched together there; the caller's event loop is never blocked by the network.
import { Worker } from 'node:worker_threads';
import { checkThreads, type Device } from '../device';
import { checkInteger } from '../errors';
import { workerFile } from '../worker-file';
import type { ImageInput } from './preprocess';

export interface Prediction {
  /** The most probable class. */
  label: string;
  index: number;
  probability: number;
  /** The topK classes, most probable first. */
  top: { label: string; index: number; probability: number }[];
}

export interface ClassifierOptions {
  /** Default: defaultDevice() in the worker. */
  device?: Device;
  /** Classes listed per image; default 3. */
  topK?: number;
  /** Most images in one forward pass; default 64. */
  maxBatch?: number;
  /** libtorch intra-op threads of the classifier's thread (no other thread is affected);
   * default: the process's. */
  threads?: number;
}

interface ClassifierInfo {
  classNames: string[];
  imageSize: number;
  arch: string;
  threads: number;
}

export class Classifier {
  readonly classNames: string[];
  readonly imageSize: number;
  readonly arch: string;
  /** Intra-op threads the classifier's thread computes with. */
  readonly threads: number;
  /** Forward passes run and images classified so far (batching shows as images > batches). */
  readonly stats = { batches: 0, images: 0 };
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (p: Prediction[]) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #closed = false;
  #dead: Error | null = null;

  private constructor(worker: Worker, info: ClassifierInfo) {
    this.#worker = worker;
    this.classNames = info.classNames;
    this.imageSize = info.imageSize;
    this.arch = info.arch;
    this.threads = info.threads;
    worker.on('message', (m) => {
      if (m.kind !== 'answer') return;
      const pending = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error) return pending?.reject(new Error(m.error));
      this.stats.batches = Math.max(this.stats.batches, m.batch);
      this.stats.images += m.predictions.length;
      pending?.resolve(m.predictions);
    });
    // A dead thread fails every pending call and every later one (never a call left waiting).
    worker.on('error', (err) => this.#die(err));
    worker.on('exit', (code) => this.#die(new Error(this.#closed ? 'the classifier was closed' : `the classifier's thread exited (code ${code})`)));
  }

  /** Loads a checkpoint written by train() (or `resnet-native train`) on a worker thread. */
  static async load(checkpoint: string, options: ClassifierOptions = {}): Promise<Classifier> {
    const threads = options.threads === undefined ? undefined : checkThreads('threads', options.threads);
    const topK = checkInteger('topK', options.topK ?? 3, 1);
    const maxBatch = checkInteger('maxBatch', options.maxBatch ?? 64, 1);
    const worker = new Worker(workerFile('inference/classifier-worker.js'), {
      workerData: { checkpoint, device: options.device, topK, maxBatch, threads },
    });
    const info = await new Promise<ClassifierInfo>((resolve, reject) => {
      worker.once('message', (m) => (m.kind === 'ready' ? resolve(m) : reject(new Error(m.message))));
      worker.once('error', reject);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    return new Classifier(worker, info);
  }

  /** Classifies encoded images (any format sharp reads) or raw RGB(A) pixels. */
  classify(images: ImageInput[]): Promise<Prediction[]>;
  classify(image: ImageInput): Promise<Prediction>;
  async classify(input: ImageInput | ImageInput[]): Promise<Prediction | Prediction[]> {
    if (this.#closed) throw new Error('classify() after close()');
    if (this.#dead) throw new Error(`the classifier cannot answer: ${this.#dead.message}`);
    const images = Array.isArray(input) ? input : [input];
    if (images.length === 0) return [];
    const id = this.#nextId++;
    const answer = new Promise<Prediction[]>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage({ id, images });
    const predictions = await answer;
    return Array.isArray(input) ? predictions : predictions[0];
  }

  /** Frees the model and its thread; pending calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#worker.terminate();
  }

  #die(err: Error): void {
    this.#dead ??= err;
    this.#failAll(err);
  }

  #failAll(err: Error): void {
    for (const { reject } of this.#pending.values()) reject(err);
    this.#pending.clear();
  }
}
