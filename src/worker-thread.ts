// The one place that owns a worker thread's life: whatever ends it (an exception, process.exit,
// terminate, an out-of-memory kill of its environment), `ended` is set, every onEnd listener is
// called, and anything waiting through race() rejects: nothing that talks to a worker can hang.
// Used by DataLoader.prefetch, train() and Classifier.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { WorkerThreadError } from './error-classes';
export { WorkerThreadError };

export class WorkerThread<Message = unknown> {
  /** Threads started and not yet ended, for tests and diagnostics (leaks show up here). */
  static readonly live = new Set<WorkerThread<unknown>>();

  /** What the thread is, in messages: 'data prefetching thread', 'training thread'... */
  readonly name: string;
  readonly #worker: Worker;
  readonly #listeners = new Set<(err: Error) => void>();
  #end: Error | null = null;
  #closing = false;

  /** Starts `file` (a path from workerFile(), or code with `eval: true`); `onMessage` gets what it posts. */
  constructor(name: string, file: string, options: WorkerOptions, onMessage: (message: Message) => void) {
    this.name = name;
    this.#worker = new Worker(file, options);
    WorkerThread.live.add(this as WorkerThread<unknown>);
    this.#worker.on('message', onMessage);
    // 'error' (an uncaught exception in the thread) comes before 'exit': the first one wins.
    this.#worker.on('error', (err) => this.#finish(err));
    this.#worker.on('exit', (code) =>
      this.#finish(new WorkerThreadError(this.#closing ? `the ${name} was closed` : `the ${name} exited (code ${code}) before its work was done`)),
    );
  }

  /** The thread's V8 heap limits (what it was started with, or Node's defaults). */
  get resourceLimits(): { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number } {
    return { ...this.#worker.resourceLimits };
  }

  /** Why the thread ended; null while it runs. */
  get ended(): Error | null {
    return this.#end;
  }

  /** Calls `listener` once, when the thread ends (at once if it has); returns an unsubscribe. */
  onEnd(listener: (err: Error) => void): () => void {
    if (this.#end) {
      listener(this.#end);
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Posts to the thread; throws why it ended if it has. */
  post(message: unknown, transfer?: readonly ArrayBuffer[]): void {
    if (this.#end) throw this.#end;
    this.#worker.postMessage(message, transfer as ArrayBuffer[] | undefined);
  }

  /** `promise`, or a rejection with why the thread ended if that comes first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const off = this.onEnd(reject);
      promise.then(
        (value) => (off(), resolve(value)),
        (err) => (off(), reject(err)),
      );
    });
  }

  /** Whether the thread keeps the process alive: a thread that waits for work between jobs
   * should not (unref), one whose answer someone awaits must (ref). */
  keepsProcessAlive(on: boolean): void {
    if (on) this.#worker.ref();
    else this.#worker.unref();
  }

  /** Ends the thread (its listeners hear 'was closed'); resolves once it has exited. */
  async close(): Promise<void> {
    this.#closing = !this.#end;
    await this.#worker.terminate();
  }

  /** Ends the thread as a crash would (listeners hear that it exited): for fault tests. */
  async kill(): Promise<void> {
    await this.#worker.terminate();
  }

  #finish(err: Error): void {
    if (this.#end) return;
    this.#end = err;
    WorkerThread.live.delete(this as WorkerThread<unknown>);
    for (const listener of [...this.#listeners]) listener(err);
    this.#listeners.clear();
  }
}
