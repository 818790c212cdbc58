// ResNet options and model API: stems, init schemes, zeroInitResidual, modes, loadStateDict
// (strict, skip, never half-loaded), replaceHead, freeze.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualSeed, nn, noGrad, randn, resnet18, resnet34, resnet50, type ResNet, type Tensor } from '../src/index';

const cpu = { device: 'cpu' } as const;

function std(t: Tensor): { mean: number; std: number } {
  const v = t.toArray() as Float32Array;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
}

test('stems: imagenet 7x7/2 + max-pool, cifar 3x3/1 without; output shape [N, classes]', () => {
  const imagenet = resnet18({ numClasses: 10, ...cpu });
  assert.deepEqual(imagenet.conv1.weight.shape, [64, 3, 7, 7]);
  assert.deepEqual(imagenet.conv1.options.stride, [2, 2]);
  assert.ok(imagenet.maxpool);
  const cifar = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  assert.deepEqual(cifar.conv1.weight.shape, [64, 3, 3, 3]);
  assert.deepEqual(cifar.conv1.options.stride, [1, 1]);
  assert.equal(cifar.maxpool, null);
  const x = randn([2, 3, 32, 32], cpu);
  assert.deepEqual(noGrad(() => imagenet.eval().forward(x)).shape, [2, 10]);
  assert.deepEqual(noGrad(() => cifar.eval().forward(x)).shape, [2, 10]);
  assert.equal(resnet34({ ...cpu }).numParameters(), 21_797_672);
});

test("init 'torchvision': Kaiming normal (fan_out) convs, BN 1/0; zeroInitResidual zeroes each block's last BN", () => {
  const m = resnet50({ numClasses: 10, zeroInitResidual: true, ...cpu });
  const w = m.layer3.namedParameters().find(([k]) => k === '0.conv2.weight')![1]; // [256, 256, 3, 3]
  const s = std(w);
  assert.ok(Math.abs(s.std - Math.sqrt(2 / (256 * 9))) < 0.05 * Math.sqrt(2 / (256 * 9)), `std ${s.std}`);
  const state = m.stateDict();
  assert.ok((state['layer1.0.bn1.weight'].toArray() as Float32Array).every((v) => v === 1));
  assert.ok((state['layer1.0.bn1.bias'].toArray() as Float32Array).every((v) => v === 0));
  assert.ok((state['layer1.0.bn3.weight'].toArray() as Float32Array).every((v) => v === 0), 'bn3 zeroed');
  assert.ok((state['layer2.0.downsample.1.weight'].toArray() as Float32Array).every((v) => v === 1));
  const r18 = resnet18({ zeroInitResidual: true, ...cpu }).stateDict();
  assert.ok((r18['layer4.1.bn2.weight'].toArray() as Float32Array).every((v) => v === 0), 'basic block bn2 zeroed');
});

test("init 'tutorial': conv Normal(0, 0.02), down-sample gamma Normal(1, 0.02), other gamma 1", () => {
  const state = resnet50({ numClasses: 10, init: 'tutorial', ...cpu }).stateDict();
  const conv = std(state['layer3.1.conv2.weight']);
  assert.ok(Math.abs(conv.std - 0.02) < 0.001 && Math.abs(conv.mean) < 0.001, `conv ${JSON.stringify(conv)}`);
  const gamma = std(state['layer4.0.downsample.1.weight']); // 2048 values
  assert.ok(Math.abs(gamma.mean - 1) < 0.003 && Math.abs(gamma.std - 0.02) < 0.003, `gamma ${JSON.stringify(gamma)}`);
  assert.ok((state['layer4.0.bn1.weight'].toArray() as Float32Array).every((v) => v === 1));
});

test('train()/eval() reach every BatchNorm', () => {
  const m = resnet18({ ...cpu }).eval();
  assert.ok(m.namedModules().every(([, mod]) => !mod.training));
  m.train();
  assert.ok(m.namedModules().every(([, mod]) => mod.training));
});

