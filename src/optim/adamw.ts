// Adam and AdamW, the algorithms of torch.optim.Adam / AdamW with foreach=True, op for op:
//   (AdamW) p *= 1 - lr * weightDecay        (Adam) g = grad + weightDecay * p
//   m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
//   p += -(lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// with t each parameter's own step count and the scalars computed in float64, as PyTorch does.
import { noGrad } from '../autograd';
import { checkFiniteNumber, invalidArgument } from '../errors';
import { foreachAdd, foreachAddScalar_, foreachAddcdiv_, foreachAddcmul_, foreachDiv_, foreachLerp_, foreachMul_, foreachSqrt } from '../foreach';
import { Tensor, full, keep, tidy, zeros } from '../tensor';
import { clearGradients, namedGradientsOf, type Optimizer, type OptimizerGroup } from './optimizer';
import { ParameterGroups, type Group, type OptimizerParams } from './param-groups';

export interface AdamWOptions {
  /** Learning rate; default 0.001. */
  lr?: number;
  /** Decay rates of the gradient's running mean and of its square's; default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator; default 1e-8. */
  eps?: number;
  /** AdamW: decoupled decay (p *= 1 - lr * wd), default 0.01. Adam: L2 added to the gradient,
   * default 0. A parameter group may have its own. */
  weightDecay?: number;
}

interface ParameterState {
  expAvg: Tensor;
  expAvgSq: Tensor;
  step: number;
}

const STATE_KEYS = ['exp_avg', 'exp_avg_sq', 'step'] as const;

export class AdamW implements Optimizer {
  readonly kind: string = 'adamw';
  readonly checkpointPrefix = '';
  readonly capturable = false;
  readonly betas: [number, number];
  readonly eps: number;
  /** The default weight decay (of groups without their own). */
  readonly weightDecay: number;
  /** true: AdamW's decoupled weight decay; false: Adam's L2 term in the gradient. */
  protected readonly decoupled: boolean = true;
  readonly #groups: ParameterGroups;
  readonly #state = new Map<string, ParameterState>();
  /** 0-dim copies of the step counts, made by stateDict() and owned here (freed with the state). */
  readonly #stepTensors = new Map<string, Tensor>();
  #disposed = false;

