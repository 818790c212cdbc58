// Classifier: inference for services. The model lives on a worker thread; concurrent classify()
// calls are batched together there; the caller's event loop is never blocked by the network.
import { workerFile } from '../worker-file';
import { deserializeError, type SerializedError } from '../worker-errors';
import { WorkerThread } from '../worker-thread';
import { CLASSIFIER_OPTIONS, type ClassifierOptions } from './options';
import type { ImageInput } from './preprocess';

export type { ClassifierOptions } from './options';

export interface Prediction {
  /** The most probable class. */
  label: string;
  index: number;
  probability: number;
  /** The topK classes, most probable first. */
  top: { label: string; index: number; probability: number }[];
}

/** What the classifier's thread posts (classifier-worker.ts). */
type WorkerMessage =
  | ({ kind: 'ready' } & ClassifierInfo)
  | { kind: 'failed'; error: SerializedError }
  | { kind: 'answer'; id: number; error?: SerializedError; predictions: Prediction[]; batch: number };

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
  readonly #thread: WorkerThread<WorkerMessage>;
  readonly #pending = new Map<number, { resolve: (p: Prediction[]) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #closed = false;

  private constructor(thread: WorkerThread<WorkerMessage>, info: ClassifierInfo) {
    this.#thread = thread;
    this.classNames = info.classNames;
    this.imageSize = info.imageSize;
    this.arch = info.arch;
    this.threads = info.threads;
    // A dead thread fails every pending call, and classify() refuses later ones: none waits.
    thread.onEnd((err) => {
      for (const { reject } of this.#pending.values()) reject(err);
      this.#pending.clear();
    });
  }

  #answer(m: WorkerMessage): void {
    if (m.kind !== 'answer') return;
    const pending = this.#pending.get(m.id);
    this.#pending.delete(m.id);
    if (m.error) return pending?.reject(deserializeError(m.error));
    this.stats.batches = Math.max(this.stats.batches, m.batch);
    this.stats.images += m.predictions.length;
    pending?.resolve(m.predictions);
  }

  /** Loads a checkpoint written by train() (or `resnet-native train`) on a worker thread. */
  static async load(checkpoint: string, options: ClassifierOptions = {}): Promise<Classifier> {
    const { device, topK, maxBatch, threads } = CLASSIFIER_OPTIONS.resolve(options);
    let ready: (m: WorkerMessage) => void = () => {};
    let classifier: Classifier | null = null;
    const thread = new WorkerThread<WorkerMessage>(
      'classifier thread',
      workerFile('inference/classifier-worker.js'),
      { workerData: { checkpoint, device, topK, maxBatch, threads } },
      (m) => (classifier ? classifier.#answer(m) : ready(m)),
    );
    try {
      const info = await thread.race(new Promise<ClassifierInfo>((resolve, reject) => (ready = (m) => (m.kind === 'ready' ? resolve(m) : reject(m.kind === 'failed' ? deserializeError(m.error) : new Error(`unexpected message ${m.kind}`))))));
      classifier = new Classifier(thread, info);
      return classifier;
    } catch (err) {
      await thread.close();
      throw err;
    }
  }

  /** Classifies encoded images (any format sharp reads) or raw RGB(A) pixels. */
  classify(images: ImageInput[]): Promise<Prediction[]>;
  classify(image: ImageInput): Promise<Prediction>;
  async classify(input: ImageInput | ImageInput[]): Promise<Prediction | Prediction[]> {
    if (this.#closed) throw new Error('classify() after close()');
    const ended = this.#thread.ended;
    if (ended) throw new Error(`the classifier cannot answer: ${ended.message}`);
    const images = Array.isArray(input) ? input : [input];
    if (images.length === 0) return [];
    const id = this.#nextId++;
    const answer = new Promise<Prediction[]>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#thread.post({ id, images });
    const predictions = await answer;
    return Array.isArray(input) ? predictions : predictions[0];
  }

  /** Frees the model and its thread; pending calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#thread.close();
  }
}
