// The ResNet family against torchvision: state-dict keys and shapes, parameter counts, and
// full-size ResNet18 / ResNet50 numbers (eval and train logits, loss, selected gradients,
// running statistics) on synthetic weights that both sides compute from the same integer hash
// (test/synthetic-weights.ts = scripts/gen_fixtures.py), so no weight file is needed.
// Tolerances (float32, 50 layers deep): eval logits and loss rtol 1e-4 / atol 1e-4; train-mode
// logits 5e-4 of the largest logit (layer4's BatchNorm normalises over only 8 values at 1x1, which
// amplifies rounding: libtorch 2.13 and 2.14.1 on one CPU differ by 1.1e-4 of it, eval by 1.5e-6);
// gradients (train-mode BatchNorm over 8 samples in every block amplifies rounding on the way
// back: early layers' heads differ by up to 7e-3 of the largest head value and sums by 1.2e-3 of
// the absolute sum between libtorch 2.13 and 2.14.1) heads atol 1e-2 of the largest head value,
// sums within 3e-3 of their absolute sums; running statistics 1e-4 / 1e-3. A wrong layer moves
// these by far more (order 1).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { nn, noGrad, resnet18, resnet50, samePadding, tensor, type ResNet, type Tensor } from '../src/index';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadSynthetic, syntheticValue } from './synthetic-weights';

interface Summary {
  shape: number[];
  head: number[];
  sum: number;
  absSum: number;
}

interface ResNetFixture {
  arch: string;
  stateDictShapes: [string, number[], string][];
  numParameters: number;
  inputShape: number[];
  inputScale: number;
  target: number[];
  evalLogits: FixtureTensor;
  trainLogits: FixtureTensor;
  loss: number;
  grads: Record<string, Summary>;
  buffersAfterTrainForward: Record<string, Summary>;
}

const FORWARD = { head: 1e-4, sum: 1e-3 };
const BACKWARD = { head: 1e-2, sum: 3e-3 };

function assertSummary(actual: Tensor, expected: Summary, what: string, tol: { head: number; sum: number }): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const flat = Array.from(actual.toArray() as ArrayLike<number | bigint>, Number);
  const scale = Math.max(...expected.head.map(Math.abs), 1e-12);
  assertClose(flat.slice(0, expected.head.length), expected.head, { rtol: 0, atol: tol.head * scale, what: `${what} (head)` });
  const sum = flat.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - expected.sum) <= tol.sum * expected.absSum + 1e-7, `${what}: sum ${sum} vs ${expected.sum} (abs sum ${expected.absSum})`);
}

function checkAgainstTorchvision(model: ResNet, fx: ResNetFixture): void {
  const shapes = Object.entries(model.stateDict()).map(([k, t]) => [k, t.shape, t.dtype]);
  assert.deepEqual(shapes, fx.stateDictShapes, 'state-dict keys, order, shapes and dtypes are torchvision\'s');
  assert.equal(model.numParameters(), fx.numParameters);
  loadSynthetic(model);
  const x = noGrad(() => syntheticValue('input', fx.inputShape).mul(fx.inputScale));
  const target = tensor(BigInt64Array.from(fx.target, BigInt), [fx.target.length], { device: 'cpu' });

  const evalLogits = noGrad(() => model.eval().forward(x));
  assertClose(evalLogits, fx.evalLogits, { rtol: 1e-4, atol: 1e-4, what: 'eval logits' });

  const trainLogits = model.train().forward(x);
  const largest = Math.max(...fx.trainLogits.values.map(Math.abs));
  assertClose(trainLogits, fx.trainLogits, { rtol: 0, atol: 5e-4 * largest, what: 'train logits' });
  const loss = nn.functional.crossEntropy(trainLogits, target);
  assertClose([loss.item()], [fx.loss], { rtol: 1e-4, what: 'loss' });
  loss.backward();
  const params = Object.fromEntries(model.namedParameters());
  for (const [key, expected] of Object.entries(fx.grads)) assertSummary(params[key].grad!, expected, `grad of ${key}`, BACKWARD);
  const buffers = Object.fromEntries(model.namedBuffers());
  for (const [key, expected] of Object.entries(fx.buffersAfterTrainForward)) assertSummary(buffers[key], expected, key, FORWARD);
}

test('ResNet50 (10 classes) matches torchvision: keys, shapes, logits, loss, gradients, running stats', () => {
  checkAgainstTorchvision(resnet50({ numClasses: 10, device: 'cpu' }), loadFixture('resnet50_synthetic.json'));
});

test('ResNet18 (10 classes) matches torchvision', () => {
  checkAgainstTorchvision(resnet18({ numClasses: 10, device: 'cpu' }), loadFixture('resnet18_synthetic.json'));
});

test("padding 'same' matches torchvision with explicit asymmetric F.pad on the stem, max-pool and stride-2 convs", () => {
  assert.deepEqual(samePadding(32, 7, 2), [2, 3]);
  assert.deepEqual(samePadding(16, 3, 2), [0, 1]);
  assert.deepEqual(samePadding(8, 3, 1), [1, 1]);
  assert.deepEqual(samePadding(32, 1, 2), [0, 0]);
  checkAgainstTorchvision(resnet50({ numClasses: 10, padding: 'same', device: 'cpu' }), loadFixture('resnet50_same_synthetic.json'));
});

test('parameter counts: 25,557,032 (1000 classes) and 23,528,522 (10 classes) for ResNet50', () => {
  assert.equal(resnet50({ device: 'cpu' }).numParameters(), 25_557_032);
  assert.equal(resnet50({ numClasses: 10, device: 'cpu' }).numParameters(), 23_528_522);
});

test('ResNet18 as a bfloat16 model with float32 BatchNorm matches torchvision converted the same way', () => {
  // Tolerance: 1% of the largest logit (about two bfloat16 steps), room for other CPUs' kernels;
  // on this project's machine libtorch 2.13 and 2.14.1 both reproduce PyTorch's values exactly.
  const fx = loadFixture<{ stateDictDtypes: [string, string][]; target: number[]; evalLogits: FixtureTensor; trainLogits: FixtureTensor; loss: number }>(
    'resnet18_bf16_synthetic.json',
  );
  const model = resnet18({ numClasses: 10, device: 'cpu' });
  loadSynthetic(model);
  model.toHalfPrecision('bfloat16');
  assert.deepEqual(Object.entries(model.stateDict()).map(([k, t]) => [k, t.dtype]), fx.stateDictDtypes, 'dtype of every state-dict entry');
  const x = noGrad(() => syntheticValue('input', [2, 3, 32, 32]).mul(2));
  const close = (actual: Tensor, expected: FixtureTensor, what: string) => {
    const scale = Math.max(...expected.values.map(Math.abs));
    assertClose(actual.to('float32'), expected, { rtol: 0, atol: 0.01 * scale, what });
  };
  close(noGrad(() => model.eval().forward(x)), fx.evalLogits, 'eval logits');
  const trainLogits = model.train().forward(x);
  close(trainLogits, fx.trainLogits, 'train logits');
  const loss = nn.functional.crossEntropy(trainLogits.to('float32'), tensor(BigInt64Array.from(fx.target, BigInt), [2], { device: 'cpu' }));
  assertClose([loss.item()], [fx.loss], { rtol: 0.01, what: 'loss' });
});
