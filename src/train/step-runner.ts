// How a training step is run: eagerly (forward, loss, backward and update through the run's
// precision), or replayed as one CUDA graph (graphed-step.ts). The loop only calls step().
import type { Device } from '../device';
import type { Optimizer } from '../optim/optimizer';
import { tidy, type Tensor } from '../tensor';
import { GraphedTrainStep } from './graphed-step';
import type { Precision } from './precision';
import { TrainingError } from './errors';

export interface StepRunner {
  /** One step on (x, y), both on the device; returns the loss, a detached scalar the caller owns. */
  step(x: Tensor, y: Tensor): Tensor;
  /** Steps the precision skipped so far (float16 gradients that overflowed). */
  readonly skippedSteps: number;
  dispose(): void;
}

class EagerStep implements StepRunner {
  skippedSteps = 0;
  constructor(
    readonly forwardLoss: (x: Tensor, y: Tensor) => Tensor,
    readonly optimizer: Optimizer,
    readonly precision: Precision,
  ) {}
  step(x: Tensor, y: Tensor): Tensor {
    return tidy(() => {
      const loss = this.forwardLoss(x, y);
      if (!this.precision.backwardAndStep(loss, this.optimizer)) this.skippedSteps += 1;
      return loss.detach();
    });
  }
  dispose(): void {}
}

export function checkStepRunnerOptions(c: { cudaGraph: boolean; device: Device }): void {
  if (c.cudaGraph && c.device === 'cpu') throw new TrainingError("cudaGraph needs a CUDA device, and the device is 'cpu'");
}

export function stepRunnerFor(
  options: { cudaGraph: boolean; device: Device },
  forwardLoss: (x: Tensor, y: Tensor) => Tensor,
  optimizer: Optimizer,
  precision: Precision,
): StepRunner {
  return options.cudaGraph ? new GraphedTrainStep(forwardLoss, optimizer, options.device) : new EagerStep(forwardLoss, optimizer, precision);
}
