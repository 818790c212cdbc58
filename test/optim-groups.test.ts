// Parameter groups: SGD, AdamW and Adam over groups with their own lr and weight decay reproduce
// torch.optim with param_groups step for step (test/fixtures/param_groups_trajectory.json, PyTorch
// 2.14.1): 100 steps of SmallNet (BatchNorm) in three groups (conv.weight | conv.bias and BatchNorm
// without weight decay | the head at 3x the lr and 2x the weight decay) under an lr that changes
// every 10 steps; each group's lr follows the schedule by its ratio to the base lr, as a PyTorch
// scheduler's. parameterGroups() splits a model as torchvision's reference set_weight_decay does
// (test/fixtures/decay_groups.json: torchvision 0.29.1's resnet18 / resnet50 and SmallNet).
// Tolerances: losses rtol 1e-5 (atol 1e-6); weights and optimizer state rtol 1e-4 (atol 1e-6 for
// weights and momentum, 1e-7 / 1e-9 for Adam's moments).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Adam, AdamW, SGD, nn, parameterGroups, resnet18, resnet50, type Optimizer, type ParamGroup, type Tensor } from '../src/index';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch, type SmallNet } from './small-net';

interface Trajectory {
  options: { momentum?: number; betas?: [number, number]; eps?: number; weight_decay: number };
  lrs: number[];
  groups: { params: string[]; lr: number; weightDecay: number }[];
  losses: number[];
  final: Record<string, FixtureTensor>;
  state: Record<string, Record<string, FixtureTensor>>;
}

const fx = loadFixture<Record<'sgd' | 'adamw' | 'adam', Trajectory>>('param_groups_trajectory.json');
const LOSS = { rtol: 1e-5, atol: 1e-6 };
const WEIGHTS = { rtol: 1e-4, atol: 1e-6 };
/** atol of the optimizer state, by its scale (capturable SGD's float32 lr moves momentum ~1e-6). */
const STATE_ATOL: Record<string, number> = { momentum_buffer: 1e-6, exp_avg: 1e-7, exp_avg_sq: 1e-9 };

/** The fixture's three groups (scripts/gen_fixtures.py param_group_fixture_groups). */
function fixtureGroups(net: SmallNet, baseLr: number, weightDecay: number): ParamGroup[] {
  const p = Object.fromEntries(net.namedParameters());
  const pick = (...names: string[]) => names.map((n): [string, Tensor] => [n, p[n]]);
  return [
    { params: pick('conv.weight') },
    { params: pick('conv.bias', 'bn.weight', 'bn.bias'), weightDecay: 0 },
    { params: pick('fc.weight', 'fc.bias'), lr: 3 * baseLr, weightDecay: 2 * weightDecay },
  ];
}

type Make = (net: SmallNet, t: Trajectory) => Optimizer;
const sgd =
  (how: 'multi-tensor' | 'per-parameter' | 'capturable'): Make =>
  (net, t) =>
    new SGD(fixtureGroups(net, t.lrs[0], t.options.weight_decay), { lr: t.lrs[0], momentum: t.options.momentum, weightDecay: t.options.weight_decay, foreach: how !== 'per-parameter', capturable: how === 'capturable' });
const adam =
  (Kind: typeof AdamW | typeof Adam): Make =>
  (net, t) =>
    new Kind(fixtureGroups(net, t.lrs[0], t.options.weight_decay), { lr: t.lrs[0], betas: t.options.betas, eps: t.options.eps, weightDecay: t.options.weight_decay });

/** Runs the trajectory (through a state-dict round trip into a fresh model and optimizer at
 * `resumeAt`), checks losses and returns the net and optimizer at the end. */
function replay(t: Trajectory, make: Make, resumeAt?: number): { net: SmallNet; opt: Optimizer } {
  let net = loadedSmallNet().train();
  let opt = make(net, t);
  t.losses.forEach((expected, i) => {
    if (i === resumeAt) {
      const copy = (d: Record<string, Tensor>) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.clone()]));
      const [weights, state] = [copy(net.stateDict()), copy(opt.stateDict())];
      opt.dispose();
      net = loadedSmallNet().train();
      net.loadStateDict(weights);
      opt = make(net, t);
      opt.loadStateDict(state);
    }
    const [x, y] = smallNetBatch(i % 8);
    opt.lr = t.lrs[i];
    opt.zeroGrad();
    const loss = nn.functional.crossEntropy(net.forward(x), y);
    loss.backward();
    opt.step();
    assertClose([loss.item()], [expected], { ...LOSS, what: `loss at step ${i}` });
  });
  return { net, opt };
}

