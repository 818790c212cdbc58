// CUDA against the CPU (GPU only; CI has none, bench/gpu.sh runs these on a lent GPU machine):
// the same ResNet with the same weights and inputs gives the same outputs, gradients, SGD update
// and BatchNorm statistics on both devices in float32 (TensorFloat-32 off for the comparison;
// tolerances below), bf16 autocast with channels-last stays near the float32 result, a
// GPU-resident DataLoader produces the CPU loader's batches, and the server and Classifier on the
// GPU answer what the model says on the CPU.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import {
  CHECKPOINT_FORMAT,
  Classifier,
  DataLoader,
  createServer,
  inferenceMode,
  modelFromCheckpoint,
  saveCheckpoint,
  SGD,
  autocast,
  cuda,
  manualSeed,
  nn,
  noGrad,
  randint,
  randn,
  resnet18,
  setTF32,
  syntheticDataset,
  tidy,
  trainTransforms,
  type Device,
  type Prediction,
  type Tensor,
} from '../src/index';
import { assertClose, tempDir } from './helpers';

const DEVICE: Device = 'cuda';
const skip = !cuda.isAvailable() && 'no CUDA device here';

/** Tolerance scaled by the tensor's own magnitude: fp32 reductions summed in another order differ
 * by a few ulps of the largest terms, not of each element. */
function assertNear(actual: Tensor, expected: Tensor, what: string, rel = 1e-4): void {
  const values = Array.from(expected.to('cpu').toArray() as Float32Array);
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const scale = values.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);
  assertClose(Array.from(actual.to('cpu').toArray() as Float32Array), values, { rtol: rel, atol: rel * scale, what });
}

test('on a GPU, a ResNet gives the CPU results: outputs, loss, gradients, SGD update, BatchNorm statistics (float32, TF32 off)', { skip }, () => {
  const previous = setTF32({ matmul: false, convolutions: false });
  try {
    manualSeed(3);
    const cpuNet = resnet18({ numClasses: 10, device: 'cpu' }).train();
    const gpuNet = resnet18({ numClasses: 10, device: 'cpu' });
    gpuNet.loadStateDict(cpuNet.stateDict());
    gpuNet.to(DEVICE).train();
    const x = randn([8, 3, 32, 32]);
    const y = randint(0, 10, [8]);
    const step = (net: typeof cpuNet, device: Device) => {
      const opt = new SGD(net.namedParameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
      const logits = net.forward(x.to(device));
      const loss = nn.functional.crossEntropy(logits, y.to(device));
      loss.backward();
      const grads = new Map(net.namedParameters().map(([name, p]) => [name, p.grad!.to('cpu')]));
      opt.step();
      return { logits: logits.to('cpu'), loss: loss.item(), grads };
    };
    const a = step(cpuNet, 'cpu');
    const b = step(gpuNet, DEVICE);
    assertNear(b.logits, a.logits, 'logits');
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(a.loss), `loss: CPU ${a.loss}, ${DEVICE} ${b.loss}`);
    assert.equal(b.grads.size, a.grads.size);
    for (const [name, g] of a.grads) assertNear(b.grads.get(name)!, g, `gradient of ${name}`, 1e-3);
    const after = gpuNet.stateDict();
    for (const [name, value] of Object.entries(cpuNet.stateDict())) {
      if (value.dtype === 'int64') assert.equal(after[name].to('cpu').item(), value.item(), name);
      else assertNear(after[name], value, `${name} after one step`, 1e-4);
    }
    // Evaluation mode with the updated running statistics.
    cpuNet.eval();
    gpuNet.eval();
    noGrad(() => assertNear(gpuNet.forward(x.to(DEVICE)), cpuNet.forward(x), 'eval-mode logits after the step'));
  } finally {
    setTF32(previous);
  }
});

test('on a GPU, bf16 autocast with channels-last stays near the float32 CPU result', { skip }, () => {
  manualSeed(4);
  const cpuNet = resnet18({ numClasses: 10, device: 'cpu' }).eval();
  const gpuNet = resnet18({ numClasses: 10, device: 'cpu' });
  gpuNet.loadStateDict(cpuNet.stateDict());
  gpuNet.to(DEVICE).toMemoryFormat('channels_last').eval();
  const x = randn([8, 3, 32, 32]);
  const expected = noGrad(() => cpuNet.forward(x));
  const mixed = noGrad(() => autocast(() => gpuNet.forward(x.to(DEVICE).contiguous('channels_last')), { deviceType: 'cuda', dtype: 'bfloat16' }));
  assert.equal(mixed.dtype, 'bfloat16', 'autocast ran the head in bfloat16');
  // bfloat16 keeps 8 bits of mantissa: 18 layers of it stay within a few percent of the scale.
  assertNear(mixed.to('float32'), expected, 'bf16 logits', 0.05);
  const top = (t: Tensor) => Array.from(t.argmax(1).to('cpu').toArray() as BigInt64Array, Number);
  const agree = top(mixed.to('float32')).filter((c, i) => c === top(expected)[i]).length;
  assert.ok(agree >= 6, `bf16 and float32 agree on the top class of ${agree} of 8 images`);
});