function smallPair(): [ResNet, ResNet] {
  return [resnet18({ numClasses: 10, stem: 'cifar', ...cpu }), resnet18({ numClasses: 10, stem: 'cifar', ...cpu })];
}

test('loadStateDict copies everything; strict errors name the keys; nothing is loaded on error', () => {
  const [a, b] = smallPair();
  assert.equal(a.loadStateDict(b.stateDict()).loaded, 122);
  assert.deepEqual(a.conv1.weight.toArray(), b.conv1.weight.toArray());

  const [c, d] = smallPair();
  const before = c.conv1.weight.toArray();
  const dict = { ...d.stateDict() };
  delete dict['layer2.0.bn1.running_var'];
  dict['extra.weight'] = d.conv1.weight;
  assert.throws(() => c.loadStateDict(dict), (e: Error) => {
    assert.equal(e.name, 'StateDictError');
    assert.match(e.message, /missing keys: layer2\.0\.bn1\.running_var/);
    assert.match(e.message, /unexpected keys: extra\.weight/);
    return true;
  });
  assert.deepEqual(c.conv1.weight.toArray(), before, 'nothing was loaded');
  const loose = c.loadStateDict(dict, { strict: false });
  assert.deepEqual(loose.missing, ['layer2.0.bn1.running_var']);
  assert.deepEqual(loose.unexpected, ['extra.weight']);
  assert.deepEqual(c.conv1.weight.toArray(), d.conv1.weight.toArray());
});

test('loadStateDict: shape and dtype mismatches name the key; skip leaves prefixes out', () => {
  const [a] = smallPair();
  const b1000 = resnet18({ stem: 'cifar', ...cpu });
  assert.throws(() => a.loadStateDict(b1000.stateDict()), /shape mismatch for fc\.weight: checkpoint \[1000, 512\], model \[10, 512\]/);
  const result = a.loadStateDict(b1000.stateDict(), { skip: ['fc.'] });
  assert.equal(result.loaded, 120);
  const bad = { ...a.stateDict(), 'bn1.running_mean': randn([64], cpu).to('int64') };
  assert.throws(() => a.loadStateDict(bad), /unsupported dtype for bn1\.running_mean: checkpoint int64, model float32/);
  // float64 / float16 sources are converted
  const half = { ...a.stateDict(), 'fc.bias': randn([10], cpu).to('float16') };
  a.loadStateDict(half);
});

test('replaceHead puts a fresh fc in place; freeze stops gradients by prefix', () => {
  const m = resnet18({ stem: 'cifar', ...cpu });
  assert.deepEqual(m.fc.weight.shape, [1000, 512]);
  const head = m.replaceHead(10);
  assert.equal(m.fc, head);
  assert.deepEqual(m.stateDict()['fc.weight'].shape, [10, 512]);
  assert.equal(Object.keys(m.stateDict()).pop(), 'fc.bias', 'fc stays last in the state dict');
  assert.equal(m.options.numClasses, 10);
  const frozen = m.freeze(['conv1.', 'bn1.', 'layer1.']);
  assert.ok(frozen.includes('conv1.weight') && frozen.includes('layer1.1.bn2.bias') && !frozen.includes('layer2.0.conv1.weight'));
  nn.functional.crossEntropy(m.train().forward(randn([2, 3, 32, 32], cpu)), randn([2], cpu).mul(0).to('int64')).backward();
  const params = Object.fromEntries(m.namedParameters());
  assert.equal(params['conv1.weight'].grad, null);
  assert.equal(params['layer1.0.conv1.weight'].grad, null);
  assert.ok(params['layer2.0.conv1.weight'].grad);
  assert.ok(params['fc.weight'].grad);
  assert.deepEqual(m.unfreeze(['conv1.']), ['conv1.weight']);
  assert.equal(params['conv1.weight'].requiresGrad, true);
});

