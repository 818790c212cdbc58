// The thread train() runs in: the training loop, with its lines and events posted back. The stop
// request is a flag in shared memory, because the loop checks it between synchronous steps,
// when no message could be delivered.
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../worker-errors';
import { runCheckedTraining, type TrainConfig } from './loop';
import { TRAIN_SET } from './config';

// (checked by train() on the calling thread: not again here)
const { config, stopFlag } = workerData as { config: TrainConfig; stopFlag: SharedArrayBuffer };
const flag = new Int32Array(stopFlag);
runCheckedTraining(TRAIN_SET.fromThread(config), {
  signal: {
    get aborted() {
      return Atomics.load(flag, 0) === 1;
    },
  },
  onLine: (line) => parentPort!.postMessage({ kind: 'line', line }),
  onEvent: (event) => parentPort!.postMessage({ kind: 'event', event }),
}).then(
  (result) => parentPort!.postMessage({ kind: 'result', result }),
  (err: unknown) => parentPort!.postMessage({ kind: 'error', error: serializeError(err) }),
);
