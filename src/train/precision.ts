// The numeric precision of a training run, in one place: float32; autocast (bfloat16 / float16)
// with or without loss scaling; or a half-precision model with float32 BatchNorm. Each kind
// knows how to prepare the model, run forward and loss, take the backward and optimizer step
// (saying whether the step was applied), and what a checkpoint keeps of it.
import { autocast } from '../autograd';
import type { Device } from '../device';
import type { ResNet } from '../models/resnet';
import { GradScaler, backward, backwardAndStep, step, type GradScalerOptions, type GradScalerState, type StepOptions, type StepResult } from '../optim/grad-scaler';
import type { Optimizer } from '../optim/optimizer';
import type { Tensor } from '../tensor';
import { TrainingError } from './errors';

export interface PrecisionConfig {
  device: Device;
  amp?: 'bfloat16' | 'float16';
  half?: 'bfloat16' | 'float16';
  lossScaling: false | GradScalerOptions;
}

export class Precision {
  /** Refuses combinations that cannot work, naming why and what to use instead. */
  static check(c: PrecisionConfig & { cudaGraph: boolean }): void {
    if (c.amp && c.half) throw new TrainingError('amp (autocast) and half (a half-precision model) are alternatives: pick one');
    if (c.lossScaling && c.cudaGraph) {
      throw new TrainingError("loss scaling decides on the CPU whether each step is applied, which a CUDA graph cannot: use amp 'bfloat16' (no loss scaling needed) with cudaGraph, or lossScaling: false");
    }
    if (c.lossScaling && c.half === 'float16') {
      throw new TrainingError("loss scaling needs gradients wider than float16, and a half 'float16' model has float16 gradients: use amp 'float16' (a float32 model), or lossScaling: false");
    }
  }

  readonly #config: PrecisionConfig;
  readonly #scaler: GradScaler | null;

  constructor(config: PrecisionConfig) {
    this.#config = config;
    this.#scaler = config.lossScaling ? new GradScaler(config.lossScaling) : null;
  }

  /** A half-precision model keeps BatchNorm in float32 (ResNet.toHalfPrecision). */
  prepareModel(model: ResNet): void {
    if (this.#config.half) model.toHalfPrecision(this.#config.half);
  }

  /** `fn` (forward and loss) under autocast when the run asks for it. */
  forward<R>(fn: () => R): R {
    const { amp, device } = this.#config;
    return amp ? autocast(fn, { deviceType: device === 'cpu' ? 'cpu' : 'cuda', dtype: amp }) : fn();
  }

  /** Backward, optimizer step (through the loss scaler when there is one), gradients dropped;
   * false when the scaler skipped the step (float16 gradients overflowed). */
  backwardAndStep(loss: Tensor, optimizer: Optimizer): boolean {
    return backwardAndStep(loss, optimizer, this.#scaler);
  }

  /** Backward of one micro-batch (scaled under loss scaling); gradients add up until step(). */
  backward(loss: Tensor): void {
    backward(loss, this.#scaler);
  }

  /** Unscale, clip if asked, step (or skip), update the scale, drop the gradients. */
  step(optimizer: Optimizer, options: StepOptions = {}): StepResult {
    return step(optimizer, this.#scaler, options);
  }

  /** The loss scale now (null without loss scaling). */
  get lossScale(): number | null {
    return this.#scaler ? this.#scaler.getScale() : null;
  }

  /** The loss scale as a tensor on the device (null without loss scaling), read later with the loss. */
  lossScaleTensor(): Tensor | null {
    return this.#scaler?.scaleTensor() ?? null;
  }

  /** What a checkpoint keeps: the scaler's state. */
  stateDict(): GradScalerState | undefined {
    return this.#scaler?.stateDict();
  }

  loadStateDict(state: GradScalerState | undefined): void {
    if (this.#scaler && state) this.#scaler.loadStateDict(state);
  }

  dispose(): void {
    this.#scaler?.dispose();
  }
}
