// The whole training step (forward, loss, backward, SGD update, dropping the gradients) as one
// CUDA graph: a few eager steps on a side stream warm up cuDNN and the allocator, the next
// batch's step is captured, and every later batch of that shape is copied into the captured
// inputs and replayed. Batches of another shape (the last, partial one) run eagerly.
import { CudaGraph, onSideStream } from '../cuda-graph';
import type { Device } from '../device';
import { checkInteger } from '../errors';
import { backwardAndStep } from '../optim/grad-scaler';
import type { Optimizer } from '../optim/optimizer';
import { dispose, keep, tidy, type Tensor } from '../tensor';

export interface GraphedTrainStepOptions {
  /** Eager steps before the capture; default 3. */
  warmupSteps?: number;
}

const sameShape = (a: Tensor, b: Tensor) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

export class GraphedTrainStep {
  readonly #forwardLoss: (x: Tensor, y: Tensor) => Tensor;
  readonly #optimizer: Optimizer;
  readonly #device: Device;
  readonly #warmupSteps: number;
  readonly #graph: CudaGraph;
  #eagerSteps = 0;
  #static: { x: Tensor; y: Tensor; loss: Tensor } | null = null;

  /** `forwardLoss(x, y)` returns the scalar loss; `optimizer` must be capturable (its learning
   * rate lives on the device, so changing it between replays takes effect). */
  constructor(forwardLoss: (x: Tensor, y: Tensor) => Tensor, optimizer: Optimizer, device: Device, options: GraphedTrainStepOptions = {}) {
    if (!optimizer.capturable) throw new Error('a graphed training step needs an SGD created with capturable: true');
    this.#forwardLoss = forwardLoss;
    this.#optimizer = optimizer;
    this.#device = device;
    this.#warmupSteps = checkInteger('warmupSteps', options.warmupSteps ?? 3, 1);
    this.#graph = new CudaGraph(device);
  }

  /** A graphed step is never skipped (loss scaling, which decides on the CPU, is refused with it). */
  readonly skippedSteps = 0;

  /** True once the step has been captured. */
  get captured(): boolean {
    return this.#graph.captured;
  }

  /** One step on (x, y), both on the device; returns the loss, a device scalar the caller owns
   * (reading it waits for the step: see LaggedLosses). */
  step(x: Tensor, y: Tensor): Tensor {
    const s = this.#static;
    if (s) {
      if (!sameShape(x, s.x) || !sameShape(y, s.y)) return this.#eager(x, y);
      s.x.copy_(x);
      s.y.copy_(y);
      this.#graph.replay();
      return s.loss.clone();
    }
    if (this.#eagerSteps < this.#warmupSteps) {
      this.#eagerSteps += 1;
      return onSideStream(this.#device, () => this.#eager(x, y));
    }
    const staticX = keep(x.clone());
    const staticY = keep(y.clone());
    let loss: Tensor;
    try {
      loss = this.#graph.capture(() => tidy(() => keep(this.#update(staticX, staticY))));
    } catch (err) {
      dispose([staticX, staticY]);
      throw new Error(`capturing the training step as a CUDA graph failed: ${(err as Error).message}`);
    }
    this.#static = { x: staticX, y: staticY, loss };
    // Capture records without running: run this batch's step now.
    this.#graph.replay();
    return loss.clone();
  }

  #eager(x: Tensor, y: Tensor): Tensor {
    return tidy(() => this.#update(x, y).detach());
  }

  /** Forward, loss, backward, update, gradients dropped; returns the loss (call inside tidy). */
  #update(x: Tensor, y: Tensor): Tensor {
    const loss = this.#forwardLoss(x, y);
    backwardAndStep(loss, this.#optimizer, null);
    return loss;
  }

  /** Frees the graph and its static tensors. */
  dispose(): void {
    if (this.#static) dispose([this.#static.x, this.#static.y, this.#static.loss]);
    this.#static = null;
    this.#graph.reset();
  }
}
