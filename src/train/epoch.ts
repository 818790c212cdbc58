// One training epoch: batches from the loader, one step each through the run's step runner,
// the learning rate set before each step, losses read a few steps later (LaggedLosses) for the
// log, and a stop agreed by every rank at step boundaries. Evaluation and checkpoints are not
// its business: the run (loop.ts) does those between epochs.
import type { Device } from '../device';
import type { DataLoader } from '../data/loader';
import type { LrSchedule } from '../optim/lr';
import type { Optimizer } from '../optim/optimizer';
import { dispose, tidy, type Tensor } from '../tensor';
import { TrainingError } from './errors';
import { LaggedLosses, type ReadLoss } from './loss-reader';
import type { Precision } from './precision';
import type { RunLog, StepReport } from './run-log';
import type { StepRunner } from './step-runner';
import type { Strategy } from './strategy';

export interface EpochParts {
  trainLoader: DataLoader;
  stepsPerEpoch: number;
  lrAt: LrSchedule;
  optimizer: Optimizer;
  runner: StepRunner;
  precision: Precision;
  strategy: Strategy;
  log: RunLog;
  device: Device;
  channelsLast: boolean;
  lossReadLag: number;
  signal?: Pick<AbortSignal, 'aborted'>;
  /** Checked at every step boundary: throws when the run must stop (a checkpoint write failed). */
  checkHealth: () => void;
  /** Says what the run keeps if it stops now (for the messages of a stopped run). */
  whatIsKept: () => string;
}

export interface EpochResult {
  averageLoss: number;
  /** Steps trained (and read). */
  steps: number;
  /** Steps the precision skipped (float16 gradients that overflowed). */
  skippedSteps: number;
  /** Seconds waiting for batches and in steps. */
  seconds: { data: number; step: number };
}

/** Moves batch tensors to the training device: from page-locked memory without waiting for the
 * GPU (a plain host-to-device copy waits for the stream to drain, every step). */
function deviceCopy(device: Device): (t: Tensor) => Tensor {
  if (device === 'cpu') return (t) => t;
  return (t) => (t.device !== 'cpu' ? t : tidy(() => t.pinMemory().to({ device, nonBlocking: true })));
}

type Batch = { index: number; images: Tensor; labels: Tensor };

export class EpochTrainer {
  readonly #p: EpochParts;
  readonly #toDevice: (t: Tensor) => Tensor;
  readonly #pending: LaggedLosses<StepReport>;
  /** Optimizer steps of the whole run so far (a resumed run starts from its checkpoint's). */
  globalStep: number;

  constructor(parts: EpochParts, startStep: number) {
    this.#p = parts;
    this.#toDevice = deviceCopy(parts.device);
    this.#pending = new LaggedLosses<StepReport>(parts.lossReadLag);
    this.globalStep = startStep;
  }

  /** The learning rate of the last step. */
  get optimizerLr(): number {
    return this.#p.optimizer.lr;
  }

  /** Trains epoch `epoch` (0-based); resolves when every step's loss has been read. */
  async run(epoch: number): Promise<EpochResult> {
    const tally = { lossSum: 0, steps: 0, images: 0, t0: performance.now() };
    const seconds = { data: 0, step: 0 };
    const skippedBefore = this.#p.runner.skippedSteps;
    const report = (read: ReadLoss<StepReport>) => this.#report(read, tally);
    const batches = this.#p.trainLoader.prefetch(epoch);
    try {
      for (;;) {
        let t = performance.now();
        const next = await batches.next();
        seconds.data += (performance.now() - t) / 1000;
        if (next.done) break;
        if (next.value.index >= this.#p.stepsPerEpoch) {
          dispose(next.value);
          break;
        }
        this.#stopIfAsked(epoch, next.value, report);
        t = performance.now();
        tally.images += this.#step(epoch, next.value, tally.images);
        for (const read of this.#pending.ready()) report(read);
        seconds.step += (performance.now() - t) / 1000;
      }
    } finally {
      await batches.return(undefined);
    }
    const t = performance.now();
    for (const read of this.#pending.flush()) report(read);
    seconds.step += (performance.now() - t) / 1000;
    const skippedSteps = this.#p.runner.skippedSteps - skippedBefore;
    return { averageLoss: tally.lossSum / Math.max(tally.steps, 1), steps: tally.steps, skippedSteps, seconds };
  }

  /** Frees the losses not read yet (the run stopped). */
  dispose(): void {
    this.#pending.dispose();
  }

  /** At a step boundary: ends the run if a checkpoint write failed, or (all ranks agreeing) if it
   * was asked to stop; the losses of the steps taken so far are reported first. */
  #stopIfAsked(epoch: number, batch: Batch, report: (read: ReadLoss<StepReport>) => void): void {
    this.#p.checkHealth();
    if (!this.#p.strategy.agreeToStop(this.#p.signal?.aborted === true)) return;
    dispose(batch);
    for (const read of this.#pending.flush()) report(read);
    throw new TrainingError(`training cancelled at epoch ${epoch + 1}, step ${batch.index + 1}; ${this.#p.whatIsKept()}`);
  }

  /** One step on `batch`; returns the images it trained on (all ranks). */
  #step(epoch: number, batch: Batch, imagesBefore: number): number {
    const { optimizer, runner, strategy, precision } = this.#p;
    const lr = this.#p.lrAt(this.globalStep);
    optimizer.lr = lr;
    const onDevice = this.#toDevice(batch.images);
    const x = this.#p.channelsLast ? onDevice.contiguous('channels_last') : onDevice;
    const y = this.#toDevice(batch.labels);
    const loss = runner.step(x, y);
    strategy.reduceLoss(loss);
    const images = batch.images.shape[0] * strategy.worldSize;
    this.globalStep += 1;
    this.#pending.push({ epoch: epoch + 1, step: batch.index + 1, globalStep: this.globalStep, lr, images: imagesBefore + images }, loss, precision.lossScaleTensor());
    dispose([batch, onDevice, x, y]);
    return images;
  }

  /** A step's loss, read: NaN check, the epoch's sums, its line and event. */
  #report({ context: s, value: loss, lossScale }: ReadLoss<StepReport>, tally: { lossSum: number; steps: number; t0: number }): void {
    if (!Number.isFinite(loss)) {
      throw new TrainingError(`loss became ${loss} at epoch ${s.epoch}, step ${s.step}: training stopped; ${this.#p.whatIsKept()}`);
    }
    tally.lossSum += loss;
    tally.steps += 1;
    this.#p.log.step(s, loss, lossScale, this.#p.stepsPerEpoch, (performance.now() - tally.t0) / 1000);
  }
}
