// Loss scaling: from the same weights and batches, GradScaler over SGD follows
// torch.amp.GradScaler over torch.optim.SGD step by step (test/fixtures/grad_scaler_trajectory.json):
// the scale used and after each update (exact: powers of two), which steps are skipped (an inf and a
// NaN gradient are injected after backward on both sides), the unscaled gradients (rtol 1e-4), the
// losses (rtol 1e-5) and the final weights and momentum buffers (rtol 1e-4, atol 1e-5).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { GradScaler, SGD, autocast, cuda, nn, tensor, tidy, type Device } from '../src/index';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch } from './small-net';

interface Fixture {
  options: { initScale: number; growthFactor: number; backoffFactor: number; growthInterval: number };
  inject: Record<string, { param: string; value: string }>;
  steps: { loss: number; scaleUsed: number; scaleAfter: number; applied: boolean; unscaledFcBiasGrad: FixtureTensor | null }[];
  state: { scale: number; growthTracker: number };
  final: Record<string, FixtureTensor>;
  momentumBuffers: Record<string, FixtureTensor>;
}

const fx = loadFixture<Fixture>('grad_scaler_trajectory.json');
/** Python's float() of the fixture's strings: Number('inf') would be NaN, and the inf step would test NaN twice. */
const pythonFloat = (v: string) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v));


// On a GPU the scale and the overflow flag live there and libtorch's CUDA kernels update them.
function replayTrajectory(device: Device): void {
  const net = loadedSmallNet().to(device).train();
  const params = Object.fromEntries(net.namedParameters());
  const opt = new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  const scaler = new GradScaler(fx.options);
  fx.steps.forEach((expected, i) => {
    tidy(() => {
      const [x, y] = smallNetBatch(i, device);
      opt.zeroGrad();
      const loss = nn.functional.crossEntropy(net.forward(x), y);
      scaler.scale(loss).backward();
      const injected = fx.inject[String(i)];
      if (injected) params[injected.param].grad!.view([-1]).narrow(0, 0, 1).copy_(tensor([pythonFloat(injected.value)]).to(device));
      assert.equal(scaler.getScale(), expected.scaleUsed, `scale used at step ${i}`);
      scaler.unscale(opt);
      if (expected.unscaledFcBiasGrad) assertClose(params['fc.bias'].grad!, expected.unscaledFcBiasGrad, { rtol: 1e-4, atol: 1e-6, what: `unscaled fc.bias grad at step ${i}` });
      assert.equal(scaler.step(opt), expected.applied, `step ${i} applied`);
      scaler.update();
      assert.equal(scaler.getScale(), expected.scaleAfter, `scale after step ${i}`);
      assertClose([loss.item()], [expected.loss], { rtol: 1e-5, atol: 1e-6, what: `loss at step ${i}` });
    });
  });
  assert.deepEqual(scaler.stateDict(), fx.state);
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(fx.final)) assertClose(state[key], expected, { rtol: 1e-4, atol: 1e-5, what: `final ${key}` });
  const buffers = opt.stateDict();
  for (const [key, expected] of Object.entries(fx.momentumBuffers)) assertClose(buffers[key], expected, { rtol: 1e-4, atol: 1e-5, what: `buffer ${key}` });
  scaler.dispose();
  assert.equal(scaler.getScale(), fx.state.scale, 'dispose keeps the state');
}

test('GradScaler over SGD matches torch.amp.GradScaler step by step (skips, backoff, growth)', () => replayTrajectory('cpu'));
test('on a GPU, GradScaler matches torch.amp.GradScaler step by step', { skip: !cuda.isAvailable() && 'no CUDA device here' }, () => replayTrajectory('cuda'));

test('the scaled loss is loss * scale; a skipped step leaves weights and momentum untouched', () => {
  const net = loadedSmallNet().train();
  const opt = new SGD(net.namedParameters(), { lr: 0.1 });
  const scaler = new GradScaler({ initScale: 8 });
  const [x, y] = smallNetBatch(0);
  const loss = nn.functional.crossEntropy(net.forward(x), y);
  const scaled = scaler.scale(loss);
  assert.deepEqual(scaled.shape, loss.shape);
  assertClose([scaled.item()], [loss.item() * 8], { rtol: 1e-6, atol: 0 });
  scaled.backward();
  const before = net.stateDict()['fc.weight'].clone();
  net.namedParameters()[0][1].grad!.fill_(Infinity);
  assert.equal(scaler.step(opt), false);
  scaler.update();
  assert.equal(scaler.getScale(), 4);
  assert.deepEqual(net.stateDict()['fc.weight'].toArray(), before.toArray());
  assert.equal(Object.keys(opt.stateDict()).length, 0, 'no momentum buffers were created');
});

