// An exponential moving average of a model's weights: torchvision's classification reference
// (utils.ExponentialMovingAverage, i.e. torch.optim.swa_utils.AveragedModel with use_buffers=True
// and avg = decay * avg + (1 - decay) * param). Parameters and buffers are averaged alike; the
// first update (n_averaged 0) copies them. Integer buffers (BatchNorm's num_batches_tracked) go
// through the same formula, which PyTorch computes in float32 and copy_ truncates back.
import { noGrad } from '../autograd';
import { StateDictError } from '../error-classes';
import { invalidArgument, checkInteger } from '../errors';
import { foreachAdd_, foreachCopy_, foreachMul, foreachMul_ } from '../foreach';
import type { Module } from '../nn/module';
import { Tensor, full, isFloatDtype, keep, tidy } from '../tensor';

/** The state-dict key of the update count, next to the averaged model's own keys. */
export const N_AVERAGED_KEY = 'n_averaged';

export class ExponentialMovingAverage {
  /** The averaged model (owned: dispose() frees it). Evaluate it, save it, never train it. */
  readonly module: Module;
  readonly decay: number;
  #nAveraged = 0;
  /** stateDict()'s 0-dim int64 copy of the count, owned here. */
  #nAveragedTensor: Tensor | null = null;
  #disposed = false;

  /** `averaged`: a separate instance of the trained model's architecture (its weights are
   * overwritten by the first update); `decay`: the weight of the old average, from 0 to 1. */
  constructor(averaged: Module, decay: number) {
    if (typeof decay !== 'number' || !(decay >= 0 && decay <= 1)) throw invalidArgument('a number from 0 to 1', 'decay', decay);
    if (N_AVERAGED_KEY in averaged.stateDict()) throw new Error(`the averaged module has a '${N_AVERAGED_KEY}' of its own, which the EMA's state dict needs`);
    this.module = averaged;
    this.decay = decay;
  }

  /** Updates so far (since the last reset()). */
  get nAveraged(): number {
    return this.#nAveraged;
  }

