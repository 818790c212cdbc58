// train(): the training run on a worker thread, so the caller's event loop stays free. The
// handle gives the result as a Promise, the events as an async iterator or callbacks, and stops
// the run at the next step boundary when the AbortSignal fires.
import { workerFile } from '../worker-file';
import { deserializeError, type SerializedError } from '../worker-errors';
import { WorkerThread } from '../worker-thread';
import type { TrainEvent } from './events';
import { checkTrainOptions, type TrainConfig, type TrainOptions, type TrainResult } from './loop';

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

/** What the training thread posts (train-worker.ts). */
type WorkerMessage =
  | { kind: 'line'; line: string }
  | { kind: 'event'; event: TrainEvent }
  | { kind: 'result'; result: TrainResult }
  | { kind: 'error'; error: SerializedError };

export function train(options: TrainApiOptions = {}): TrainHandle {
  const { signal, onLine, onEvent, ...given } = options;
  let config: TrainConfig;
  try {
    config = checkTrainOptions(given); // bad options reject the result without starting a thread
  } catch (err) {
    const result = Promise.reject(err);
    result.catch(() => {});
    return { result, cancel: () => {}, async *[Symbol.asyncIterator]() {} };
  }
  return startTraining(config, { signal, onLine, onEvent });
}

/** train() for options already checked (checkTrainOptions' output, as the CLI has them): each
 * option is checked once per run, not again on the training thread. */
export function startTraining(config: TrainConfig, hooks: Pick<TrainApiOptions, 'signal' | 'onLine' | 'onEvent'> = {}): TrainHandle {
  const { signal, onLine, onEvent } = hooks;
  const stopFlag = new SharedArrayBuffer(4);
  const queue: TrainEvent[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  const cancel = () => Atomics.store(new Int32Array(stopFlag), 0, 1);
  if (signal) {
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
  }
  let settle: { resolve: (r: TrainResult) => void; reject: (err: unknown) => void };
  const result = new Promise<TrainResult>((resolve, reject) => (settle = { resolve, reject }));
  // A callback that throws ends the run with its error (instead of the process).
  const call = (fn: (() => void) | undefined) => {
    try {
      fn?.();
    } catch (err) {
      cancel();
      settle.reject(err);
      void thread.close();
    }
  };
  const thread = new WorkerThread<WorkerMessage>('training thread', workerFile('train/train-worker.js'), { workerData: { config, stopFlag } }, (m) => {
    if (m.kind === 'line') call(onLine && (() => onLine(m.line)));
    else if (m.kind === 'event') {
      call(onEvent && (() => onEvent(m.event)));
      queue.push(m.event);
      wake?.();
    } else if (m.kind === 'result') settle.resolve(m.result);
    else settle.reject(deserializeError(m.error));
  });
  // However the thread ends, the run has ended: the result settles (a no-op if it has) and the
  // event iterator finishes.
  thread.onEnd((err) => {
    finished = true;
    wake?.();
    signal?.removeEventListener('abort', cancel);
    settle.reject(err);
  });
  void result.finally(() => thread.close()).catch(() => {});
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
