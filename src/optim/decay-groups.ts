// No weight decay on normalisation layers and biases: the parameter groups of torchvision's
// classification reference (utils.set_weight_decay with --norm-weight-decay 0 and / or
// --bias-weight-decay 0). A parameter named 'bias' goes to the bias group (checked first, as the
// reference's custom keys are); another parameter of a normalisation layer (decided by the module's
// class, as the reference's isinstance) to the norm group; the rest keep the weight decay. Groups
// come in the reference's order (others, norm, bias), each in model order; empty ones are left out.
import { checkFiniteNumber, invalidArgument } from '../errors';
import { BatchNorm2d } from '../nn/layers';
import type { Module } from '../nn/module';
import type { Tensor } from '../tensor';
import type { ParamGroup } from './param-groups';

export type NoWeightDecayOn = 'norm' | 'bias';

export interface ParameterGroupsOptions {
  /** The weight decay of every other parameter. */
  weightDecay: number;
  /** Which parameters get weight decay 0: 'norm' (those of normalisation layers), 'bias'. */
  noWeightDecayOn: readonly NoWeightDecayOn[];
  /** The module classes that are normalisation layers; default [nn.BatchNorm2d] (the only one here). */
  normClasses?: (abstract new (...args: never[]) => Module)[];
}

/**
 * `module`'s named parameters split into parameter groups for an optimizer, as torchvision's
 * reference script does. Unlike it, frozen parameters stay in their group (an optimizer skips
 * parameters without a gradient, so the numbers are the same; unfreezing later then trains them).
 */
export function parameterGroups(module: Module, options: ParameterGroupsOptions): ParamGroup[] {
  const weightDecay = checkFiniteNumber('weightDecay', options?.weightDecay, 0);
  const off = checkNoWeightDecayOn(options.noWeightDecayOn);
  const normClasses = options.normClasses ?? [BatchNorm2d];
  const owners = new Map(module.namedModules());
  const split: Record<'other' | NoWeightDecayOn, [string, Tensor][]> = { other: [], norm: [], bias: [] };
  for (const entry of module.namedParameters()) {
    const cut = entry[0].lastIndexOf('.');
    const ownName = entry[0].slice(cut + 1);
    const owner = owners.get(cut < 0 ? '' : entry[0].slice(0, cut))!;
    if (off.has('bias') && ownName === 'bias') split.bias.push(entry);
    else if (off.has('norm') && normClasses.some((c) => owner instanceof c)) split.norm.push(entry);
    else split.other.push(entry);
  }
  const groups: ParamGroup[] = [
    { params: split.other, weightDecay },
    { params: split.norm, weightDecay: 0 },
    { params: split.bias, weightDecay: 0 },
  ];
  return groups.filter((g) => g.params.length > 0);
}

function checkNoWeightDecayOn(value: unknown): Set<NoWeightDecayOn> {
  if (!Array.isArray(value) || !value.every((v) => v === 'norm' || v === 'bias')) {
    throw invalidArgument("an array of 'norm' and / or 'bias'", 'noWeightDecayOn', value);
  }
  return new Set(value as NoWeightDecayOn[]);
}
