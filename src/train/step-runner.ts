// How a training step is run: eagerly (forward, loss, backward and update through the run's
// precision, over one batch or several accumulated micro-batches), or replayed as one CUDA graph
// (graphed-step.ts). The epoch trainer only calls step().
import type { Device } from '../device';
import type { Optimizer } from '../optim/optimizer';
import { tidy, type Tensor } from '../tensor';
import { GraphedTrainStep } from './graphed-step';
import type { Precision } from './precision';
import { TrainingError } from './errors';

/** Which micro-batch of an optimizer step a batch is: `index` of `of` (1 of 1 without accumulation). */
export interface MicroBatch {
  index: number;
  of: number;
}

export interface StepRunner {
  /** Forward, loss and backward on (x, y), both on the device; on the last micro-batch of a step,
   * the optimizer step too. Returns the batch's loss, a detached scalar the caller owns. */
  step(x: Tensor, y: Tensor, part?: MicroBatch): Tensor;
  /** Steps the precision skipped so far (float16 gradients that overflowed). */
  readonly skippedSteps: number;
  dispose(): void;
}

export interface StepRunnerConfig {
  cudaGraph: boolean;
  device: Device;
  /** Clip the gradients' total 2-norm to this before each update (after unscaling); default none. */
  clipGradNorm?: number;
}

const WHOLE: MicroBatch = { index: 0, of: 1 };

class EagerStep implements StepRunner {
  skippedSteps = 0;
  constructor(
    readonly forwardLoss: (x: Tensor, y: Tensor) => Tensor,
    readonly optimizer: Optimizer,
    readonly precision: Precision,
    readonly withoutGradSync: <R>(fn: () => R) => R,
    readonly clipGradNorm: number | undefined,
  ) {}

  step(x: Tensor, y: Tensor, part: MicroBatch = WHOLE): Tensor {
    return tidy(() => {
      // Each micro-batch's loss is divided by their number, so that the gradients the step sees
      // are the mean over its micro-batches; only the last one's backward is averaged over ranks.
      const backward = () => {
        const loss = this.forwardLoss(x, y);
        this.precision.backward(part.of === 1 ? loss : loss.div(part.of));
        return loss.detach();
      };
      const last = part.index === part.of - 1;
      const loss = last ? backward() : this.withoutGradSync(backward);
      if (last) {
        const { applied } = this.precision.step(this.optimizer, { clipGradNorm: this.clipGradNorm });
        if (!applied) this.skippedSteps += 1;
      }
      return loss;
    });
  }

  dispose(): void {}
}

export function checkStepRunnerOptions(c: { cudaGraph: boolean; device: Device; accumulateSteps: number; clipGradNorm?: number }): void {
  if (c.cudaGraph && c.accumulateSteps > 1) throw new TrainingError('cudaGraph captures one whole step, and accumulateSteps splits a step into several: pick one');
  if (c.cudaGraph && c.clipGradNorm !== undefined) throw new TrainingError('cudaGraph does not clip gradients (clipGradNorm): the graphed step has no clipping; pick one');
  if (c.cudaGraph && c.device === 'cpu') throw new TrainingError("cudaGraph needs a CUDA device, and the device is 'cpu'");
}

export function stepRunnerFor(
  options: StepRunnerConfig,
  forwardLoss: (x: Tensor, y: Tensor) => Tensor,
  optimizer: Optimizer,
  precision: Precision,
  withoutGradSync: <R>(fn: () => R) => R,
): StepRunner {
  if (options.cudaGraph) return new GraphedTrainStep(forwardLoss, optimizer, options.device);
  return new EagerStep(forwardLoss, optimizer, precision, withoutGradSync, options.clipGradNorm);
}
