// Conv2d / BatchNorm2d / Linear wrap libtorch's modules: names, shapes, init, modes, devices.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { nn, noGrad, randn, type Tensor } from '../src/index';

const cpu = { device: 'cpu' } as const;

test('Conv2d: PyTorch parameter names, shapes and output size', () => {
  const conv = new nn.Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 7, stride: 2, padding: 3, bias: false, ...cpu });
  assert.deepEqual(conv.namedParameters().map(([n, t]) => [n, t.shape]), [['weight', [8, 3, 7, 7]]]);
  assert.equal(conv.bias, null);
  assert.deepEqual(conv.forward(randn([2, 3, 32, 32], cpu)).shape, [2, 8, 16, 16]);
  const grouped = new nn.Conv2d({ inChannels: 4, outChannels: 8, kernelSize: [3, 1], groups: 2, dilation: 2, ...cpu });
  assert.deepEqual(grouped.weight.shape, [8, 2, 3, 1]);
  assert.deepEqual(grouped.bias!.shape, [8]);
  assert.deepEqual(grouped.forward(randn([1, 4, 10, 10], cpu)).shape, [1, 8, 6, 10]);
  // PyTorch's default init: kaiming_uniform(a=sqrt(5)) -> |w| <= 1/sqrt(fan_in)
  const bound = 1 / Math.sqrt(3 * 7 * 7);
  assert.ok((conv.weight.toArray() as Float32Array).every((v) => Math.abs(v) <= bound + 1e-7));
});

test('BatchNorm2d: gamma 1, beta 0, running stats, train vs eval', () => {
  const bn = new nn.BatchNorm2d({ numFeatures: 3, ...cpu });
  const state = bn.stateDict();
  assert.deepEqual(Object.keys(state), ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
  assert.deepEqual(state.weight.toList(), [1, 1, 1]);
  assert.deepEqual(state.bias.toList(), [0, 0, 0]);
  assert.equal(bn.training, true);
  const x = randn([8, 3, 4, 4], cpu).mul(3).add(2);
  const y = noGrad(() => bn.forward(x));
  // train mode normalises with batch statistics: per-channel mean ~0
  assert.ok((y.mean([0, 2, 3]).toArray() as Float32Array).every((m) => Math.abs(m) < 1e-5));
  assert.equal(state.num_batches_tracked.item(), 1);
  const batchMean = x.mean([0, 2, 3]).toArray() as Float32Array;
  const running = state.running_mean.toArray() as Float32Array;
  running.forEach((r, i) => assert.ok(Math.abs(r - 0.1 * batchMean[i]) < 1e-5, 'running mean = 0.1 * batch mean'));
  bn.eval();
  assert.equal(bn.training, false);
  const before = state.running_mean.toArray();
  noGrad(() => bn.forward(x));
  assert.deepEqual(state.running_mean.toArray(), before, 'eval mode leaves running stats alone');
  const noStats = new nn.BatchNorm2d({ numFeatures: 3, trackRunningStats: false, affine: false, ...cpu });
  assert.deepEqual(noStats.stateDict(), {});
  assert.throws(() => new nn.BatchNorm2d({ numFeatures: 0 }), /Expected positive integer for numFeatures but received 0/);
});

test('functional batchNorm computes what the BatchNorm2d module computes', () => {
  const bn = new nn.BatchNorm2d({ numFeatures: 3, ...cpu });
  const x = randn([4, 3, 5, 5], cpu);
  const s = bn.stateDict();
  noGrad(() => {
    s.weight.copy_(randn([3], cpu));
    s.bias.copy_(randn([3], cpu));
  });
  const mean = s.running_mean.clone();
  const variance = s.running_var.clone();
  const viaModule = noGrad(() => bn.forward(x));
  const viaFunction = noGrad(() =>
    nn.functional.batchNorm(x, { runningMean: mean, runningVar: variance, weight: s.weight, bias: s.bias, training: true, momentum: 0.1, eps: 1e-5 }),
  );
  const diff = viaModule.sub(viaFunction).toArray() as Float32Array;
  assert.ok(diff.every((d) => Math.abs(d) < 1e-6), 'same outputs');
  const runDiff = s.running_var.sub(variance).toArray() as Float32Array;
  assert.ok(runDiff.every((d) => Math.abs(d) < 1e-6), 'same running variance update');
  // eval: (x - mean) / sqrt(var + eps) * w + b with the given statistics
  const evalOut = nn.functional.batchNorm(x, { runningMean: mean, runningVar: variance, training: false });
  const manual = x.sub(mean.reshape([1, 3, 1, 1])).div(variance.add(1e-5).sqrt().reshape([1, 3, 1, 1]));
  const evalDiff = evalOut.sub(manual).toArray() as Float32Array;
  assert.ok(evalDiff.every((d) => Math.abs(d) < 1e-5), 'eval-mode formula');
});

test('Linear: weight [out, in], bias, forward', () => {
  const fc = new nn.Linear({ inFeatures: 2048, outFeatures: 10, ...cpu });
  assert.deepEqual(fc.weight.shape, [10, 2048]);
  assert.deepEqual(fc.bias!.shape, [10]);
  assert.equal(fc.numParameters(), 20490);
  assert.deepEqual(fc.forward(randn([4, 2048], cpu)).shape, [4, 10]);
});

test('Sequential names children 0, 1, ... and train()/eval() reach every layer', () => {
  const net = new nn.Sequential(
    new nn.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, ...cpu }),
    new nn.BatchNorm2d({ numFeatures: 2, ...cpu }),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear({ inFeatures: 2, outFeatures: 3, ...cpu }),
  );
  assert.deepEqual(Object.keys(net.stateDict()), [
    '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked',
    '5.weight', '5.bias',
  ]);
  net.eval();
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  const bn = net.at(1) as nn.BatchNorm2d;
  const stats = bn.stateDict().num_batches_tracked;
  noGrad(() => net.forward(randn([2, 1, 5, 5], cpu)));
  assert.equal(stats.item(), 0, 'eval-mode BatchNorm did not count a batch');
  net.train();
  noGrad(() => net.forward(randn([2, 1, 5, 5], cpu)));
  assert.equal(stats.item(), 1);
});

test('a TypeScript module with its own parameters; zeroGrad clears gradients', () => {
  class Scale extends nn.Module {
    readonly s: Tensor = this.registerParameter('s', randn([1], cpu).requiresGrad_());
    forward(x: Tensor): Tensor {
      return x.mul(this.s);
    }
  }
  const m = new Scale();
  m.forward(randn([3], cpu)).sum().backward();
  assert.ok(m.s.grad);
  m.zeroGrad();
  assert.equal(m.s.grad, null);
  assert.throws(() => (m as unknown as { registerParameter(n: string, t: Tensor): void }).registerParameter('s', m.s), /'s' is already registered/);
});

test('option errors name the option and the value', () => {
  assert.throws(() => new nn.Conv2d({ inChannels: 3, outChannels: 6, kernelSize: 0 }), /Expected an integer >= 1 or a pair of them for kernelSize but received 0/);
  assert.throws(() => new nn.Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, groups: 2 }), /divisible by groups/);
  assert.throws(() => new nn.Linear({ inFeatures: 1.5, outFeatures: 2 }), /Expected positive integer for inFeatures but received 1.5 of type number/);
  assert.throws(() => new nn.Linear({ inFeatures: 1, outFeatures: 2, device: 'tpu' as never }), /for device but received 'tpu'/);
});