test('bad options name the option and value', () => {
  assert.throws(() => resnet50({ numClasses: 0 }), /Expected positive integer for numClasses but received 0/);
  assert.throws(() => resnet50({ stem: 'tiny' as never }), /Expected 'imagenet' or 'cifar' for stem but received 'tiny'/);
  assert.throws(() => resnet50({ padding: 'valid' as never }), /Expected 'torch' or 'same' for padding/);
  assert.throws(() => resnet50({ init: 'xavier' as never }), /Expected 'torchvision' or 'tutorial' for init/);
});

test('channels-last weights and inputs give the same outputs and gradients', () => {
  manualSeed(0);
  const a = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  const b = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  b.loadStateDict(a.stateDict());
  b.toMemoryFormat('channels_last');
  assert.ok(b.conv1.weight.isContiguous('channels_last'));
  assert.ok(!a.conv1.weight.isContiguous('channels_last'));
  const x = randn([2, 3, 16, 16], cpu);
  const xl = x.contiguous('channels_last');
  assert.ok(xl.isContiguous('channels_last'));
  const target = randn([2], cpu).mul(0).to('int64');
  const la = nn.functional.crossEntropy(a.train().forward(x), target);
  const lb = nn.functional.crossEntropy(b.train().forward(xl), target);
  assert.ok(Math.abs(la.item() - lb.item()) < 1e-5, `${la.item()} vs ${lb.item()}`);
  la.backward();
  lb.backward();
  const ga = a.conv1.weight.grad!.contiguous().toArray() as Float32Array;
  const gb = b.conv1.weight.grad!.contiguous().toArray() as Float32Array;
  // Relative L2 error of the whole gradient (typically 1e-5): an element-wise bound fails now and
  // then, when a pre-activation within rounding of 0 lands on the other side of a ReLU in one layout.
  const norm = Math.hypot(...ga);
  const error = Math.hypot(...ga.map((v, i) => v - gb[i]));
  assert.ok(error < 1e-3 * norm, `same conv1 gradient: relative error ${error / norm}`);
  assert.throws(() => x.contiguous('nhwc' as never), /memoryFormat must be 'contiguous' or 'channels_last', got 'nhwc'/);
});

test('toHalfPrecision: convs and head in bfloat16, BatchNorm in float32; logits close to float32', () => {
  const a = resnet18({ numClasses: 10, stem: 'cifar', ...cpu }).eval();
  const b = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  b.loadStateDict(a.stateDict());
  b.toHalfPrecision('bfloat16').eval();
  const state = b.stateDict();
  assert.equal(state['conv1.weight'].dtype, 'bfloat16');
  assert.equal(state['layer4.1.conv2.weight'].dtype, 'bfloat16');
  assert.equal(state['fc.weight'].dtype, 'bfloat16');
  assert.equal(state['bn1.weight'].dtype, 'float32');
  assert.equal(state['layer1.0.bn2.running_var'].dtype, 'float32');
  assert.equal(state['bn1.num_batches_tracked'].dtype, 'int64');
  // Float32 inputs are cast to the weights' dtype. bfloat16 keeps 8 bits of mantissa: within 5%
  // of the logits' scale.
  const x = randn([2, 3, 16, 16], cpu);
  const want = noGrad(() => a.forward(x)).toArray() as Float32Array;
  const logits = noGrad(() => b.forward(x));
  assert.equal(logits.dtype, 'bfloat16');
  const got = logits.toArray() as Float32Array;
  const scale = Math.max(...want.map(Math.abs));
  assert.ok(got.every((v, i) => Math.abs(v - want[i]) < 0.05 * scale), `${got.slice(0, 4)} vs ${want.slice(0, 4)}`);
  // A new head follows the model's dtype; a float32 state dict loads into it (converted).
  assert.equal(b.replaceHead(4).weight.dtype, 'bfloat16');
  assert.throws(() => b.toHalfPrecision('int8' as never), /Expected 'float16' or 'bfloat16' for dtype but received 'int8'/);
  assert.throws(() => b.toDtype('int64' as never), /for dtype but received 'int64'/);
});