test('on a GPU, a GPU-resident DataLoader augments to the CPU loader batches', { skip }, () => {
  const set = syntheticDataset('train', { size: 40, seed: 1 });
  const make = (device: Device) => new DataLoader(set, { batchSize: 16, seed: 7, transform: trainTransforms(), device });
  const onCpu = make('cpu');
  const onGpu = make(DEVICE);
  try {
    for (const epoch of [0, 1]) {
      for (let i = 0; i < onCpu.length; i++) {
        tidy(() => {
          const a = onCpu.batch(epoch, i);
          const b = onGpu.batch(epoch, i);
          assert.equal(b.images.device, 'cuda:0');
          assert.deepEqual(Array.from(b.indices), Array.from(a.indices));
          assert.deepEqual(Array.from(b.labels.to('cpu').toArray() as BigInt64Array), Array.from(a.labels.toArray() as BigInt64Array));
          assertNear(b.images, a.images, `epoch ${epoch} batch ${i} images`, 1e-5);
        });
      }
    }
  } finally {
    onCpu.dispose();
    onGpu.dispose();
    set.images.dispose();
    set.labels.dispose();
  }
});

test('on a GPU, the server and Classifier answer what the model says on the CPU', { skip }, async () => {
  manualSeed(5);
  const checkpoint = path.join(tempDir('rn-cuda-serve-'), 'resnet18.safetensors');
  const net = resnet18({ numClasses: 10, stem: 'cifar', device: 'cpu' });
  const classNames = Array.from({ length: 10 }, (_, i) => `class ${i}`);
  saveCheckpoint(checkpoint, net, {
    format: CHECKPOINT_FORMAT, version: 1, arch: 'resnet18', numClasses: 10, stem: 'cifar', padding: 'torch', imageSize: 32,
    mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], classNames, epoch: 0, step: 0, accuracy: null, bestAccuracy: -1, config: {},
  } as never);
  net.dispose();
  const x = randn([4, 3, 32, 32]);
  const cpu = modelFromCheckpoint(checkpoint, 'cpu').model.eval();
  const expected = inferenceMode(() => cpu.forward(x));
  // cuDNN convolutions use TF32 by default (as in PyTorch): about 1e-3 of the scale
  const server = await createServer({ models: { m: checkpoint }, device: 'cuda' });
  const url = await server.listen({ port: 0 });
  try {
    const res = await fetch(`${url}/v2/models/m/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [4, 3, 32, 32], data: Array.from(x.toArray() as Float32Array) }], outputs: [{ name: 'logits' }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const logits = ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0].data;
    const want = Array.from(expected.toArray() as Float32Array);
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);
    assertClose(logits, want, { rtol: 1e-2, atol: 1e-2 * scale, what: 'server logits on cuda' });
  } finally {
    await server.close();
  }
  // raw pixels through the Classifier's own preprocessing, on each device
  const pixels = Array.from({ length: 3 }, (_, i) => ({ data: Uint8Array.from({ length: 32 * 32 * 3 }, (_, k) => (k * (7 + i)) % 256), width: 32, height: 32, channels: 3 as const }));
  const onCpu = await Classifier.load(checkpoint, { device: 'cpu' });
  const onGpu = await Classifier.load(checkpoint, { device: 'cuda' });
  try {
    const [a, b] = [await onCpu.classify(pixels), await onGpu.classify(pixels)] as Prediction[][];
    b.forEach((p, i) => {
      // the same class, or (a near tie that TF32 can flip) one the CPU gives the same probability
      const there = a[i].top.find((t) => t.index === p.index);
      assert.ok(there && Math.abs(there.probability - a[i].probability) < 1e-2, `image ${i}: class ${p.index} on cuda, ${a[i].index} on cpu`);
      assert.ok(Math.abs(p.probability - a[i].probability) < 1e-2, `image ${i}: ${p.probability} on cuda, ${a[i].probability} on cpu`);
    });
  } finally {
    await onCpu.close();
    await onGpu.close();
  }
});
