// Dynamic loss scaling for float16 mixed precision (the algorithm of torch.amp.GradScaler). The
// loss is multiplied by a large factor before backward so that small float16 gradients do not
// flush to zero; the gradients are divided by it again before the update. A step whose gradients
// overflowed (inf or NaN) is skipped and the factor multiplied by `backoffFactor`; after
// `growthInterval` clean steps in a row it is multiplied by `growthFactor`. The factor and the
// overflow flag live on the training device (libtorch's own kernels update them); step() reads
// the flag once.
import { noGrad } from '../autograd';
import { checkInteger, checkNumber } from '../errors';
import { ampUnscale_, ampUpdateScale_ } from '../foreach';
import { dispose, full, keep, tidy, zeros, type Tensor } from '../tensor';
import { clipGradNorm } from './clip-grad';
import type { Optimizer } from './optimizer';

export interface GradScalerOptions {
  /** The first scale factor; default 2 ** 16. */
  initScale?: number;
  /** Factor applied after `growthInterval` steps without overflow; default 2. */
  growthFactor?: number;
  /** Factor applied when a step overflowed; default 0.5. */
  backoffFactor?: number;
  /** Clean steps in a row before the scale grows; default 2000. */
  growthInterval?: number;
}

/** What a resumed run needs (torch's state_dict holds the same two numbers as `scale` and
 * `_growth_tracker`). */
export interface GradScalerState {
  scale: number;
  growthTracker: number;
}

interface OptimizerState {
  /** 1 when a gradient of this optimizer overflowed since the last update(). */
  foundInf: Tensor;
  stepped: boolean;
}

export class GradScaler {
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  #initScale: number;
  #initGrowthTracker = 0;
  /** float32 [1] and int32 [1] on the device of the first scaled loss, as in PyTorch. */
  #scale: Tensor | null = null;
  #growthTracker: Tensor | null = null;
  readonly #perOptimizer = new Map<Optimizer, OptimizerState>();

