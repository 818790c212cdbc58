// One served model: its thread (model-worker.ts), restarted when it dies, and the dynamic batcher
// in front of it. Concurrent requests wait in a bounded queue; a batch goes to the thread when it
// holds maxBatch images or its oldest request has waited maxQueueDelayMs, and only when the thread
// is free (so batches grow under load). Requests whose client left are dropped before they run.
import type { Device } from '../device';
import { deserializeError } from '../worker-errors';
import { workerFile } from '../worker-file';
import { WorkerThread } from '../worker-thread';
import { HttpError } from './http-error';
import { SERVED_MODEL_OPTIONS, type ServedModelConfig, type ServedModelOptions } from './options';
import type { BatchPart, ModelInfo, WorkerReply, WorkerRequest } from './model-messages';

export type { BatchingOptions, ServedModelOptions } from './options';

/** What the batcher reports, for metrics. */
export interface BatchObserver {
  batch(model: string, images: number, computeSeconds: number): void;
  queued(model: string, seconds: number): void;
  depth(model: string, requests: number): void;
}

export interface InferenceResult {
  logits: Float32Array;
  probabilities: Float32Array;
  classes: number;
}

/** Says whether the request's client has gone (an AbortSignal is one). Read only when a batch is
 * formed, so it can be a getter over the connection's state instead of an event listener. */
export interface ClientState {
  readonly aborted: boolean;
}

interface Waiting {
  parts: BatchPart[];
  count: number;
  enqueued: number;
  signal?: ClientState;
  timer: NodeJS.Timeout;
  resolve: (r: InferenceResult) => void;
  reject: (err: Error) => void;
}

/** The next batch is queued behind the running one this long before that one should end: the
 * larger of a fixed margin and a share of its expected time. */
const AHEAD_MIN_MS = 2;
const AHEAD_FRACTION = 0.2;
const RESTART_DELAY_MS = 1000;

interface Started {
  thread: WorkerThread<WorkerReply>;
  info: ModelInfo;
  route: { to: ((m: WorkerReply) => void) | null };
}

/** A batch on the model's thread: its requests, images, and when its computation began. */
interface InFlight {
  id: number;
  taken: Waiting[];
  images: number;
  started: number;
}

export class ServedModel {
  readonly name: string;
  readonly checkpoint: string;
  readonly #options: ServedModelConfig;
  readonly #observer: BatchObserver | null;
  #info: ModelInfo;
  #thread: WorkerThread<WorkerReply>;
  #ready = true;
  #closed = false;
  #queue: Waiting[] = [];
  /** Images in #queue (kept as it changes: the batcher looks at it on every request). */
  #queuedImages = 0;
  /** Batches sent to the thread, oldest first: the one it computes, and at most one waiting
   * behind it (so that the thread goes from one to the next without waiting for this loop). */
  #inFlight: InFlight[] = [];
  /** The next look at the queue: at the end of the queue delay, or when the running batch is
   * about to end. */
  #timer: NodeJS.Timeout | null = null;
  /** Moving average of a forward pass's time (ms) by batch size. */
  #computeMs = new Map<number, number>();
  #nextBatch = 0;
  /** Moving average of the time between requests (ms), and when the last one came. */
  #arrivalGapMs = Infinity;
  #lastArrival = -Infinity;
  /** Forward passes run and images answered, since start (batching shows as images > batches);
   * `queuedAhead`: batches sent while the thread was still computing the one before. */
  readonly stats = { batches: 0, images: 0, restarts: 0, queuedAhead: 0 };

  private constructor(name: string, checkpoint: string, options: ServedModelConfig, observer: BatchObserver | null, started: Started) {
    this.name = name;
    this.checkpoint = checkpoint;
    this.#options = options;
    this.#observer = observer;
    this.#thread = started.thread;
    this.#info = started.info;
    this.#watch(started);
  }

  /** Loads the checkpoint on a new thread; rejects with the checkpoint's error. */
  static async load(name: string, checkpoint: string, options: ServedModelOptions = {}, observer: BatchObserver | null = null): Promise<ServedModel> {
    // (a server's config, resolved already, is taken as it is)
    const resolved = SERVED_MODEL_OPTIONS.resolve(options);
    return new ServedModel(name, checkpoint, resolved, observer, await ServedModel.#start(checkpoint, resolved));
  }

  /** A loaded model thread; `route.to` receives its messages after the 'ready' one. */
  static async #start(checkpoint: string, o: { device?: Device; threads?: number }): Promise<Started> {
    let first: (m: WorkerReply) => void = () => {};
    const route: Started['route'] = { to: null };
    const thread = new WorkerThread<WorkerReply>(`model thread (${checkpoint})`, workerFile('serve/model-worker.js'), { workerData: { checkpoint, device: o.device, threads: o.threads } }, (m) =>
      route.to ? route.to(m) : first(m),
    );
    try {
      const info = await thread.race(
        new Promise<ModelInfo>((resolve, reject) => (first = (m) => (m.kind === 'ready' ? resolve(m.info) : reject(m.kind === 'failed' ? deserializeError(m.error) : new Error(`unexpected ${m.kind}`))))),
      );
      return { thread, info, route };
    } catch (err) {
      await thread.close();
      throw err;
    }
  }