function checkEnd(t: Trajectory, { net, opt }: { net: SmallNet; opt: Optimizer }, statePrefix: (kind: string, name: string) => string): void {
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(t.final)) assertClose(state[key], expected, { ...WEIGHTS, what: `final ${key}` });
  const saved = opt.stateDict();
  for (const [kind, byName] of Object.entries(t.state)) {
    for (const [name, expected] of Object.entries(byName)) assertClose(saved[statePrefix(kind, name)], expected, { rtol: 1e-4, atol: STATE_ATOL[kind], what: `${kind} ${name}` });
  }
  // the groups as torch.optim has them after the last step: members, rates, weight decay
  const groups = opt.groups;
  assert.deepEqual(groups.map((g) => g.parameters), t.groups.map((g) => g.params));
  assert.deepEqual(groups.map((g) => g.weightDecay), t.groups.map((g) => g.weightDecay));
  assertClose(groups.map((g) => g.lr), t.groups.map((g) => g.lr), { rtol: 1e-15, atol: 0, what: 'group lrs' });
}

const sgdKey = (_kind: string, name: string) => name;
const adamKey = (kind: string, name: string) => `${kind}.${name}`;

for (const how of ['multi-tensor', 'per-parameter', 'capturable'] as const) {
  test(`SGD over three parameter groups matches torch.optim.SGD over 100 steps with a changing lr (${how})`, () => checkEnd(fx.sgd, replay(fx.sgd, sgd(how)), sgdKey));
}
test('AdamW over three parameter groups matches torch.optim.AdamW over 100 steps', () => checkEnd(fx.adamw, replay(fx.adamw, adam(AdamW)), adamKey));
test("Adam (L2 form) over parameter groups matches torch.optim.Adam", () => checkEnd(fx.adam, replay(fx.adam, adam(Adam)), adamKey));

test('with groups, a run resumed from the state dicts at step 37 ends bit for bit where the whole run does (SGD, AdamW)', () => {
  for (const [t, make, key] of [[fx.sgd, sgd('multi-tensor'), sgdKey], [fx.adamw, adam(AdamW), adamKey]] as const) {
    const whole = replay(t, make).net.stateDict();
    const resumed = replay(t, make, 37);
    checkEnd(t, resumed, key);
    const end = resumed.net.stateDict();
    for (const key of Object.keys(whole)) assert.deepEqual(end[key].toArray(), whole[key].toArray(), `${key} equal`);
  }
});

test("the schedule's lr scales each group from its own initial lr; a plain list is one group following it exactly", () => {
  const net = loadedSmallNet();
  const opt = new SGD(fixtureGroups(net, 0.1, 0.01), { lr: 0.1, weightDecay: 0.01 });
  assert.deepEqual(opt.groups.map((g) => [g.initialLr, g.lr, g.weightDecay]), [[0.1, 0.1, 0.01], [0.1, 0.1, 0], [3 * 0.1, 3 * 0.1, 0.02]]);
  opt.lr = 0.05;
  assert.equal(opt.lr, 0.05);
  assert.deepEqual(opt.groups.map((g) => g.lr), [0.05, 0.05, 0.05 * ((3 * 0.1) / 0.1)]);
  const plain = new AdamW(net.namedParameters(), { lr: 0.7 });
  assert.equal(plain.groups.length, 1);
  assert.deepEqual(plain.groups[0].parameters, ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'fc.weight', 'fc.bias']);
  plain.lr = 0.1; // 0.1 * 0.7 / 0.7 is 0.09999999999999999; the ratio 1 keeps the rate exact
  assert.equal(plain.groups[0].lr, 0.1);
  // base lr 0: no ratio to keep; groups without an lr follow the schedule, one with an lr is refused
  const zero = new SGD([{ params: net.namedParameters() }], { lr: 0 });
  zero.lr = 0.2;
  assert.equal(zero.groups[0].lr, 0.2);
  assert.throws(() => new AdamW(fixtureGroups(net, 0.1, 0), { lr: 0 }), /parameter group 2 has lr 0\.30000000000000004 but the optimizer's lr is 0: a group's rate is lr \* groupLr \/ baseLr/);
  assert.throws(() => (opt.lr = -1), /for lr but received -1/);
  // a read-only snapshot
  assert.ok(Object.isFrozen(opt.groups[0]) && Object.isFrozen(opt.groups[0].parameters));
});

