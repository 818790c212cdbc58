// AdamW and Adam on libtorch's multi-tensor kernels reproduce torch.optim.AdamW / Adam (foreach)
// step for step: 100 steps of a small net with BatchNorm and a changing learning rate
// (test/fixtures/adamw_trajectory.json, written by scripts/gen_fixtures.py with PyTorch 2.14.1).
// Tolerance: losses rtol 1e-5; weights and state rtol 1e-4, atol 1e-6 (float32).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Adam, AdamW, checkTrainOptions, memory, nn, ones, readCheckpoint, runTraining, type Tensor, type TrainOptions } from '../src/index';
import * as fe from '../src/foreach';
import { native } from '../src/native';
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

test('train with AdamW: the checkpoint keeps its state, and a run resumed after epoch 1 ends exactly where the whole run does', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rn-adamw-'));
  try {
    const options: TrainOptions = { arch: 'resnet18', optimizer: 'adamw', lr: 1e-3, betas: [0.85, 0.995], eps: 1e-7, batchSize: 8, epochs: 2, maxStepsPerEpoch: 3, device: 'cpu', syntheticSize: { train: 48, test: 16 }, curves: false };
    const whole = await runTraining({ ...options, checkpointDir: path.join(tmp, 'whole') }, { onLine: () => {} });
    const first = await runTraining({ ...options, epochs: 1, checkpointDir: path.join(tmp, 'resumed') }, { onLine: () => {} });
    const resumed = await runTraining({ ...options, checkpointDir: path.join(tmp, 'resumed'), resume: first.lastCheckpoint }, { onLine: () => {} });
    const a = readCheckpoint(whole.lastCheckpoint);
    const b = readCheckpoint(resumed.lastCheckpoint);
    assert.equal(a.meta.config.optimizer, 'adamw');
    assert.equal(Object.keys(a.optimizer).length, 62 * 3, 'exp_avg, exp_avg_sq and step for each of 62 parameters');
    assert.equal(a.optimizer['step.fc.bias'].item(), 6);
    for (const key of Object.keys(a.model)) assert.deepEqual(b.model[key].toArray(), a.model[key].toArray(), `${key} equal`);
    for (const key of Object.keys(a.optimizer)) assert.deepEqual(b.optimizer[key].toArray(), a.optimizer[key].toArray(), `state ${key} equal`);
    // resuming with another optimizer, or from SGD's state, is refused by name
    await assert.rejects(runTraining({ ...options, optimizer: 'sgd', checkpointDir: path.join(tmp, 'other'), resume: first.lastCheckpoint }, { onLine: () => {} }), /it was trained with optimizer "adamw" and this run has "sgd": pass the same --optimizer/);
    await assert.rejects(runTraining({ ...options, optimizer: 'adamw', cudaGraph: true }), /cudaGraph/);
    assert.throws(() => checkTrainOptions({ optimizer: 'adamw', nesterov: true, device: 'cpu' }), /nesterov \(--nesterov\) is SGD's, and the optimizer is adamw/);
    assert.throws(() => checkTrainOptions({ optimizer: 'lamb' as never, device: 'cpu' }), /'sgd', 'adamw' or 'adam' for optimizer/);
    assert.throws(() => checkTrainOptions({ optimizer: 'adamw', betas: [1, 0.9], device: 'cpu' }), /two numbers from 0 to below 1 for betas/);
    assert.equal(checkTrainOptions({ optimizer: 'adamw', device: 'cpu' }).weightDecay, 0.01, "AdamW's default weight decay");
    assert.equal(checkTrainOptions({ device: 'cpu' }).weightDecay, 0, "SGD's (the tutorial's) default weight decay");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the multi-tensor kernels behind AdamW refuse mismatched lists and non-tensors with an error, never a crash', () => {
  const a = ones([3]);
  const b = ones([4]);
  assert.throws(() => fe.foreachLerp_([a], [], 0.5), /Error|size|length|match/i);
  assert.throws(() => fe.foreachAddcmul_([a], [b], [b], 1), /size|match|broadcast/i);
  assert.throws(() => fe.foreachAddcdiv_([a, a], [a], [a], 1), /Error|size|length|match/i);
  assert.throws(() => native.ops.foreachSqrt([3] as never), /Expected a Tensor for 'tensors\[0\]'/);
  assert.throws(() => native.ops.foreachDivScalar_([a.handle], 'x' as never), /Expected a number for 'scalar'/);
  assert.throws(() => native.ops.foreachAddScalar_('x' as never, 1), /Expected an array/i);
  // the kernels added for clipping and the weights EMA: norm, copy, multiply by a tensor factor
  assert.throws(() => fe.foreachCopy_([a], [b]), /size|match|broadcast|expand/i);
  assert.throws(() => fe.foreachCopy_([a, a], [a]), /Error|size|length|match/i);
  assert.throws(() => native.ops.foreachNorm([a.handle], 'x' as never), /Expected a number/);
  assert.throws(() => native.ops.foreachNorm([3] as never, 2), /Expected a Tensor for 'tensors\[0\]'/);
  assert.throws(() => fe.foreachMul_([a], ones([2])), /Error|size|scalar|0-dim|element/i);
  fe.foreachDiv_([a], 2);
  assert.deepEqual(a.toList(), [0.5, 0.5, 0.5], 'the lists are updated in place');
});
