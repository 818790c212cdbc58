// Momentum SGD, the algorithm of torch.optim.SGD (and MindSpore's Momentum with the tutorial's
// settings): g = grad + weightDecay * p; v = momentum * v + (1 - dampening) * g (v = g on the
// first step); g = nesterov ? g + momentum * v : v; p -= lr * g.
import { noGrad } from '../autograd';
import { checkBoolean, checkFiniteNumber } from '../errors';
import type { Device } from '../device';
import { foreachAdd, foreachAdd_, foreachMul, foreachMul_ } from '../foreach';
import { Tensor, full, keep, tidy } from '../tensor';
import { clearGradients, namedGradientsOf, type Optimizer, type OptimizerGroup } from './optimizer';
import { ParameterGroups, type Group, type OptimizerParams } from './param-groups';

export interface SGDOptions {
  /** Learning rate; default 0.001 (the tutorial's starting rate). */
  lr?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** Default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient; default 0 (a parameter group may have its own). */
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
  /** The default weight decay (of groups without their own). */
  readonly weightDecay: number;
  readonly foreach: boolean;
  readonly capturable: boolean;
  readonly #groups: ParameterGroups;
  readonly #buffers = new Map<string, Tensor>();
  /** When capturable: each group's -lr, on the parameters' device (a captured graph reads them). */
  readonly #negLrs: Tensor[] = [];
  #disposed = false;

  /** `params`: named parameters (model.namedParameters()), or parameter groups with their own
   * lr / weightDecay (param-groups.ts); frozen parameters are skipped each step. */
  constructor(params: OptimizerParams, options: SGDOptions = {}) {
    this.weightDecay = checkFiniteNumber('weightDecay', options.weightDecay ?? 0, 0);
    this.#groups = new ParameterGroups(params, { lr: options.lr ?? 1e-3, weightDecay: this.weightDecay });
    this.momentum = checkFiniteNumber('momentum', options.momentum ?? 0.9, 0);
    this.dampening = checkFiniteNumber('dampening', options.dampening ?? 0, 0);
    this.nesterov = checkBoolean('nesterov', options.nesterov ?? false);
    this.foreach = checkBoolean('foreach', options.foreach ?? true);
    this.capturable = checkBoolean('capturable', options.capturable ?? false);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('Nesterov momentum needs momentum > 0 and dampening 0');
    }
    if (this.capturable) {
      if (!this.foreach) throw new RangeError('capturable SGD needs foreach: true');
      const all = this.#groups.all;
      if (all.length === 0) throw new RangeError('capturable SGD needs at least one parameter (its device holds the learning rate)');
      for (const g of this.#groups.groups) this.#negLrs.push(keep(full([], -g.lr, { device: all[0][1].device as Device, dtype: 'float32' })));
    }
  }

  /** The learning rate of the next step (with groups: the schedule's value, see param-groups.ts). */
  get lr(): number {
    return this.#groups.lr;
  }

  set lr(value: number) {
    const before = this.#groups.groups.map((g) => g.lr);
    this.#groups.lr = value;
    // The device copies are written only when a rate changes (loops set it every step).
    this.#negLrs.forEach((t, i) => {
      const lr = this.#groups.groups[i].lr;
      if (lr !== before[i]) t.fill_(-lr);
    });
  }

  get groups(): readonly OptimizerGroup[] {
    return this.#groups.info();
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    if (this.#disposed) throw new Error('This SGD optimizer has been disposed and cannot step');
    noGrad(() =>
      tidy(() => {
        this.#groups.groups.forEach((group, i) => {
          if (this.foreach) this.#stepForeach(group, this.#negLrs[i] ?? null);
          else this.#stepEach(group);
        });
      }),
    );
  }

  #stepEach(group: Group): void {
    for (const [name, p] of group.params) {
      const grad = p.grad;
      if (!grad) continue;
      let g = group.weightDecay !== 0 ? grad.add(p, group.weightDecay) : grad;
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
      p.add_(g, -group.lr);
    }
  }

  /** `negLr`: the group's -lr on the device when capturable. */
  #stepForeach(group: Group, negLr: Tensor | null): void {
    const names: string[] = [];
    const params: Tensor[] = [];
    let grads: Tensor[] = [];
    for (const [name, p] of group.params) {
      const grad = p.grad;
      if (!grad) continue;
      names.push(name);
      params.push(p);
      grads.push(grad);
    }
    if (params.length === 0) return;
    if (group.weightDecay !== 0) grads = foreachAdd(grads, params, group.weightDecay);
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
    if (negLr) foreachAdd_(params, foreachMul(grads, negLr), 1);
    else foreachAdd_(params, grads, -group.lr);
  }

  /** The gradients of the optimised parameters that have one, by parameter name. */
  namedGradients(): [string, Tensor][] {
    return namedGradientsOf(this.#groups.all);
  }

  /** Drops the gradients of the optimised parameters. */
  zeroGrad(): void {
    clearGradients(this.#groups.all);
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
    const params = new Map(this.#groups.all);
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
    for (const t of this.#negLrs) t.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