  /** Folds `source`'s current parameters and buffers into the average (the first update copies). */
  update(source: Module): void {
    if (this.#disposed) throw new Error('This ExponentialMovingAverage has been disposed');
    const pairs = matchedTensors(this.module, source);
    noGrad(() =>
      tidy(() => {
        // As AveragedModel: the source's tensors are brought to the average's device.
        const moved = pairs.map(([avg, src]) => [avg, src.device === avg.device ? src : src.to(avg.device)] as const);
        if (this.#nAveraged === 0) foreachCopy_(moved.map(([a]) => a), moved.map(([, s]) => s));
        else for (const [avgs, srcs] of byDtypes(moved)) this.#average(avgs, srcs);
      }),
    );
    this.#nAveraged += 1;
  }

  /** decay * avg + (1 - decay) * src for one list of like tensors, PyTorch's arithmetic. */
  #average(avgs: Tensor[], srcs: Tensor[]): void {
    const scaled = foreachMul(srcs, 1 - this.decay);
    if (isFloatDtype(avgs[0].dtype)) {
      foreachMul_(avgs, this.decay);
      foreachAdd_(avgs, scaled, 1);
    } else {
      // Integers times a fraction are float32 in PyTorch; the copy back truncates.
      const mixed = foreachMul(avgs, this.decay);
      foreachAdd_(mixed, scaled, 1);
      foreachCopy_(avgs, mixed);
    }
  }

  /** The next update copies again (the reference does this during the lr warm-up). */
  reset(): void {
    this.#nAveraged = 0;
  }

  /** The averaged model's state under its own keys, plus 'n_averaged' (0-dim int64), as
   * AveragedModel's minus its 'module.' prefix: a model file, and what a resume needs. */
  stateDict(): Record<string, Tensor> {
    this.#nAveragedTensor ??= keep(full([], 0, { device: 'cpu', dtype: 'int64' }));
    return { ...this.module.stateDict(), [N_AVERAGED_KEY]: this.#nAveragedTensor.fill_(this.#nAveraged) };
  }

  /** Restores stateDict()'s output: every key of the model and n_averaged, or nothing changes. */
  loadStateDict(state: Record<string, Tensor>): void {
    const count = state[N_AVERAGED_KEY];
    if (!(count instanceof Tensor) || count.numel !== 1) {
      throw new StateDictError(`the EMA state lacks '${N_AVERAGED_KEY}' (a one-element tensor counting its updates)`, [N_AVERAGED_KEY], []);
    }
    const n = checkInteger(N_AVERAGED_KEY, count.item(), 0);
    const weights = Object.fromEntries(Object.entries(state).filter(([k]) => k !== N_AVERAGED_KEY));
    this.module.loadStateDict(weights);
    this.#nAveraged = n;
  }

  /** Frees the averaged model and the EMA's own tensor; unusable afterwards. */
  dispose(): void {
    this.#disposed = true;
    this.module.dispose();
    this.#nAveragedTensor?.dispose();
    this.#nAveragedTensor = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** [averaged, source] tensor pairs by state-dict key; the two models must have the same keys,
 * shapes and kinds of dtype (the average follows the source's architecture). */
function matchedTensors(averaged: Module, source: Module): [Tensor, Tensor][] {
  const own = averaged.stateDict();
  const theirs = source.stateDict();
  const missing = Object.keys(own).filter((k) => !(k in theirs));
  const unexpected = Object.keys(theirs).filter((k) => !(k in own));
  const problems = [...(missing.length > 0 ? [`the source lacks ${missing.join(', ')}`] : []), ...(unexpected.length > 0 ? [`the source has ${unexpected.join(', ')} too`] : [])];
  const pairs: [Tensor, Tensor][] = [];
  for (const [key, avg] of Object.entries(own)) {
    const src = theirs[key];
    if (!src) continue;
    if (avg.shape.join(',') !== src.shape.join(',')) problems.push(`'${key}' is [${src.shape.join(', ')}] in the source and [${avg.shape.join(', ')}] in the average`);
    else if (isFloatDtype(avg.dtype) !== isFloatDtype(src.dtype)) problems.push(`'${key}' is ${src.dtype} in the source and ${avg.dtype} in the average`);
    else pairs.push([avg, src]);
  }
  if (problems.length > 0) {
    throw new StateDictError(`ExponentialMovingAverage.update: the source model does not match the averaged one: ${problems.join('; ')}`, missing, unexpected);
  }
  return pairs;
}

/** The pairs in lists of one averaged dtype, source dtype and device each (one foreach call each). */
function byDtypes(pairs: readonly (readonly [Tensor, Tensor])[]): [Tensor[], Tensor[]][] {
  const groups = new Map<string, [Tensor[], Tensor[]]>();
  for (const [avg, src] of pairs) {
    const key = `${avg.dtype}/${src.dtype}/${avg.device}`;
    const group = groups.get(key) ?? groups.set(key, [[], []]).get(key)!;
    group[0].push(avg);
    group[1].push(src);
  }
  return [...groups.values()];
}

export interface ReferenceEmaDecayOptions {
  /** Processes training together; default 1. */
  worldSize?: number;
  /** Images per step per process. */
  batchSize: number;
  /** Optimizer steps between EMA updates. */
  emaSteps: number;
  epochs: number;
}

/**
 * The per-update decay torchvision's reference uses for `--model-ema-decay decay`: it keeps the
 * average's horizon independent of the other hyper-parameters (from pycls):
 * adjust = worldSize * batchSize * emaSteps / epochs; alpha = min(1, (1 - decay) * adjust);
 * returns 1 - alpha.
 */
export function referenceEmaDecay(decay: number, options: ReferenceEmaDecayOptions): number {
  if (typeof decay !== 'number' || !(decay >= 0 && decay <= 1)) throw invalidArgument('a number from 0 to 1', 'decay', decay);
  const worldSize = checkInteger('worldSize', options.worldSize ?? 1, 1);
  const adjust = (worldSize * checkInteger('batchSize', options.batchSize, 1) * checkInteger('emaSteps', options.emaSteps, 1)) / checkInteger('epochs', options.epochs, 1);
  const alpha = Math.min(1, (1 - decay) * adjust);
  return 1 - alpha;
}
