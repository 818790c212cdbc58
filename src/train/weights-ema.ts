// The run's exponential moving average of the weights (emaDecay), as torchvision's classification
// reference keeps it: updated after every emaEvery-th step of each epoch (counting from the
// epoch's first), restarted at each update during the learning-rate warm-up, with the decay per
// update adjusted to the images between updates. Kept on every rank (the ranks' weights are the
// same), so that its evaluation can be shared as the model's is.
import type { ResNet } from '../models/resnet';
import { ExponentialMovingAverage, referenceEmaDecay } from '../optim/ema';
import type { Tensor } from '../tensor';
import type { TrainConfig } from './config';

export class WeightsEma {
  readonly #ema: ExponentialMovingAverage;
  readonly #source: ResNet;
  readonly #every: number;
  readonly #warmupSteps: number;

  /** `averaged`: a second model of the run's architecture, prepared as the trained one is. */
  constructor(c: TrainConfig, source: ResNet, averaged: ResNet) {
    const decay = referenceEmaDecay(c.emaDecay!, { batchSize: c.batchSize * c.accumulateSteps, emaSteps: c.emaEvery, epochs: c.epochs });
    this.#ema = new ExponentialMovingAverage(averaged, decay);
    this.#source = source;
    this.#every = c.emaEvery;
    this.#warmupSteps = c.schedule === 'warmup-cosine' ? (c.warmupSteps ?? 0) : 0;
  }

  /** The decay of each update (emaDecay as the reference adjusts it). */
  get decay(): number {
    return this.#ema.decay;
  }

  /** The averaged model (evaluate it, save it; never train it). */
  get model(): ResNet {
    return this.#ema.module as ResNet;
  }

  /** After optimizer step `stepInEpoch` (0-based) of the epoch, `globalStep` steps into the run. */
  afterStep(stepInEpoch: number, globalStep: number): void {
    if (stepInEpoch % this.#every !== 0) return;
    this.#ema.update(this.#source);
    if (globalStep <= this.#warmupSteps) this.#ema.reset();
  }

  /** Its state for a checkpoint (the averaged weights and the update count). */
  stateDict(): Record<string, Tensor> {
    return this.#ema.stateDict();
  }

  /** Restores stateDict()'s output (a resumed run); the tensors stay the caller's. */
  loadStateDict(state: Record<string, Tensor>): void {
    this.#ema.loadStateDict(state);
  }

  dispose(): void {
    this.#ema.dispose();
  }
}
