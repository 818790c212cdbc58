// Momentum SGD, the algorithm of torch.optim.SGD (and MindSpore's Momentum with the tutorial's
// settings): g = grad + weightDecay * p; v = momentum * v + (1 - dampening) * g (v = g on the
// first step); g = nesterov ? g + momentum * v : v; p -= lr * g.
import { noGrad } from '../autograd';
import { checkBoolean, checkFiniteNumber, invalidArgument } from '../errors';
import type { Device } from '../device';
import { foreachAdd, foreachAdd_, foreachMul, foreachMul_ } from '../foreach';
import { Tensor, full, keep, tidy } from '../tensor';
import { clearGradients, isNamedParameters, namedGradientsOf, type Optimizer } from './optimizer';

export interface SGDOptions {
  /** Learning rate; default 0.001 (the tutorial's starting rate). */
  lr?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** Default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
  /** Update all parameters with multi-tensor ops (a few calls a step instead of a few per
   * parameter); same arithmetic. Default true. */
  foreach?: boolean;
  /** Keep the learning rate in a tensor on the parameters' device, so that a captured CUDA graph
   * of the step reads the current rate on each replay (as torch.optim's `capturable`). Needs
   * foreach. Same update, computed as p += g * (-lr). Default false. */
  capturable?: boolean;
}

export class SGD implements Optimizer {
  readonly kind = 'sgd';
  readonly checkpointPrefix = 'momentum_buffer.';
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly foreach: boolean;
  readonly capturable: boolean;
  readonly #params: [string, Tensor][];
  readonly #buffers = new Map<string, Tensor>();
  #lr: number;
  /** -lr on the parameters' device when capturable. */
  #negLr: Tensor | null = null;
  #disposed = false;

  /** `params`: named parameters (model.namedParameters()); frozen ones are skipped each step. */
  constructor(params: [string, Tensor][], options: SGDOptions = {}) {
    if (!isNamedParameters(params)) {
      throw invalidArgument('[name, Tensor] pairs (module.namedParameters())', 'params', params);
    }
    this.#params = params;
    this.#lr = checkFiniteNumber('lr', options.lr ?? 1e-3, 0);
    this.momentum = checkFiniteNumber('momentum', options.momentum ?? 0.9, 0);
    this.dampening = checkFiniteNumber('dampening', options.dampening ?? 0, 0);
    this.nesterov = checkBoolean('nesterov', options.nesterov ?? false);
    this.weightDecay = checkFiniteNumber('weightDecay', options.weightDecay ?? 0, 0);
    this.foreach = checkBoolean('foreach', options.foreach ?? true);
    this.capturable = checkBoolean('capturable', options.capturable ?? false);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('Nesterov momentum needs momentum > 0 and dampening 0');
    }
    if (this.capturable) {
      if (!this.foreach) throw new RangeError('capturable SGD needs foreach: true');
      if (params.length === 0) throw new RangeError('capturable SGD needs at least one parameter (its device holds the learning rate)');
      this.#negLr = keep(full([], -this.#lr, { device: params[0][1].device as Device, dtype: 'float32' }));
    }
  }

  /** The learning rate of the next step. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    checkFiniteNumber('lr', value, 0);
    // The device copy is written only when the rate changes (loops set it every step).
    if (value !== this.#lr) this.#negLr?.fill_(-value);
    this.#lr = value;
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    if (this.#disposed) throw new Error('This SGD optimizer has been disposed and cannot step');
    noGrad(() => tidy(() => (this.foreach ? this.#stepForeach() : this.#stepEach())));
  }

  #stepEach(): void {
    for (const [name, p] of this.#params) {
      const grad = p.grad;
      if (!grad) continue;
      let g = this.weightDecay !== 0 ? grad.add(p, this.weightDecay) : grad;
      if (this.momentum !== 0) {
        let v = this.#buffers.get(name);
        if (!v) {
          v = keep(g.clone());
          this.#buffers.set(name, v);
        } else {
          v.mul_(this.momentum).add_(g, 1 - this.dampening);
        }
        g = this.nesterov ? g.add(v, this.momentum) : v;
      }
      p.add_(g, -this.lr);
    }
  }

  #stepForeach(): void {
    const names: string[] = [];
    const params: Tensor[] = [];
    let grads: Tensor[] = [];
    for (const [name, p] of this.#params) {
      const grad = p.grad;
      if (!grad) continue;
      names.push(name);
      params.push(p);
      grads.push(grad);
    }
    if (params.length === 0) return;
    if (this.weightDecay !== 0) grads = foreachAdd(grads, params, this.weightDecay);
    if (this.momentum !== 0) {
      // First step of a parameter: v = g (as PyTorch); the others: v = momentum * v + (1 - dampening) * g.
      const existing = names.map((n) => this.#buffers.get(n));
      const old = existing.flatMap((v, i) => (v ? [[v, grads[i]] as const] : []));
      if (old.length > 0) {
        foreachMul_(old.map(([v]) => v), this.momentum);
        foreachAdd_(old.map(([v]) => v), old.map(([, g]) => g), 1 - this.dampening);
      }
      const buffers = names.map((n, i) => existing[i] ?? this.#buffers.set(n, keep(grads[i].clone())).get(n)!);
      grads = this.nesterov ? foreachAdd(grads, buffers, this.momentum) : buffers;
    }
    if (this.#negLr) foreachAdd_(params, foreachMul(grads, this.#negLr), 1);
    else foreachAdd_(params, grads, -this.lr);
  }

  /** The gradients of the optimised parameters that have one, by parameter name. */
  namedGradients(): [string, Tensor][] {
    return namedGradientsOf(this.#params);
  }

  /** Drops the gradients of the optimised parameters. */
  zeroGrad(): void {
    clearGradients(this.#params);
  }

  /** The momentum buffers by parameter name (the state a resumed run needs). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.#buffers);
  }

  statefulParameters(): string[] {
    return [...this.#buffers.keys()];
  }

  /** Restores momentum buffers saved by stateDict(); names and shapes must match. */
  loadStateDict(state: Record<string, Tensor>): void {
    const params = new Map(this.#params);
    for (const [name, t] of Object.entries(state)) {
      const p = params.get(name);
      if (!p) throw new Error(`optimizer state has a buffer for '${name}', which is not an optimised parameter`);
      if (p.shape.join(',') !== t.shape.join(',')) {
        throw new Error(`optimizer buffer '${name}' has shape [${t.shape.join(', ')}], parameter [${p.shape.join(', ')}]`);
      }
    }
    for (const v of this.#buffers.values()) v.dispose();
    this.#buffers.clear();
    for (const [name, t] of Object.entries(state)) {
      const p = params.get(name)!;
      this.#buffers.set(name, keep(noGrad(() => t.to({ device: p.device, dtype: p.dtype }).clone())));
    }
  }

  /**
   * Frees the optimizer's own state now (momentum buffers, the learning-rate tensor); the
   * parameters are the model's. The optimizer is unusable afterwards. `using opt = new SGD(...)`
   * calls this at the end of the block. Idempotent.
   */
  dispose(): void {
    this.#disposed = true;
    for (const v of this.#buffers.values()) v.dispose();
    this.#buffers.clear();
    this.#negLr?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