  constructor(options: GradScalerOptions = {}) {
    this.#initScale = checkPositiveFinite('initScale', options.initScale ?? 2 ** 16);
    this.growthFactor = checkNumber('growthFactor', options.growthFactor ?? 2);
    this.backoffFactor = checkNumber('backoffFactor', options.backoffFactor ?? 0.5);
    this.growthInterval = checkInteger('growthInterval', options.growthInterval ?? 2000, 1);
    if (!(this.growthFactor > 1)) throw new RangeError(`growthFactor must be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) throw new RangeError(`backoffFactor must be in (0, 1), got ${this.backoffFactor}`);
  }

  /** loss * scale, to call backward() on. */
  scale(loss: Tensor): Tensor {
    if (!this.#scale) {
      const device = loss.device;
      this.#scale = keep(full([1], this.#initScale, { device, dtype: 'float32' }));
      this.#growthTracker = keep(full([1], this.#initGrowthTracker, { device, dtype: 'int32' }));
    }
    return tidy(() => loss.mul(this.#scale!.reshape([])));
  }

  /** Divides the optimizer's gradients by the scale in place (before clipping or inspecting
   * them) and records whether any is inf or NaN. At most once per optimizer between updates;
   * step() calls it when it has not been called. */
  unscale(optimizer: Optimizer): void {
    const scale = this.#requireScale('unscale');
    const state = this.#perOptimizer.get(optimizer);
    if (state?.stepped) throw new Error('unscale() was called after step(): call update() first');
    if (state) throw new Error('unscale() has already been called on this optimizer since the last update()');
    const foundInf = keep(zeros([1], { device: scale.device, dtype: 'float32' }));
    try {
      noGrad(() =>
        tidy(() => {
          // The reciprocal in float64, as PyTorch (exact for the powers of two a scale usually is).
          const invScale = full([1], 1, { device: scale.device, dtype: 'float64' }).div(scale.to('float64')).to('float32');
          const byDtype = new Map<string, Tensor[]>();
          for (const [name, grad] of optimizer.namedGradients()) {
            if (grad.dtype === 'float16') {
              throw new Error(`loss scaling needs gradients wider than float16 (as PyTorch's GradScaler): '${name}' has a float16 gradient; train a float16 model without loss scaling, or use amp (autocast) with a float32 model`);
            }
            const group = byDtype.get(grad.dtype) ?? [];
            group.push(grad);
            byDtype.set(grad.dtype, group);
          }
          for (const grads of byDtype.values()) ampUnscale_(grads, foundInf, invScale);
        }),
      );
    } catch (err) {
      foundInf.dispose();
      throw err;
    }
    this.#perOptimizer.set(optimizer, { foundInf, stepped: false });
  }

  /** Unscales (unless unscale() was called) and runs optimizer.step() when no gradient
   * overflowed. Returns whether the step was applied. */
  step(optimizer: Optimizer): boolean {
    this.#requireScale('step');
    if (this.#perOptimizer.get(optimizer)?.stepped) throw new Error('step() has already been called on this optimizer since the last update()');
    if (!this.#perOptimizer.has(optimizer)) this.unscale(optimizer);
    const state = this.#perOptimizer.get(optimizer)!;
    state.stepped = true;
    const overflowed = state.foundInf.item() !== 0;
    if (!overflowed) optimizer.step();
    return !overflowed;
  }

  /** Adjusts the scale for the next iteration: backoff if any optimizer's gradients overflowed
   * since the last update, growth after `growthInterval` clean steps. */
  update(): void {
    const scale = this.#requireScale('update');
    const found = [...this.#perOptimizer.values()].map((s) => s.foundInf);
    if (found.length === 0) throw new Error('update(): no gradients were checked since the last update(): call step(optimizer) first');
    try {
      tidy(() => {
        const combined = found.slice(1).reduce((sum, f) => sum.add(f), found[0]);
        ampUpdateScale_(scale, this.#growthTracker!, combined, this.growthFactor, this.backoffFactor, this.growthInterval);
      });
    } finally {
      dispose(found);
      this.#perOptimizer.clear();
    }
  }

  /** A copy of the current scale factor, still on the device (reading it later does not wait
   * for the steps queued after it); null before the first scaled loss. */
  scaleTensor(): Tensor | null {
    return this.#scale ? this.#scale.clone() : null;
  }

  /** The current scale factor (reads it from the device). */
  getScale(): number {
    return this.#scale ? this.#scale.item() : this.#initScale;
  }

  stateDict(): GradScalerState {
    return { scale: this.getScale(), growthTracker: this.#growthTracker ? this.#growthTracker.item() : this.#initGrowthTracker };
  }

  /** Restores what stateDict() returned (before or after the first scale()). */
  loadStateDict(state: GradScalerState): void {
    const scale = checkPositiveFinite('scale', state?.scale);
    const growthTracker = checkInteger('growthTracker', state.growthTracker, 0);
    this.#initScale = scale;
    this.#initGrowthTracker = growthTracker;
    this.#scale?.fill_(scale);
    this.#growthTracker?.fill_(growthTracker);
  }

  /** Frees the device tensors (the scaler starts again from its last state if used). */
  dispose(): void {
    const { scale, growthTracker } = this.stateDict();
    this.#initScale = scale;
    this.#initGrowthTracker = growthTracker;
    dispose([this.#scale, this.#growthTracker, ...[...this.#perOptimizer.values()].map((s) => s.foundInf)]);
    this.#scale = null;
    this.#growthTracker = null;
    this.#perOptimizer.clear();
  }

  #requireScale(what: string): Tensor {
    if (!this.#scale) throw new Error(`${what}(): no loss has been scaled yet: call scale(loss) and backward() first`);
    return this.#scale;
  }
}

function checkPositiveFinite(name: string, value: unknown): number {
  const v = checkNumber(name, value);
  if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a positive finite number, got ${v}`);
  return v;
}

/** Backward from `loss`, scaled when there is a scaler (float16 loss scaling). Called once per
 * micro-batch, it adds to the gradients: several calls, then one step(), accumulate them. */
export function backward(loss: Tensor, scaler: GradScaler | null): void {
  if (scaler) tidy(() => scaler.scale(loss).backward());
  else loss.backward();
}

export interface StepOptions {
  /** Clip the gradients to this total 2-norm first (after unscaling them); default no clipping. */
  clipGradNorm?: number;
}

export interface StepResult {
  /** false when the scaler skipped the step (gradients with inf or NaN). */
  applied: boolean;
  /** With clipGradNorm: the gradients' total norm before clipping (a 0-dim tensor on their
   * device, the caller's; inf or NaN on a skipped step). Otherwise null. */
  gradNorm: Tensor | null;
}

/**
 * The optimizer step after backward(), in PyTorch's order: unscale, clip, step (skipped by the
 * scaler when a gradient overflowed; clipping then sees an inf or NaN norm and the step stays
 * skipped), update the scale; then the gradients are dropped.
 */
export function step(optimizer: Optimizer, scaler: GradScaler | null, options: StepOptions = {}): StepResult {
  let gradNorm: Tensor | null = null;
  if (options.clipGradNorm !== undefined) {
    // Clipping needs true gradients: unscale now, and scaler.step() will not unscale again.
    scaler?.unscale(optimizer);
    const max = options.clipGradNorm;
    gradNorm = tidy(() => clipGradNorm({ gradients: optimizer.namedGradients().map(([, g]) => g) }, max));
  }
  let applied = true;
  if (scaler) {
    applied = scaler.step(optimizer);
    scaler.update();
  } else {
    optimizer.step();
  }
  optimizer.zeroGrad();
  return { applied, gradNorm };
}

/** backward() then step() without clipping: returns whether the update was applied. */
export function backwardAndStep(loss: Tensor, optimizer: Optimizer, scaler: GradScaler | null): boolean {
  backward(loss, scaler);
  return step(optimizer, scaler).applied;
}
