// train(): the training run on a worker thread, so the caller's event loop stays free. The
// handle gives the result as a Promise, the events as an async iterator or callbacks, and stops
// the run at the next step boundary when the AbortSignal fires.
import { Worker } from 'node:worker_threads';
import { workerFile } from '../worker-file';
import { TrainingError, type TrainEvent, type TrainOptions, type TrainResult } from './loop';

export interface TrainApiOptions extends TrainOptions {
  /** Stops the run at the next step boundary (the last checkpoint is kept); result rejects. */
  signal?: AbortSignal;
  /** The tutorial's log lines (default: not printed). */
  onLine?: (line: string) => void;
  onEvent?: (event: TrainEvent) => void;
}

export interface TrainHandle extends AsyncIterable<TrainEvent> {
  /** Resolves when the run ends; rejects with its error (or on cancellation). */
  readonly result: Promise<TrainResult>;
  /** Stops the run at the next step boundary. */
  cancel(): void;
}

export function train(options: TrainApiOptions = {}): TrainHandle {
  const { signal, onLine, onEvent, ...config } = options;
  const stopFlag = new SharedArrayBuffer(4);
  const worker = new Worker(workerFile('train/train-worker.js'), { workerData: { config, stopFlag } });
  const queue: TrainEvent[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  const cancel = () => Atomics.store(new Int32Array(stopFlag), 0, 1);
  if (signal) {
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
  }
  const result = new Promise<TrainResult>((resolve, reject) => {
    // A callback that throws ends the run with its error (instead of the process).
    const call = (fn: (() => void) | undefined) => {
      try {
        fn?.();
      } catch (err) {
        cancel();
        reject(err);
        void worker.terminate();
      }
    };
    worker.on('message', (m) => {
      if (m.kind === 'line') call(onLine && (() => onLine(m.line)));
      else if (m.kind === 'event') {
        call(onEvent && (() => onEvent(m.event)));
        queue.push(m.event);
        wake?.();
      } else if (m.kind === 'result') resolve(m.result);
      else if (m.kind === 'error') {
        const err = m.name === 'TrainingError' ? new TrainingError(m.message) : new Error(m.message);
        err.stack = m.stack;
        reject(err);
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      finished = true;
      wake?.();
      signal?.removeEventListener('abort', cancel);
      reject(new Error(`the training thread exited (code ${code}) without a result`));
    });
  }).finally(() => worker.terminate());
  result.catch(() => {}); // handled by whoever awaits it; keeps an unobserved failure quiet

  return {
    result,
    cancel,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (finished) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
  };
}