test('bad groups are refused, naming the group and the parameter', () => {
  const net = loadedSmallNet();
  const [conv, bias] = net.namedParameters();
  for (const Kind of [SGD, AdamW, Adam]) {
    assert.throws(() => new Kind([{ params: [conv], momentum: 0.5 } as never]), /parameter group 0 has unknown option\(s\) 'momentum': a group takes params, lr and weightDecay/);
    assert.throws(() => new Kind([{ params: [conv] }, { params: [['x', 3]] } as never]), /Expected \[name, Tensor\] pairs \(module\.namedParameters\(\)\) for params\[1\]\.params but received/);
    assert.throws(() => new Kind([{ params: [conv, bias, conv] }]), /parameter 'conv\.weight' appears twice in parameter group 0/);
    assert.throws(() => new Kind([{ params: [conv] }, { params: [bias] }, { params: [bias] }]), /parameter 'conv\.bias' is in parameter groups 1 and 2: each parameter belongs to one group/);
    assert.throws(() => new Kind([{ params: [conv] }, { params: [['alias', conv[1]]] }]), /parameters 'conv\.weight' and 'alias' in parameter group 1 are the same tensor/);
    assert.throws(() => new Kind([conv, conv]), /parameter 'conv\.weight' appears twice in params/);
    assert.throws(() => new Kind([{ params: [conv], lr: -1 }]), /Expected finite number from 0 to 3\.4e38 \(float32\) for params\[0\]\.lr but received -1/);
    assert.throws(() => new Kind([{ params: [conv], weightDecay: NaN }]), /for params\[0\]\.weightDecay but received NaN/);
    assert.throws(() => new Kind([{ params: [conv] }, conv] as never), /Expected \[name, Tensor\] pairs \(module\.namedParameters\(\)\) for params .*; or parameter groups/);
  }
  // a state for a parameter in no group is still refused by name
  const opt = new SGD([{ params: [conv] }], { lr: 0.1 });
  assert.throws(() => opt.loadStateDict({ 'conv.bias': bias[1] }), /'conv\.bias', which is not an optimised parameter/);
});

interface DecayGroups {
  models: Record<string, { noWeightDecayOn: ('norm' | 'bias')[]; groups: { params: string[]; weightDecay: number }[] }[]>;
  weightDecay: number;
}

test("parameterGroups() puts each parameter where torchvision's reference set_weight_decay does, in its order (resnet18, resnet50, SmallNet)", () => {
  const fixture = loadFixture<DecayGroups>('decay_groups.json');
  const models: Record<string, () => nn.Module> = { resnet18: () => resnet18({ numClasses: 10, device: 'cpu' }), resnet50: () => resnet50({ numClasses: 10, device: 'cpu' }), smallNet: () => loadedSmallNet() };
  for (const [name, cases] of Object.entries(fixture.models)) {
    const model = models[name]();
    for (const c of cases) {
      const groups = parameterGroups(model, { weightDecay: fixture.weightDecay, noWeightDecayOn: c.noWeightDecayOn });
      const summary = groups.map((g) => ({ params: g.params.map(([n]) => n), weightDecay: g.weightDecay }));
      assert.deepEqual(summary, c.groups, `${name}, no weight decay on [${c.noWeightDecayOn}]`);
      // and an optimizer takes them as they are
      const opt = new SGD(groups, { lr: 0.1, weightDecay: 0.5 });
      assert.deepEqual(opt.groups.map((g) => g.weightDecay), c.groups.map((g) => g.weightDecay));
      opt.dispose();
    }
    model.dispose();
  }
});

test('parameterGroups() refuses bad options; frozen parameters stay in their group', () => {
  const net = loadedSmallNet();
  assert.throws(() => parameterGroups(net, { weightDecay: 1e-4, noWeightDecayOn: ['norms' as never] }), /Expected an array of 'norm' and \/ or 'bias' for noWeightDecayOn but received/);
  assert.throws(() => parameterGroups(net, { weightDecay: -1, noWeightDecayOn: [] }), /for weightDecay but received -1/);
  net.bn.parameters().forEach((p) => (p.requiresGrad = false));
  const groups = parameterGroups(net, { weightDecay: 1e-4, noWeightDecayOn: ['norm'] });
  assert.deepEqual(groups[1].params.map(([n]) => n), ['bn.weight', 'bn.bias']);
  // a custom class list: here the head counts as a "norm" layer
  const custom = parameterGroups(net, { weightDecay: 1e-4, noWeightDecayOn: ['norm'], normClasses: [nn.Linear] });
  assert.deepEqual(custom[1].params.map(([n]) => n), ['fc.weight', 'fc.bias']);
});
