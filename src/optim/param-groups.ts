// Parameter groups (torch.optim's param_groups): parts of a model stepped with their own learning
// rate and weight decay. Every optimizer resolves what it is given (a plain named-parameter list is
// one group) into ParameterGroups, checks it once, and steps group by group.
//
// The schedule still sets one number, `optimizer.lr = x`, every step. As a PyTorch scheduler scales
// each group's rate from that group's initial rate, a group's rate is x * groupInitialLr / baseLr,
// baseLr being the optimizer's own `lr` option. A group without an lr of its own follows x exactly.
// With baseLr 0 there is no ratio to keep: groups without an lr of their own follow x, and a group
// that names a non-zero lr is refused (give the optimizer its base rate, not the schedule's first
// value, which may be 0 at the start of a warm-up).
import { checkFiniteNumber, invalidArgument } from '../errors';
import type { Tensor } from '../tensor';
import { isNamedParameters, type OptimizerGroup } from './optimizer';

/** A part of the model with its own rates (as a torch.optim param_group). */
export interface ParamGroup {
  /** Named parameters, as module.namedParameters() gives them. */
  params: [string, Tensor][];
  /** This group's learning rate when the optimizer's lr is its base lr; default that base lr. */
  lr?: number;
  /** This group's weight decay; default the optimizer's. */
  weightDecay?: number;
}

/** What an optimizer takes: named parameters (all in one group), or groups. */
export type OptimizerParams = [string, Tensor][] | ParamGroup[];

/** A resolved group: what an optimizer steps over. */
export interface Group {
  readonly params: [string, Tensor][];
  readonly initialLr: number;
  readonly weightDecay: number;
  /** initialLr / baseLr (exactly 1 when they are equal, so that x * 1 is x bit for bit). */
  readonly lrRatio: number;
  lr: number;
}

const GROUP_KEYS = new Set(['params', 'lr', 'weightDecay']);
const EXPECTED = '[name, Tensor] pairs (module.namedParameters())';
const OR_GROUPS = '; or parameter groups: { params, lr?, weightDecay? }[]';

export class ParameterGroups {
  readonly groups: readonly Group[];
  /** Every parameter of every group, in group order. */
  readonly all: [string, Tensor][];
  #lr: number;

  /** `defaults.lr` is the base lr: what the schedule's value is relative to. */
  constructor(params: OptimizerParams, defaults: { lr: number; weightDecay: number }) {
    const baseLr = checkFiniteNumber('lr', defaults.lr, 0);
    this.#lr = baseLr;
    const given = isGroupList(params) ? params : [{ params: checkPlainList(params) }];
    this.groups = given.map((g, i) => resolveGroup(g, i, baseLr, defaults.weightDecay));
    this.all = this.groups.flatMap((g) => g.params);
    checkEachOnce(this.groups, isGroupList(params));
  }

  /** The schedule's value (the base lr until it is set). */
  get lr(): number {
    return this.#lr;
  }

  /** Sets the schedule's value; every group's rate follows it by its ratio. */
  set lr(value: number) {
    this.#lr = checkFiniteNumber('lr', value, 0);
    for (const g of this.groups) g.lr = value * g.lrRatio;
  }

  info(): OptimizerGroup[] {
    return this.groups.map((g) => Object.freeze({ parameters: Object.freeze(g.params.map(([n]) => n)), lr: g.lr, initialLr: g.initialLr, weightDecay: g.weightDecay }));
  }
}

function isGroupList(params: unknown): params is ParamGroup[] {
  return Array.isArray(params) && params.length > 0 && params.every((g) => g !== null && typeof g === 'object' && !Array.isArray(g));
}

function checkPlainList(params: unknown): [string, Tensor][] {
  if (!isNamedParameters(params)) {
    const err = invalidArgument(EXPECTED, 'params', params);
    err.message += OR_GROUPS;
    throw err;
  }
  return params;
}

function resolveGroup(g: ParamGroup, i: number, baseLr: number, defaultWeightDecay: number): Group {
  const unknown = Object.keys(g).filter((k) => !GROUP_KEYS.has(k));
  if (unknown.length > 0) throw new TypeError(`parameter group ${i} has unknown option(s) ${unknown.map((k) => `'${k}'`).join(', ')}: a group takes params, lr and weightDecay`);
  if (!isNamedParameters(g.params)) throw invalidArgument('[name, Tensor] pairs (module.namedParameters())', `params[${i}].params`, g.params);
  const initialLr = g.lr === undefined ? baseLr : checkFiniteNumber(`params[${i}].lr`, g.lr, 0);
  const weightDecay = g.weightDecay === undefined ? defaultWeightDecay : checkFiniteNumber(`params[${i}].weightDecay`, g.weightDecay, 0);
  if (baseLr === 0 && initialLr !== 0) {
    throw new RangeError(`parameter group ${i} has lr ${initialLr} but the optimizer's lr is 0: a group's rate is lr * groupLr / baseLr, so give the optimizer its base (peak) rate and let the schedule set the rest`);
  }
  // Exactly 1 for a group at the base rate: its rate is then the schedule's value, bit for bit.
  const lrRatio = initialLr === baseLr ? 1 : initialLr / baseLr;
  return { params: g.params, initialLr, weightDecay, lrRatio, lr: initialLr };
}

/** Each parameter (by name and by tensor) in one place only: its state is kept by name. */
function checkEachOnce(groups: readonly Group[], grouped: boolean): void {
  const where = (i: number) => (grouped ? `parameter group ${i}` : 'params');
  const byName = new Map<string, number>();
  const byTensor = new Map<Tensor, string>();
  groups.forEach((g, i) => {
    for (const [name, p] of g.params) {
      const seen = byName.get(name);
      if (seen === i) throw new Error(`parameter '${name}' appears twice in ${where(i)}`);
      if (seen !== undefined) throw new Error(`parameter '${name}' is in parameter groups ${seen} and ${i}: each parameter belongs to one group`);
      const alias = byTensor.get(p);
      if (alias !== undefined) throw new Error(`parameters '${alias}' and '${name}' in ${where(i)} are the same tensor`);
      byName.set(name, i);
      byTensor.set(p, name);
    }
  });
}
