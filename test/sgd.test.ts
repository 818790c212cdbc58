// Trajectory parity: from the same initial weights and the same fixed batches, N steps of our SGD
// with the tutorial's schedule give the same losses, parameters, running statistics and momentum
// buffers as torch.optim.SGD (test/fixtures/sgd_trajectory.json). Tolerance: float32, rtol 1e-4,
// atol 1e-5 (losses rtol 1e-5).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { SGD, cosineDecayLr, nn, stepDecayLr, tensor, warmupCosineLr } from '../src/index';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch } from './small-net';
import { syntheticValue } from './synthetic-weights';

interface Trajectory {
  sgd: { momentum: number; nesterov?: boolean; weight_decay?: number; dampening?: number };
  lrs: number[];
  losses: number[];
  final: Record<string, FixtureTensor>;
  momentumBuffers: Record<string, FixtureTensor>;
}

const fx = loadFixture<Record<string, Trajectory>>('sgd_trajectory.json');

type UpdatePath = 'multi-tensor' | 'per-parameter' | 'capturable';

function replay(t: Trajectory, how: UpdatePath): void {
  const net = loadedSmallNet().train();
  const opt = new SGD(net.namedParameters(), {
    lr: t.lrs[0],
    momentum: t.sgd.momentum,
    nesterov: t.sgd.nesterov ?? false,
    weightDecay: t.sgd.weight_decay ?? 0,
    dampening: t.sgd.dampening ?? 0,
    foreach: how !== 'per-parameter',
    capturable: how === 'capturable',
  });
  t.losses.forEach((expectedLoss, i) => {
    const [x, y] = smallNetBatch(i);
    opt.lr = t.lrs[i];
    opt.zeroGrad();
    const loss = nn.functional.crossEntropy(net.forward(x), y);
    loss.backward();
    opt.step();
    assertClose([loss.item()], [expectedLoss], { rtol: 1e-5, atol: 1e-6, what: `loss at step ${i}` });
  });
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(t.final)) assertClose(state[key], expected, { rtol: 1e-4, atol: 1e-5, what: `final ${key}` });
  const buffers = opt.stateDict();
  for (const [key, expected] of Object.entries(t.momentumBuffers)) assertClose(buffers[key], expected, { rtol: 1e-4, atol: 1e-5, what: `buffer ${key}` });
}

// 'capturable' keeps the (changing) learning rate in a tensor, as a replayed CUDA graph needs.
for (const how of ['multi-tensor', 'per-parameter', 'capturable'] as const) {
  test(`momentum 0.9 with the tutorial's cosine schedule matches torch.optim.SGD step by step (${how})`, () => replay(fx.tutorial, how));
  test(`Nesterov with weight decay matches torch.optim.SGD (${how})`, () => replay(fx.nesterovWeightDecay, how));
  test(`dampening matches torch.optim.SGD (${how})`, () => replay(fx.dampening, how));
}

test('cosineDecayLr reproduces the tutorial: constant per epoch, 5 epochs of 196 steps', () => {
  const lrs = cosineDecayLr(1e-5, 1e-3, 196 * 5, 196, 5);
  assert.equal(lrs.length, 980);
  const perEpoch = [0, 196, 392, 588, 784].map((i) => lrs[i]);
  // the recipe prints six significant digits
  assertClose(perEpoch, [0.001, 0.000905463, 0.000657963, 0.000352037, 0.000104537], { rtol: 5e-6, atol: 1e-12 });
  assert.equal(lrs[195], lrs[0]);
  assert.equal(lrs[979], lrs[784]);
  assertClose(cosineDecayLr(0.01, 0.1, 6, 2, 3), fx.tutorial.lrs, { rtol: 1e-12, atol: 0, what: 'the fixture schedule' });
});

test('warm-up cosine and step decay schedules', () => {
  const w = warmupCosineLr(0, 1, 10, 2);
  assertClose(w.slice(0, 3), [0.5, 1, 1], { atol: 1e-12 });
  assert.ok(w[9] < 0.05 && w.every((v, i) => i < 2 || i === 2 || v <= w[i - 1]));
  assert.deepEqual(stepDecayLr(1, 0.1, 2, 6, 1).map((v) => +v.toFixed(6)), [1, 1, 0.1, 0.1, 0.01, 0.01]);
});

test('SGD options are checked; momentum buffers save and restore', () => {
  const net = loadedSmallNet();
  assert.throws(() => new SGD(net.namedParameters(), { lr: -1 }), /Expected finite number from 0 to 3.4e38 \(float32\) for lr but received -1/);
  for (const lr of [1e39, Infinity, NaN]) assert.throws(() => new SGD(net.namedParameters(), { lr }), /Expected finite number from 0 to 3.4e38 \(float32\) for lr/);
  assert.throws(() => new SGD(net.namedParameters(), { momentum: 1e300 }), /for momentum but received 1e\+300/);
  assert.throws(() => new SGD(net.namedParameters(), { nesterov: true, momentum: 0 }), /Nesterov momentum needs momentum > 0/);
  assert.throws(() => new SGD(net.namedParameters(), { capturable: true, foreach: false }), /capturable SGD needs foreach: true/);
  assert.throws(() => new SGD([], { capturable: true }), /capturable SGD needs at least one parameter/);
  assert.throws(() => (new SGD(net.namedParameters(), { capturable: true }).lr = -1), /Expected finite number from 0 to 3.4e38 \(float32\) for lr but received -1/);
  const opt = new SGD(net.namedParameters(), { lr: 0.1 });
  nn.functional.crossEntropy(net.forward(syntheticValue('batch0', [4, 3, 8, 8])), tensor(new BigInt64Array(4), [4], { device: 'cpu' })).backward();
  opt.step();
  const saved = opt.stateDict();
  assert.equal(Object.keys(saved).length, 6);
  const other = new SGD(net.namedParameters(), { lr: 0.1 });
  other.loadStateDict(saved);
  assert.deepEqual(other.stateDict()['conv.weight'].toArray(), saved['conv.weight'].toArray());
  assert.throws(() => other.loadStateDict({ nope: saved['conv.weight'] }), /buffer for 'nope', which is not an optimised parameter/);
  assert.throws(() => other.loadStateDict({ 'fc.bias': saved['conv.weight'] }), /optimizer buffer 'fc\.bias' has shape \[6, 3, 3, 3\], parameter \[5\]/);
});