test('float16 autocast with loss scaling on the CPU: overflowing steps are skipped until the scale fits, then it trains', () => {
  const net = loadedSmallNet().train();
  const opt = new SGD(net.namedParameters(), { lr: 0.05 });
  // 2^24 times the loss overflows float16 in backward (max 65504): those steps must be skipped
  const scaler = new GradScaler({ initScale: 2 ** 24, growthInterval: 1000 });
  const losses: number[] = [];
  const applied: boolean[] = [];
  for (let i = 0; i < 16; i++) {
    tidy(() => {
      const [x, y] = smallNetBatch(0);
      opt.zeroGrad();
      const loss = autocast(() => nn.functional.crossEntropy(net.forward(x).to('float32'), y), { deviceType: 'cpu', dtype: 'float16' });
      scaler.scale(loss).backward();
      applied.push(scaler.step(opt));
      scaler.update();
      losses.push(loss.item());
    });
  }
  const skipped = applied.indexOf(true);
  assert.ok(skipped > 0, `the first steps overflow and are skipped: ${applied}`);
  assert.ok(applied.slice(skipped).every(Boolean), `then every step is applied: ${applied}`);
  assert.equal(scaler.getScale(), 2 ** (24 - skipped), 'halved once per skipped step');
  assert.ok(losses.slice(0, skipped + 1).every((l) => l === losses[0]), 'skipped steps change nothing');
  assert.ok(losses[15] < losses[skipped] - 0.1, `the loss falls on a repeated batch once steps apply: ${losses}`);
});

test('GradScaler refuses misuse and bad options with clear errors', () => {
  assert.throws(() => new GradScaler({ initScale: 0 }), /initScale must be a positive finite number, got 0/);
  assert.throws(() => new GradScaler({ initScale: Infinity }), /initScale must be a positive finite number, got Infinity/);
  assert.throws(() => new GradScaler({ growthFactor: 1 }), /growthFactor must be > 1, got 1/);
  assert.throws(() => new GradScaler({ backoffFactor: 1 }), /backoffFactor must be in \(0, 1\), got 1/);
  assert.throws(() => new GradScaler({ growthInterval: 0 }), /positive integer for growthInterval/);

  const net = loadedSmallNet().train();
  const opt = new SGD(net.namedParameters(), { lr: 0.1 });
  const scaler = new GradScaler();
  assert.throws(() => scaler.step(opt), /step\(\): no loss has been scaled yet: call scale\(loss\) and backward\(\) first/);
  assert.throws(() => scaler.update(), /update\(\): no loss has been scaled yet/);
  const [x, y] = smallNetBatch(0);
  scaler.scale(nn.functional.crossEntropy(net.forward(x), y)).backward();
  assert.throws(() => scaler.update(), /no gradients were checked since the last update\(\): call step\(optimizer\) first/);
  scaler.unscale(opt);
  assert.throws(() => scaler.unscale(opt), /unscale\(\) has already been called on this optimizer since the last update\(\)/);
  assert.equal(scaler.step(opt), true);
  assert.throws(() => scaler.step(opt), /step\(\) has already been called on this optimizer since the last update\(\)/);
  assert.throws(() => scaler.unscale(opt), /unscale\(\) was called after step\(\): call update\(\) first/);
  scaler.update();

  // float16 gradients (a float16 model): unscaling them would flush small values to zero
  const half = loadedSmallNet().train();
  half.toDtype('float16');
  const halfOpt = new SGD(half.namedParameters(), { lr: 0.1 });
  const [hx, hy] = smallNetBatch(0);
  const halfScaler = new GradScaler();
  halfScaler.scale(nn.functional.crossEntropy(half.forward(hx.to('float16')).to('float32'), hy)).backward();
  assert.throws(() => halfScaler.step(halfOpt), /loss scaling needs gradients wider than float16 \(as PyTorch's GradScaler\): 'conv\.weight' has a float16 gradient/);

  // state: restored before the first scale(), and checked
  const fresh = new GradScaler();
  fresh.loadStateDict({ scale: 128, growthTracker: 3 });
  assert.deepEqual(fresh.stateDict(), { scale: 128, growthTracker: 3 });
  assert.throws(() => fresh.loadStateDict({ scale: -1, growthTracker: 0 }), /scale must be a positive finite number, got -1/);
  assert.throws(() => fresh.loadStateDict({ scale: 2, growthTracker: 0.5 }), /non-negative integer for growthTracker/);
});
