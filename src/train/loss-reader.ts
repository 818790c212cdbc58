// Reading step losses without stalling the device: `item()` on a CUDA loss waits until the GPU
// has finished everything queued so far, so reading each step's loss at once would drain the
// queue every step. The loop hands each step's loss tensor here and gets values back `lag` steps
// later, when the device has long finished computing them: the values (and the NaN check) are
// exact, only later. On the CPU a loss is ready when its step returns; the lag costs nothing.
import type { Tensor } from '../tensor';

export interface PendingLoss<C> {
  /** What the loop needs to report this step (step number, learning rate...). */
  context: C;
  loss: Tensor;
  /** The loss scale the step used (loss scaling), read with the loss. */
  scale: Tensor | null;
}

export interface ReadLoss<C> {
  context: C;
  value: number;
  lossScale: number | null;
}

export class LaggedLosses<C> {
  readonly lag: number;
  readonly #pending: PendingLoss<C>[] = [];

  constructor(lag: number) {
    this.lag = lag;
  }

  /** Queues a step's loss (a scalar tensor this object now owns), and its loss scale if any. */
  push(context: C, loss: Tensor, scale: Tensor | null = null): void {
    this.#pending.push({ context, loss, scale });
  }

  /** The steps at least `lag` steps old, with their loss values, oldest first. */
  *ready(): Generator<ReadLoss<C>> {
    while (this.#pending.length > this.lag) yield this.#read();
  }

  /** Every queued step, with its loss value, oldest first (end of an epoch). */
  *flush(): Generator<ReadLoss<C>> {
    while (this.#pending.length > 0) yield this.#read();
  }

  /** Frees the queued losses unread (the run stopped). */
  dispose(): void {
    for (const { loss, scale } of this.#pending.splice(0)) {
      loss.dispose();
      scale?.dispose();
    }
  }

  #read(): ReadLoss<C> {
    const { context, loss, scale } = this.#pending.shift()!;
    try {
      return { context, value: loss.item(), lossScale: scale ? scale.item() : null };
    } finally {
      loss.dispose();
      scale?.dispose();
    }
  }
}
