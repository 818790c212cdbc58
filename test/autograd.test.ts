// Autograd: requiresGrad, backward, grad accumulation, detach, noGrad/enableGrad scopes.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { autocast, enableGrad, inferenceMode, isGradEnabled, isInferenceMode, nn, noGrad, randn, randint, setAllowTF32, setCudnnBenchmark, setTF32, tensor } from '../src/index';
import { native } from '../src/native';
import { assertClose } from './helpers';

const cpu = { device: 'cpu' } as const;

test('backward computes d(sum(x*x + 3x))/dx = 2x + 3 and accumulates', () => {
  const x = tensor([1, -2, 0.5], [3], { ...cpu, requiresGrad: true });
  assert.equal(x.requiresGrad, true);
  assert.equal(x.isLeaf, true);
  assert.equal(x.grad, null);
  const y = x.mul(x).add(x.mul(3)).sum();
  assert.equal(y.requiresGrad, true);
  assert.equal(y.isLeaf, false);
  y.backward();
  assertClose(x.grad!, [5, -1, 4], { what: 'first gradient' });
  x.mul(2).sum().backward(); // accumulates: +2
  assertClose(x.grad!, [7, 1, 6], { what: 'accumulated gradient' });
  x.clearGrad();
  assert.equal(x.grad, null);
});

test('backward with an explicit gradient and retainGraph', () => {
  const x = tensor([1, 2], [2], { ...cpu, requiresGrad: true });
  const y = x.mul(x);
  y.backward(tensor([1, 10], [2], cpu), { retainGraph: true });
  assertClose(x.grad!, [2, 40]);
  y.backward(tensor([1, 1], [2], cpu));
  assertClose(x.grad!, [4, 44]);
  assert.throws(() => y.backward(tensor([1, 1], [2], cpu)), /backward through the graph a second time/);
});

test('detach cuts the graph; requiresGrad can be toggled', () => {
  const x = tensor([1, 2], [2], cpu).requiresGrad_();
  const d = x.mul(2).detach();
  assert.equal(d.requiresGrad, false);
  x.requiresGrad = false;
  assert.equal(x.mul(2).requiresGrad, false);
});

test('noGrad records nothing, nests with enableGrad and restores the mode, even on throw', () => {
  const x = tensor([1, 2], [2], { ...cpu, requiresGrad: true });
  assert.equal(isGradEnabled(), true);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    const inner = enableGrad(() => x.mul(2));
    assert.equal(inner.requiresGrad, true);
    assert.equal(isGradEnabled(), false);
    return x.mul(2);
  });
  assert.equal(y.requiresGrad, false);
  assert.equal(isGradEnabled(), true);
  assert.throws(() => noGrad(() => { throw new Error('boom'); }), /boom/);
  assert.equal(isGradEnabled(), true);
  assert.throws(() => noGrad((async () => 1) as never), /synchronous function/);
  assert.equal(isGradEnabled(), true);
});

test('in-place updates of parameters are allowed under noGrad, refused outside', () => {
  const p = tensor([1, 2], [2], { ...cpu, requiresGrad: true });
  assert.throws(() => p.add_(1), /leaf Variable that requires grad is being used in an in-place operation/);
  noGrad(() => p.add_(1));
  assert.deepEqual(p.toList(), [2, 3]);
});

test('inferenceMode records nothing, nests, restores on throw; its tensors cannot join autograd later', () => {
  const w = tensor([1, 2], [2], { ...cpu, requiresGrad: true });
  assert.equal(isInferenceMode(), false);
  const y = inferenceMode(() => {
    assert.equal(isInferenceMode(), true);
    assert.equal(isGradEnabled(), false);
    return inferenceMode(() => w.mul(3));
  });
  assert.equal(isInferenceMode(), false);
  assert.equal(isGradEnabled(), true);
  assert.equal(y.requiresGrad, false);
  assert.deepEqual(y.toList(), [3, 6]);
  assert.throws(() => w.mul(y).sum().backward(), /Inference tensors cannot be saved for backward/);
  assert.throws(() => inferenceMode(() => { throw new Error('boom'); }), /boom/);
  assert.equal(isInferenceMode(), false);
  const r = tensor([-1, 2], [2], cpu);
  assert.equal(r.relu_(), r);
  assert.deepEqual(r.toList(), [0, 2]);
});

test('autocast runs convolutions and linear layers in bfloat16, losses in float32, and restores the mode', () => {
  const conv = new nn.Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, ...cpu });
  const fc = new nn.Linear({ inFeatures: 8, outFeatures: 5, ...cpu });
  const x = randn([4, 3, 8, 8], cpu);
  const y = randint(0, 5, [4], cpu);
  const run = () => {
    const h = conv.forward(x);
    const logits = fc.forward(nn.functional.adaptiveAvgPool2d(h, 1).flatten(1));
    return { h, logits, loss: nn.functional.crossEntropy(logits, y) };
  };
  const full = noGrad(run);
  const mixed = noGrad(() => autocast(run, { deviceType: 'cpu', dtype: 'bfloat16' }));
  assert.equal(mixed.h.dtype, 'bfloat16');
  assert.equal(mixed.logits.dtype, 'bfloat16');
  assert.equal(mixed.loss.dtype, 'float32', 'cross-entropy autocasts to float32');
  assert.equal(full.h.dtype, 'float32');
  assert.ok(Math.abs(mixed.loss.item() - full.loss.item()) < 0.05 * Math.abs(full.loss.item()), 'bf16 result close to float32');
  assert.deepEqual(native.setAutocast('cpu', false, 'bfloat16'), [false, 'bfloat16'], 'autocast was off again afterwards');
  assert.throws(() => autocast(() => { throw new Error('boom'); }, { deviceType: 'cpu' }), /boom/);
  assert.deepEqual(native.setAutocast('cpu', false, 'bfloat16')[0], false);
  assert.throws(() => native.setAutocast('tpu' as never, true, 'bfloat16'), /deviceType must be 'cpu' or 'cuda'/);
  // process-wide CUDA switches round-trip (harmless on the CPU)
  const before = setCudnnBenchmark(true);
  assert.equal(setCudnnBenchmark(before), true);
  // TensorFloat-32 starts as in PyTorch (convolutions yes, matrix products no); both switches round-trip
  const tf32 = setTF32({ matmul: true, convolutions: false });
  assert.deepEqual(tf32, { matmul: false, convolutions: true });
  assert.deepEqual(setTF32(tf32), { matmul: true, convolutions: false });
  assert.equal(setAllowTF32(true), false);
  assert.deepEqual(setTF32(tf32), { matmul: true, convolutions: true });
  assert.throws(() => setTF32({ matmul: 'yes' as never, convolutions: true }), /matmul/);
  assert.throws(() => setTF32(null as never), /Expected an object \{ matmul, convolutions \} for settings but received null/);
  assert.deepEqual(setTF32(tf32), tf32, 'a refused call changed nothing');
});