  #watch({ thread, route }: Started): void {
    route.to = (m) => this.#answer(m);
    thread.keepsProcessAlive(false);
    thread.onEnd((err) => {
      if (this.#closed) return;
      // Nothing waits on a dead thread: in-flight and queued requests are refused at once.
      this.#ready = false;
      const why = `model '${this.name}' is restarting: its thread ended (${err.message})`;
      for (const w of [...this.#inFlight.flatMap((b) => b.taken), ...this.#queue]) this.#settle(w, new HttpError(503, why, { 'Retry-After': '1' }));
      this.#inFlight = [];
      this.#queue = [];
      this.#queuedImages = 0;
      this.#observer?.depth(this.name, 0);
      void this.#restart();
    });
  }

  async #restart(): Promise<void> {
    while (!this.#closed) {
      try {
        const started = await ServedModel.#start(this.checkpoint, this.#options);
        if (this.#closed) return void (await started.thread.close());
        this.#thread = started.thread;
        this.#info = started.info;
        this.stats.restarts += 1;
        this.#watch(started);
        this.#ready = true;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
      }
    }
  }

  get info(): ModelInfo {
    return this.#info;
  }

  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  /** Most images in one forward pass, so in one request. */
  get maxBatch(): number {
    return this.#options.maxBatch;
  }

  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Runs the images of one request (in one batch with others); the logits and probabilities of each. */
  infer(parts: BatchPart[], signal?: ClientState): Promise<InferenceResult> {
    if (this.#closed) return Promise.reject(new HttpError(503, `model '${this.name}' is shutting down`, { 'Retry-After': '1' }));
    if (!this.#ready) return Promise.reject(new HttpError(503, `model '${this.name}' is not ready (restarting)`, { 'Retry-After': '1' }));
    if (this.#queue.length >= this.#options.maxQueue) {
      return Promise.reject(new HttpError(503, `model '${this.name}' is overloaded: ${this.#queue.length} requests are waiting (maxQueue ${this.#options.maxQueue})`, { 'Retry-After': '1' }));
    }
    const count = parts.reduce((n, p) => n + p.count, 0);
    if (count > this.#options.maxBatch) {
      return Promise.reject(new HttpError(413, `${count} images in one request is more than maxBatch ${this.#options.maxBatch}: split it`));
    }
    const now = performance.now();
    const gap = now - this.#lastArrival;
    this.#arrivalGapMs = Number.isFinite(this.#arrivalGapMs) ? 0.8 * this.#arrivalGapMs + 0.2 * gap : gap;
    this.#lastArrival = now;
    return new Promise<InferenceResult>((resolve, reject) => {
      const w: Waiting = {
        parts,
        count,
        enqueued: now,
        signal,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.#queue.indexOf(w);
          if (at >= 0) {
            this.#queue.splice(at, 1);
            this.#queuedImages -= w.count;
          }
          this.#settle(w, new HttpError(503, `no answer within the request timeout (${this.#options.requestTimeoutMs} ms): the server is overloaded`, { 'Retry-After': '1' }));
        }, this.#options.requestTimeoutMs),
      };
      this.#queue.push(w);
      this.#queuedImages += count;
      this.#observer?.depth(this.name, this.#queue.length);
      this.#schedule();
    });
  }

  #settle(w: Waiting, outcome: InferenceResult | Error): void {
    clearTimeout(w.timer);
    if (outcome instanceof Error) w.reject(outcome);
    else w.resolve(outcome);
  }

  /** Sends the next batch to the thread if it is free, or queues it behind the running one when that
   * one is about to end. `previous`: the images of the batch that just ended, when this follows it
   * back to back. */
  #schedule(previous?: number): void {
    if (this.#inFlight.length >= 2 || !this.#ready || this.#queue.length === 0) return;
    const queuedImages = this.#queuedImages;
    const now = performance.now();
    if (this.#inFlight.length === 1) {
      // The thread is busy. Shortly before it is expected to finish (or once a full batch waits),
      // the next batch is queued behind the running one, so that the thread goes on without a
      // round trip through this event loop. Under steady load it is complete by then: its clients
      // were answered when the running batch started.
      const running = this.#inFlight[0];
      const expected = this.#computeMs.get(running.images);
      const sendAt = expected === undefined ? Infinity : running.started + expected - Math.max(AHEAD_MIN_MS, AHEAD_FRACTION * expected);
      if (queuedImages >= this.#options.maxBatch || now >= sendAt) {
        this.#clearTimer();
        this.#dispatch(queuedImages, running.images);
      } else if (sendAt !== Infinity) {
        this.#later(sendAt - now);
      }
      return;
    }
    const waited = now - this.#queue[0].enqueued;
    const othersLikely = this.#arrivalGapMs < this.#options.maxQueueDelayMs;
    if (queuedImages < this.#options.maxBatch && waited < this.#options.maxQueueDelayMs && othersLikely) {
      this.#later(this.#options.maxQueueDelayMs - waited);
      return;
    }
    this.#clearTimer();
    this.#dispatch(queuedImages, previous);
  }

  /** Looks at the queue again in `ms` (one pending look at a time). */
  #later(ms: number): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.#schedule();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Sends the oldest requests (at least one) to the thread, up to maxBatch images; those whose
   * client left meanwhile are answered 499 and skipped (not worth a forward pass). After a batch of
   * `previous` images, under steady load, batches are evened out: one takes at most halfway between
   * the previous batch and what waits. Otherwise closed-loop clients settle into alternating
   * batches (say 10 and 54 for 64 clients, whose answers come back while the other batch runs), and
   * on a CPU a large and a small batch take longer than two of the mean size. */
  #dispatch(queuedImages: number, previous?: number): void {
    const limit = Math.min(this.#options.maxBatch, previous === undefined ? Infinity : Math.max(previous, Math.ceil((queuedImages + previous) / 2)));
    const taken: Waiting[] = [];
    let images = 0;
    while (this.#queue.length > 0 && (taken.length === 0 || images + this.#queue[0].count <= limit)) {
      const w = this.#queue.shift()!;
      this.#queuedImages -= w.count;
      if (w.signal?.aborted) {
        this.#settle(w, new HttpError(499, 'client closed the request'));
        continue;
      }
      taken.push(w);
      images += w.count;
    }
    this.#observer?.depth(this.name, this.#queue.length);
    if (taken.length === 0) return;
    const batch: InFlight = { id: this.#nextBatch++, taken, images, started: 0 };
    this.#inFlight.push(batch);
    // one queued behind another starts when that one ends (#answer starts it then); its requests
    // are computed even if their clients leave meanwhile
    if (this.#inFlight.length === 1) this.#started(batch, performance.now());
    else this.stats.queuedAhead += 1;
    const parts = taken.flatMap((w) => w.parts);
    try {
      this.#thread.post({ kind: 'batch', id: batch.id, parts } satisfies WorkerRequest);
    } catch {
      // the thread is gone: onEnd refuses these and restarts it
    }
  }

  /** The thread begins `batch` now: its requests' time in the queue ends. */
  #started(batch: InFlight, now: number): void {
    batch.started = now;
    for (const w of batch.taken) this.#observer?.queued(this.name, (now - w.enqueued) / 1000);
  }

  #answer(m: WorkerReply): void {
    if (m.kind !== 'answer' || this.#inFlight[0]?.id !== m.id) return;
    const { taken, started, images } = this.#inFlight.shift()!;
    const now = performance.now();
    const took = now - started;
    const before = this.#computeMs.get(images);
    this.#computeMs.set(images, before === undefined ? took : 0.7 * before + 0.3 * took);
    this.#clearTimer();
    if (this.#inFlight.length > 0) this.#started(this.#inFlight[0], now);
    if (m.error) {
      const err = deserializeError(m.error);
      for (const w of taken) this.#settle(w, new HttpError(500, `inference failed: ${err.message}`));
    } else {
      const classes = m.logits.length / images;
      this.stats.batches += 1;
      this.stats.images += images;
      this.#observer?.batch(this.name, images, (now - started) / 1000);
      let row = 0;
      for (const w of taken) {
        const span = [row * classes, (row + w.count) * classes] as const;
        this.#settle(w, { logits: m.logits.slice(...span), probabilities: m.probabilities.slice(...span), classes });
        row += w.count;
      }
    }
    this.#schedule(images);
  }

  /** Test hook: makes the model's thread exit, as a crash would. */
  crashForTesting(): void {
    this.#thread.post({ kind: 'crash' } satisfies WorkerRequest);
  }

  /** Answers what is queued, then ends the thread. */
  async close(): Promise<void> {
    while ((this.#inFlight.length > 0 || this.#queue.length > 0) && this.#ready) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#closed = true;
    this.#clearTimer();
    for (const w of this.#queue) this.#settle(w, new HttpError(503, `model '${this.name}' is shutting down`));
    this.#queue = [];
    this.#queuedImages = 0;
    await this.#thread.close();
  }
}
