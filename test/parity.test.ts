// conv -> batchnorm -> relu -> max-pool -> linear -> cross-entropy: forward output, loss, every
// gradient and the running statistics match PyTorch's on the same weights and input.
// Reference: test/fixtures/small_net.json, written by scripts/gen_fixtures.py with PyTorch.
// Tolerance: float32 throughout; rtol 1e-4 and atol 1e-5 (gradients atol 1e-5, loss 1e-5 relative).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { nn, noGrad } from '../src/index';
import { assertClose, fromFixture, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet } from './small-net';

const F = nn.functional;

interface SmallNetFixture {
  state: Record<string, FixtureTensor>;
  input: FixtureTensor;
  target: FixtureTensor;
  trainLogits: FixtureTensor;
  loss: number;
  'lossLabelSmoothing0.1': number;
  grads: Record<string, FixtureTensor>;
  inputGrad: FixtureTensor;
  buffersAfterTrainForward: Record<string, FixtureTensor>;
  evalLogits: FixtureTensor;
}

const fx = loadFixture<SmallNetFixture>('small_net.json');
const loadedNet = loadedSmallNet;

test('train-mode forward, loss and every gradient match PyTorch', () => {
  const net = loadedNet().train();
  const x = fromFixture(fx.input, { requiresGrad: true });
  const target = fromFixture(fx.target);
  const logits = net.forward(x);
  assertClose(logits, fx.trainLogits, { what: 'train logits' });
  const loss = F.crossEntropy(logits, target);
  assertClose([loss.item()], [fx.loss], { rtol: 1e-5, what: 'loss' });
  loss.backward();
  const params = Object.fromEntries(net.namedParameters());
  assert.deepEqual(Object.keys(params).sort(), Object.keys(fx.grads).sort());
  for (const [name, expected] of Object.entries(fx.grads)) {
    const grad = params[name].grad;
    assert.ok(grad, `${name} has a gradient`);
    assertClose(grad, expected, { rtol: 1e-4, atol: 1e-5, what: `grad of ${name}` });
  }
  assertClose(x.grad!, fx.inputGrad, { what: 'input gradient' });
  const buffers = Object.fromEntries(net.namedBuffers());
  for (const [name, expected] of Object.entries(fx.buffersAfterTrainForward)) {
    assertClose(buffers[name], expected, { what: `buffer ${name}` });
  }
  const smoothed = F.crossEntropy(logits.detach(), target, { labelSmoothing: 0.1 });
  assertClose([smoothed.item()], [fx['lossLabelSmoothing0.1']], { rtol: 1e-5, what: 'label-smoothed loss' });
});

test('eval-mode forward uses running statistics as PyTorch does', () => {
  const net = loadedNet();
  const x = fromFixture(fx.input);
  // One train-mode forward updates the running stats, as in the fixture, then eval.
  noGrad(() => net.train().forward(x));
  const logits = noGrad(() => net.eval().forward(x));
  assertClose(logits, fx.evalLogits, { what: 'eval logits' });
});
