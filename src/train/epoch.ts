// One training epoch: batches from the loader, one step each through the run's step runner,
// the learning rate set before each step, losses read a few steps later (LaggedLosses) for the
// log, and a stop agreed by every rank at step boundaries. Evaluation and checkpoints are not
// its business: the run (loop.ts) does those between epochs.
import type { Device } from '../device';
import type { BatchSource } from '../data/batch-source';
import type { LrSchedule } from '../optim/lr';
import type { Optimizer } from '../optim/optimizer';
import { dispose, tidy, type Tensor } from '../tensor';
import { TrainingError } from './errors';
import { LaggedLosses, type ReadLoss } from './loss-reader';
import type { Precision } from './precision';
import type { RunLog, StepReport } from './run-log';
import type { MicroBatch, StepRunner } from './step-runner';
import type { Strategy } from './strategy';

export interface EpochParts {
  trainLoader: BatchSource;
  /** Optimizer steps per epoch. */
  stepsPerEpoch: number;
  /** Batches per epoch: stepsPerEpoch groups of accumulateSteps (the last one may be shorter). */
  batchesPerEpoch: number;
  /** Batches (micro-batches) whose gradients make one optimizer step. */
  accumulateSteps: number;
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
  /** After each optimizer step (`stepInEpoch` 0-based), on every rank: the weights EMA. */
  afterStep?: (stepInEpoch: number, globalStep: number) => void;
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
  /** The losses of the current step's micro-batches so far. */
  readonly #microLosses: Tensor[] = [];
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
        if (next.value.index >= this.#p.batchesPerEpoch) {
          dispose(next.value);
          break;
        }
        const part = this.#partOf(next.value.index);
        // (a run stops between optimizer steps only, never with gradients half accumulated)
        if (part.index === 0) this.#stopIfAsked(epoch, next.value, report);
        t = performance.now();
        this.#microStep(epoch, next.value, part, tally);
        for (const read of this.#pending.ready()) report(read);
        seconds.step += (performance.now() - t) / 1000;
      }
    } finally {
      await batches.return(undefined);
      dispose(this.#microLosses.splice(0));
    }
    const t = performance.now();
    for (const read of this.#pending.flush()) report(read);
    seconds.step += (performance.now() - t) / 1000;
    const skippedSteps = this.#p.runner.skippedSteps - skippedBefore;
    return { averageLoss: tally.lossSum / Math.max(tally.steps, 1), steps: tally.steps, skippedSteps, seconds };
  }

  /** Which micro-batch of its optimizer step batch `index` is (the epoch's last step may have fewer). */
  #partOf(index: number): MicroBatch {
    const n = this.#p.accumulateSteps;
    const first = index - (index % n);
    return { index: index % n, of: Math.min(n, this.#p.batchesPerEpoch - first) };
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
    const step = Math.floor(batch.index / this.#p.accumulateSteps) + 1;
    throw new TrainingError(`training cancelled at epoch ${epoch + 1}, step ${step}; ${this.#p.whatIsKept()}`);
  }

  /** Forward and backward on one batch; after the last micro-batch of a step, the update, and
   * the step's loss (the mean of its micro-batches') queued to be read. */
  #microStep(epoch: number, batch: Batch, part: MicroBatch, tally: { images: number }): void {
    const { optimizer, runner, strategy, precision } = this.#p;
    const lr = this.#p.lrAt(this.globalStep);
    optimizer.lr = lr;
    const onDevice = this.#toDevice(batch.images);
    const x = this.#p.channelsLast ? onDevice.contiguous('channels_last') : onDevice;
    const y = this.#toDevice(batch.labels);
    this.#microLosses.push(runner.step(x, y, part));
    tally.images += batch.images.shape[0] * strategy.worldSize;
    dispose([batch, onDevice, x, y]);
    if (part.index < part.of - 1) return;
    const parts = this.#microLosses.splice(0);
    const loss = parts.length === 1 ? parts[0] : tidy(() => parts.reduce((sum, l) => sum.add(l)).div(parts.length));
    if (parts.length > 1) dispose(parts);
    strategy.reduceLoss(loss);
    this.globalStep += 1;
    const step = Math.floor(batch.index / this.#p.accumulateSteps) + 1;
    this.#pending.push({ epoch: epoch + 1, step, globalStep: this.globalStep, lr, images: tally.images }, loss, precision.lossScaleTensor());
    this.#p.afterStep?.(step - 1, this.globalStep);
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
