// AdamW and Adam on libtorch's multi-tensor kernels reproduce torch.optim.AdamW / Adam (foreach)
// step for step: 100 steps of a small net with BatchNorm and a changing learning rate
// (test/fixtures/adamw_trajectory.json, written by scripts/gen_fixtures.py with PyTorch 2.14.1).
// Tolerance: losses rtol 1e-5; weights and state rtol 1e-4, atol 1e-6 (float32).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Adam, AdamW, memory, nn, type Tensor } from '../src/index';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch } from './small-net';

interface Trajectory {
  options: { betas: [number, number]; eps: number; weight_decay: number };
  lrs: number[];
  losses: number[];
  final: Record<string, FixtureTensor>;
  expAvg: Record<string, FixtureTensor>;
  expAvgSq: Record<string, FixtureTensor>;
  step: number;
}

const fx = loadFixture<Record<string, Trajectory>>('adamw_trajectory.json');

function replay(t: Trajectory, Optimizer: typeof AdamW | typeof Adam, resumeAt?: number): void {
  let net = loadedSmallNet().train();
  const make = () => new Optimizer(net.namedParameters(), { lr: t.lrs[0], betas: t.options.betas, eps: t.options.eps, weightDecay: t.options.weight_decay });
  let opt = make();
  t.losses.forEach((expectedLoss, i) => {
    if (i === resumeAt) {
      // what a checkpoint keeps, into a fresh model and optimizer
      const weights = Object.fromEntries(Object.entries(net.stateDict()).map(([k, v]) => [k, v.clone()]));
      const state = Object.fromEntries(Object.entries(opt.stateDict()).map(([k, v]) => [k, v.clone()]));
      opt.dispose();
      net = loadedSmallNet().train();
      net.loadStateDict(weights);
      opt = make();
      opt.loadStateDict(state);
    }
    const [x, y] = smallNetBatch(i % 8);
    opt.lr = t.lrs[i];
    opt.zeroGrad();
    const loss = nn.functional.crossEntropy(net.forward(x), y);
    loss.backward();
    opt.step();
    assertClose([loss.item()], [expectedLoss], { rtol: 1e-5, atol: 1e-6, what: `loss at step ${i}` });
  });
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(t.final)) assertClose(state[key], expected, { rtol: 1e-4, atol: 1e-6, what: `final ${key}` });
  const saved = opt.stateDict();
  for (const [key, expected] of Object.entries(t.expAvg)) assertClose(saved[`exp_avg.${key}`], expected, { rtol: 1e-4, atol: 1e-7, what: `exp_avg ${key}` });
  for (const [key, expected] of Object.entries(t.expAvgSq)) assertClose(saved[`exp_avg_sq.${key}`], expected, { rtol: 1e-4, atol: 1e-9, what: `exp_avg_sq ${key}` });
  assert.equal(saved['step.fc.bias'].item(), t.step);
  opt.dispose();
}

test('AdamW matches torch.optim.AdamW over 100 steps (decoupled weight decay 0.01, lr changing every 10 steps)', () => replay(fx.adamw, AdamW));
test('AdamW with other betas, eps and weight decay matches PyTorch', () => replay(fx.adamwBetas, AdamW));
test("Adam (L2 weight decay in the gradient) matches torch.optim.Adam", () => replay(fx.adam, Adam));
test('AdamW resumed from its state dict mid-run ends exactly where the uninterrupted run does', () => replay(fx.adamw, AdamW, 37));

test('AdamW refuses bad options and state, naming them; dispose frees its state', () => {
  const net = loadedSmallNet();
  const params = net.namedParameters();
  assert.throws(() => new AdamW(params, { betas: [0.9, 1] }), /Expected two numbers from 0 to below 1 for betas but received \[0\.9 of type number, 1 of type number\]/);
  assert.throws(() => new AdamW(params, { eps: -1 }), /for eps but received -1/);
  assert.throws(() => new AdamW(params, { lr: Infinity }), /for lr/);
  assert.throws(() => new AdamW([['x', 3]] as never), /\[name, Tensor\] pairs/);
  const opt = new AdamW(params);
  assert.equal(opt.weightDecay, 0.01, "AdamW's default weight decay is PyTorch's");
  assert.equal(new Adam(params).weightDecay, 0, "Adam's is 0");
  const [x, y] = smallNetBatch(0);
  nn.functional.crossEntropy(net.forward(x), y).backward();
  opt.step();
  const state = opt.stateDict();
  const conv: Tensor = state['exp_avg.conv.weight'];
  assert.throws(() => opt.loadStateDict({ 'exp_avg.nope': conv }), /'exp_avg\.nope' for 'nope', which is not an optimised parameter/);
  assert.throws(() => opt.loadStateDict({ 'momentum_buffer.conv.weight': conv }), /expected exp_avg\.<parameter>/);
  assert.throws(() => opt.loadStateDict({ 'exp_avg.fc.bias': conv }), /'exp_avg\.fc\.bias' has shape \[6, 3, 3, 3\], expected \[5\]/);
  assert.throws(() => opt.loadStateDict({ 'exp_avg.conv.weight': conv }), /state for 'conv\.weight' lacks exp_avg_sq, step/);
  const before = memory().tensors;
  opt.dispose();
  assert.ok(memory().tensors < before, 'dispose() freed the state tensors');
  assert.throws(() => opt.step(), /disposed/);
});
