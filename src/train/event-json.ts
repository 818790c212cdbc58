// A training event as one JSON line: what `train --json` prints and what the run's metrics.ndjson
// holds (and what `plot` reads back).
import type { TrainEvent } from './events';

export function eventJson(e: TrainEvent): Record<string, unknown> {
  switch (e.type) {
    case 'step':
      return { type: e.type, epoch: e.epoch, step: e.step, globalStep: e.globalStep, loss: e.loss, lr: e.lr, imagesPerSecond: e.imagesPerSecond, ...(e.lossScale === null ? {} : { lossScale: e.lossScale }) };
    case 'epoch':
      return { type: e.type, epoch: e.epoch, loss: e.averageLoss, accuracy: e.accuracy, lr: e.lr, seconds: e.seconds, intraOpThreads: e.intraOpThreads };
    case 'start':
      return { type: e.type, stepsPerEpoch: e.stepsPerEpoch, synthetic: e.synthetic, startEpoch: e.startEpoch, startStep: e.startStep };
    default:
      return e;
  }
}
