// Gradient clipping: clipGradNorm follows torch.nn.utils.clip_grad_norm_ (foreach) before each step
// of SGD and AdamW over 100 distinct batches where it clips on most steps, with the 2-norm and the
// inf-norm; and between the loss scaler's unscale and step (optim/grad-scaler.ts step()), where a
// step with an inf or NaN gradient is still skipped (test/fixtures/clip_grad_trajectory.json,
// PyTorch 2.14.1). Tolerances: losses rtol 1e-5 (atol 1e-6); total norms and weights rtol 1e-4
// (atol 1e-6).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW, GradScaler, SGD, clipGradNorm, memory, nn, ones, tensor, tidy, type Optimizer, type Tensor } from '../src/index';
import { backward, step } from '../src/optim/grad-scaler';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch, type SmallNet } from './small-net';

interface Run {
  maxNorm: number;
  normType: number | string;
  losses: number[];
  totalNorms: number[];
  clippedSteps: number;
  final: Record<string, FixtureTensor>;
}
interface ScaledRun {
  maxNorm: number;
  options: { initScale: number; growthFactor: number; backoffFactor: number; growthInterval: number };
  inject: Record<string, { param: string; value: string }>;
  steps: { loss: number; totalNorm: number | string; scaleUsed: number; scaleAfter: number; applied: boolean }[];
  final: Record<string, FixtureTensor>;
}

const fx = loadFixture<{ sgd: Run; adamw: Run; sgdInfNorm: Run; scaler: ScaledRun }>('clip_grad_trajectory.json');
const LOSS = { rtol: 1e-5, atol: 1e-6 };
const CLOSE = { rtol: 1e-4, atol: 1e-6 };

/** Python's str() of a float ('inf', 'nan', '1.5') as a number (Number('inf') would be NaN). */
const pythonFloat = (text: string) => ({ inf: Infinity, '-inf': -Infinity })[text] ?? Number(text);

function checkFinal(net: SmallNet, final: Record<string, FixtureTensor>): void {
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(final)) assertClose(state[key], expected, { ...CLOSE, what: `final ${key}` });
}

/** `clip(net, opt)` clips after backward and returns the total norm; the step follows. */
function replay(run: Run, makeOpt: (net: SmallNet) => Optimizer, clip: (net: SmallNet, opt: Optimizer) => Tensor): void {
  assert.ok(run.clippedSteps >= run.losses.length / 3, 'the fixture clips on many steps');
  const net = loadedSmallNet().train();
  const opt = makeOpt(net);
  run.losses.forEach((expected, i) =>
    tidy(() => {
      const [x, y] = smallNetBatch(i);
      opt.zeroGrad();
      const loss = nn.functional.crossEntropy(net.forward(x), y);
      loss.backward();
      const norm = clip(net, opt);
      opt.step();
      assertClose([loss.item()], [expected], { ...LOSS, what: `loss at step ${i}` });
      assertClose([norm.item()], [run.totalNorms[i]], { ...CLOSE, what: `total norm at step ${i}` });
    }),
  );
  checkFinal(net, run.final);
}

test('clipGradNorm(parameters) before each SGD step matches clip_grad_norm_ over 100 steps (clips 87 of them)', () =>
  replay(fx.sgd, (net) => new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 }), (net) => clipGradNorm(net.namedParameters(), fx.sgd.maxNorm)));

test('clipping through step(optimizer, null, { clipGradNorm }) with AdamW matches PyTorch over 100 steps', () => {
  const net = loadedSmallNet().train();
  const opt = new AdamW(net.namedParameters(), { lr: 0.01 });
  fx.adamw.losses.forEach((expected, i) =>
    tidy(() => {
      const [x, y] = smallNetBatch(i);
      const loss = nn.functional.crossEntropy(net.forward(x), y);
      backward(loss, null);
      const { applied, gradNorm } = step(opt, null, { clipGradNorm: fx.adamw.maxNorm });
      assert.equal(applied, true);
      assert.equal(net.namedParameters()[0][1].grad, null, 'step() drops the gradients');
      assertClose([loss.item()], [expected], { ...LOSS, what: `loss at step ${i}` });
      assertClose([gradNorm!.item()], [fx.adamw.totalNorms[i]], { ...CLOSE, what: `total norm at step ${i}` });
    }),
  );
  checkFinal(net, fx.adamw.final);
});

test('the inf-norm (the largest gradient magnitude) clips as PyTorch', () =>
  replay(fx.sgdInfNorm, (net) => new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 }), (net) => clipGradNorm(net.parameters(), fx.sgdInfNorm.maxNorm, { normType: Infinity })));