  /** `params`: named parameters (model.namedParameters()), or parameter groups with their own
   * lr / weightDecay (param-groups.ts); frozen parameters are skipped each step. */
  constructor(params: OptimizerParams, options: AdamWOptions = {}, defaultWeightDecay = 0.01) {
    this.weightDecay = checkFiniteNumber('weightDecay', options.weightDecay ?? defaultWeightDecay, 0);
    this.#groups = new ParameterGroups(params, { lr: options.lr ?? 1e-3, weightDecay: this.weightDecay });
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
      throw invalidArgument('two numbers from 0 to below 1', 'betas', betas);
    }
    this.betas = [betas[0], betas[1]];
    this.eps = checkFiniteNumber('eps', options.eps ?? 1e-8, 0);
  }

  /** The learning rate of the next step (with groups: the schedule's value, see param-groups.ts). */
  get lr(): number {
    return this.#groups.lr;
  }

  set lr(value: number) {
    this.#groups.lr = value;
  }

  get groups(): readonly OptimizerGroup[] {
    return this.#groups.info();
  }

  step(): void {
    if (this.#disposed) throw new Error(`This ${this.kind} optimizer has been disposed and cannot step`);
    // Group by group, as torch.optim runs its foreach update once per param_group.
    noGrad(() => tidy(() => this.#groups.groups.forEach((group) => this.#stepGroup(group))));
  }

  #stepGroup(group: Group): void {
    const [beta1, beta2] = this.betas;
    const params: Tensor[] = [];
    let grads: Tensor[] = [];
    const states: ParameterState[] = [];
    for (const [name, p] of group.params) {
      const grad = p.grad;
      if (!grad) continue;
      let state = this.#state.get(name);
      if (!state) {
        state = { expAvg: keep(zeros(p.shape, { device: p.device as never, dtype: p.dtype })), expAvgSq: keep(zeros(p.shape, { device: p.device as never, dtype: p.dtype })), step: 0 };
        this.#state.set(name, state);
      }
      state.step += 1;
      params.push(p);
      grads.push(grad);
      states.push(state);
    }
    if (params.length === 0) return;
    if (group.weightDecay !== 0) {
      if (this.decoupled) foreachMul_(params, 1 - group.lr * group.weightDecay);
      else grads = foreachAdd(grads, params, group.weightDecay);
    }
    const expAvgs = states.map((s) => s.expAvg);
    const expAvgSqs = states.map((s) => s.expAvgSq);
    foreachLerp_(expAvgs, grads, 1 - beta1);
    foreachMul_(expAvgSqs, beta2);
    foreachAddcmul_(expAvgSqs, grads, grads, 1 - beta2);
    // Parameters that stepped as often share their scalars (all of them, unless some missed a gradient).
    const bySteps = new Map<number, number[]>();
    states.forEach((s, i) => {
      const group = bySteps.get(s.step);
      if (group) group.push(i);
      else bySteps.set(s.step, [i]);
    });
    for (const [t, idx] of bySteps) {
      const stepSize = -(group.lr / (1 - beta1 ** t));
      const denom = foreachSqrt(idx.map((i) => expAvgSqs[i]));
      foreachDiv_(denom, Math.sqrt(1 - beta2 ** t));
      foreachAddScalar_(denom, this.eps);
      foreachAddcdiv_(idx.map((i) => params[i]), idx.map((i) => expAvgs[i]), denom, stepSize);
    }
  }

  namedGradients(): [string, Tensor][] {
    return namedGradientsOf(this.#groups.all);
  }

  zeroGrad(): void {
    clearGradients(this.#groups.all);
  }

  /** 'exp_avg.<name>', 'exp_avg_sq.<name>' and 'step.<name>' (a 0-dim float32, as torch's). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, s] of this.#state) {
      out[`exp_avg.${name}`] = s.expAvg;
      out[`exp_avg_sq.${name}`] = s.expAvgSq;
      let step = this.#stepTensors.get(name);
      if (!step) this.#stepTensors.set(name, (step = keep(full([], 0, { device: 'cpu', dtype: 'float32' }))));
      out[`step.${name}`] = step.fill_(s.step);
    }
    return out;
  }

  statefulParameters(): string[] {
    return [...this.#state.keys()];
  }

  loadStateDict(state: Record<string, Tensor>): void {
    const params = new Map(this.#groups.all);
    const parts = new Map<string, Partial<Record<(typeof STATE_KEYS)[number], Tensor>>>();
    for (const [key, t] of Object.entries(state)) {
      const kind = STATE_KEYS.find((k) => key.startsWith(`${k}.`));
      if (!kind) throw new Error(`${this.kind} state has '${key}': expected exp_avg.<parameter>, exp_avg_sq.<parameter> or step.<parameter>`);
      const name = key.slice(kind.length + 1);
      const p = params.get(name);
      if (!p) throw new Error(`${this.kind} state has '${key}' for '${name}', which is not an optimised parameter`);
      const want = kind === 'step' ? [] : p.shape;
      if (t.shape.join(',') !== want.join(',')) throw new Error(`${this.kind} state '${key}' has shape [${t.shape.join(', ')}], expected [${want.join(', ')}]`);
      parts.set(name, { ...parts.get(name), [kind]: t });
    }
    const restored = new Map<string, ParameterState>();
    for (const [name, part] of parts) {
      const missing = STATE_KEYS.filter((k) => !part[k]);
      if (missing.length > 0) throw new Error(`${this.kind} state for '${name}' lacks ${missing.join(', ')}`);
      const step = part.step!.item();
      if (!Number.isSafeInteger(step) || step < 1) throw new Error(`${this.kind} state 'step.${name}' is ${step}: expected a positive whole number of steps`);
      const p = params.get(name)!;
      const copy = (t: Tensor) => keep(noGrad(() => t.to({ device: p.device as never, dtype: p.dtype }).clone()));
      restored.set(name, { expAvg: copy(part.exp_avg!), expAvgSq: copy(part.exp_avg_sq!), step });
    }
    this.#freeState();
    for (const [name, s] of restored) this.#state.set(name, s);
  }

  #freeState(): void {
    for (const s of this.#state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.#state.clear();
    for (const t of this.#stepTensors.values()) t.dispose();
    this.#stepTensors.clear();
  }

  dispose(): void {
    this.#disposed = true;
    this.#freeState();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Adam: AdamW's update with the weight decay added to the gradient (L2), default 0. */
export class Adam extends AdamW {
  override readonly kind: string = 'adam';
  protected override readonly decoupled: boolean = false;

  constructor(params: OptimizerParams, options: AdamWOptions = {}) {
    super(params, options, 0);
  }
}