test('with the loss scaler: unscale, clip, step; steps with an inf or NaN gradient are skipped, their norm inf / NaN', () => {
  const run = fx.scaler;
  const net = loadedSmallNet().train();
  const params = Object.fromEntries(net.namedParameters());
  const opt = new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 });
  const scaler = new GradScaler(run.options);
  run.steps.forEach((expected, i) =>
    tidy(() => {
      const [x, y] = smallNetBatch(i);
      const loss = nn.functional.crossEntropy(net.forward(x), y);
      backward(loss, scaler);
      const injected = run.inject[String(i)];
      if (injected) params[injected.param].grad!.view([-1]).narrow(0, 0, 1).copy_(tensor([pythonFloat(injected.value)]));
      assert.equal(scaler.getScale(), expected.scaleUsed, `scale used at step ${i}`);
      const { applied, gradNorm } = step(opt, scaler, { clipGradNorm: run.maxNorm });
      assert.equal(applied, expected.applied, `step ${i} applied`);
      assert.equal(scaler.getScale(), expected.scaleAfter, `scale after step ${i}`);
      const norm = gradNorm!.item();
      if (typeof expected.totalNorm === 'string') assert.equal(String(norm), expected.totalNorm === 'inf' ? 'Infinity' : 'NaN', `norm at step ${i}`);
      else assertClose([norm], [expected.totalNorm], { ...CLOSE, what: `total norm at step ${i}` });
      assertClose([loss.item()], [expected.loss], { ...LOSS, what: `loss at step ${i}` });
    }),
  );
  checkFinal(net, run.final);
});

test('clipGradNorm: only above maxNorm, gradients or parameters, no gradient at all, nothing left behind', () => {
  const a = ones([4], { requiresGrad: true });
  const b = ones([3], { requiresGrad: true });
  tidy(() => a.mul(3).sum().add(b.mul(4).sum()).backward()); // grads 3s and 4s: norm sqrt(36 + 48)
  const before = memory().tensors;
  const norm = clipGradNorm([a, b], 100);
  assert.equal(memory().tensors, before + 1, 'only the returned norm is new');
  assertClose([norm.item()], [Math.sqrt(84)], { rtol: 1e-6, atol: 0 });
  assert.deepEqual(a.grad!.toList(), [3, 3, 3, 3], 'under maxNorm: unchanged (the coefficient is clamped to 1)');
  clipGradNorm({ gradients: [a.grad!, b.grad!] }, 1);
  assertClose([clipGradNorm([a, b], 1e9).item()], [1], { rtol: 1e-5, atol: 0, what: 'clipped to norm 1' });
  const frozen = ones([2]);
  const none = clipGradNorm([['w', frozen]], 1);
  assert.equal(none.item(), 0, 'no gradient: norm 0');
  assert.deepEqual(none.shape, []);
});

test('clipGradNorm refuses bad arguments by name; errorIfNonfinite throws instead of scaling by an inf norm', () => {
  const p = ones([2], { requiresGrad: true });
  tidy(() => p.mul(2).sum().backward());
  assert.throws(() => clipGradNorm([p], -1), /Expected number >= 0 for maxNorm but received -1/);
  assert.throws(() => clipGradNorm([p], NaN), /for maxNorm but received NaN/);
  for (const normType of [0, -2, NaN, '2'] as never[]) assert.throws(() => clipGradNorm([p], 1, { normType }), /Expected a positive number or Infinity for normType/);
  assert.throws(() => clipGradNorm([3] as never, 1), /Expected parameters \(Tensors or \[name, Tensor\] pairs\) or \{ gradients \} for target/);
  assert.throws(() => clipGradNorm({ gradients: [p, 'x'] } as never, 1), /for target/);
  assert.throws(() => clipGradNorm([p], 1, { errorIfNonfinite: 'yes' as never }), /Expected boolean for errorIfNonfinite/);
  p.grad!.fill_(Infinity);
  assert.throws(() => clipGradNorm([p], 1, { errorIfNonfinite: true }), /the total norm of order 2 of the gradients is Infinity, so they cannot be clipped/);
  assert.deepEqual(p.grad!.toList(), [Infinity, Infinity], 'nothing scaled');
  assert.equal(clipGradNorm([p], 1).item(), Infinity);
  assert.ok((p.grad!.toList() as number[]).every(Number.isNaN), 'without the check: scaled by 1 / inf as PyTorch (inf * 0 is NaN)');
  // step() with clipping after a manual unscale: the scaler says it was already unscaled
  const net = loadedSmallNet().train();
  const opt = new SGD(net.namedParameters(), { lr: 0.1 });
  const scaler = new GradScaler();
  const [x, y] = smallNetBatch(0);
  backward(nn.functional.crossEntropy(net.forward(x), y), scaler);
  scaler.unscale(opt);
  assert.throws(() => step(opt, scaler, { clipGradNorm: 1 }), /unscale\(\) has already been called on this optimizer/);
});
