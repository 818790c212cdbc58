// Weights files: safetensors (read Python's, write ours, atomically), MindSpore .ckpt written by an
// independent protobuf encoder (Python protobuf, scripts/gen_fixtures.py), format detection,
// loadWeights errors, and factories starting from weights with a new head.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  BasicBlock,
  detectWeightsFormat,
  loadWeights,
  mindsporeToTorchName,
  nn,
  noGrad,
  randn,
  memory,
  readSafetensors,
  readSafetensorsFile,
  readWeights,
  resnet18,
  saveWeights,
  tensor,
  zeros,
  type Tensor,
} from '../src/index';
import { assertClose, loadFixture, type FixtureTensor, tempDir } from './helpers';
import { syntheticValue } from './synthetic-weights';

const cpu = { device: 'cpu' } as const;
const fixture = (...p: string[]) => path.join(__dirname, 'fixtures', ...p);
const tmp = tempDir('rn-weights-');

test('reads a safetensors file written by the safetensors Python package', () => {
  const fx = loadFixture<{ state: Record<string, FixtureTensor> }>('small_net.json');
  const { tensors, metadata } = readSafetensors(fs.readFileSync(fixture('small_net.safetensors')));
  assert.deepEqual(metadata, { source: 'gen_fixtures.py' });
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(fx.state).sort());
  for (const [key, expected] of Object.entries(fx.state)) assertClose(tensors[key], expected, { rtol: 0, atol: 0, what: key });
  assert.equal(tensors['bn.num_batches_tracked'].dtype, 'int64');
});

test('writes safetensors that read back exactly, every dtype, with an aligned header', () => {
  const dict: Record<string, Tensor> = {
    f32: randn([3, 4], cpu),
    f16: randn([5], cpu).to('float16'),
    bf16: randn([2, 2], cpu).to('bfloat16'),
    f64: randn([2], { ...cpu, dtype: 'float64' }),
    i64: tensor(new BigInt64Array([-(2n ** 40n), 7n]), [2], cpu),
    u8: tensor(new Uint8Array([0, 255]), [2], cpu),
    bool: tensor(new Uint8Array([1, 0]), [2], cpu).to('bool'),
    transposed: randn([3, 5], cpu).transpose(0, 1),
    scalar: tensor([2.5], [], cpu),
  };
  const file = path.join(tmp, 'all.safetensors');
  saveWeights(dict, file, { note: 'test' });
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0, 'data starts 8-byte aligned');
  const back = readSafetensors(bytes);
  assert.deepEqual(back.metadata, { note: 'test' });
  for (const [key, t] of Object.entries(dict)) {
    assert.equal(back.tensors[key].dtype, t.dtype, key);
    assert.deepEqual(back.tensors[key].shape, t.shape, key);
    assert.deepEqual(back.tensors[key].to('float64').toArray(), t.to('float64').contiguous().toArray(), key);
  }
  assert.equal(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')).length, 0, 'no temporary file left');
});

test('safetensors errors: truncated data, bad header, unsupported dtype', () => {
  const good = fs.readFileSync(fixture('small_net.safetensors'));
  assert.throws(() => readSafetensors(good.subarray(0, good.length - 10), 'cut.safetensors'), /cut\.safetensors: tensor '.*' .* \(truncated or corrupt\)/);
  const badJson = Buffer.from(good);
  badJson[9] = 0x00;
  assert.throws(() => readSafetensors(badJson, 'bad.safetensors'), /bad\.safetensors has a corrupt header/);
  const header = JSON.stringify({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } });
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  assert.throws(() => readSafetensors(Buffer.concat([prefix, Buffer.from(header), Buffer.alloc(8)]), 'c64.safetensors'), /tensor 'x' has unsupported dtype "C64"/);
});

test('a save killed at any moment leaves the previous file whole', async () => {
  const file = path.join(tmp, 'model.safetensors');
  const script = `
    const { saveWeights, full } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'index.js'))});
    const big = (v) => ({ w: full([8_000_000], v, { device: 'cpu' }) });
    saveWeights(big(1), ${JSON.stringify(file)});
    process.stdout.write('ready\\n');
    for (let i = 2; ; i++) saveWeights(big(i), ${JSON.stringify(file)});
  `;
  for (const delay of [30, 120, 250]) {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const { tensors } = readSafetensors(fs.readFileSync(file), 'model.safetensors');
    const values = tensors.w.toArray() as Float32Array;
    assert.equal(values.length, 8_000_000);
    assert.ok(values.every((v) => v === values[0]), 'one whole version, not a mix');
    tensors.w.dispose();
  }
});

test('MindSpore names map to torchvision names', () => {
  assert.equal(mindsporeToTorchName('norm.gamma'), 'bn1.weight');
  assert.equal(mindsporeToTorchName('norm.moving_variance'), 'bn1.running_var');
  assert.equal(mindsporeToTorchName('layer3.4.norm2.beta'), 'layer3.4.bn2.bias');
  assert.equal(mindsporeToTorchName('layer2.0.down_sample.1.moving_mean'), 'layer2.0.downsample.1.running_mean');
  assert.equal(mindsporeToTorchName('layer2.0.down_sample.0.weight'), 'layer2.0.downsample.0.weight');
  assert.equal(mindsporeToTorchName('fc.weight'), 'fc.weight');
});

class TinyResNet extends nn.Module {
  conv1 = this.registerModule('conv1', new nn.Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, bias: false, ...cpu }));
  bn1 = this.registerModule('bn1', new nn.BatchNorm2d({ numFeatures: 8, ...cpu }));
  layer1 = this.registerModule(
    'layer1',
    new nn.Sequential(
      new BasicBlock(
        8,
        8,
        1,
        new nn.Sequential(new nn.Conv2d({ inChannels: 8, outChannels: 8, kernelSize: 1, bias: false, ...cpu }), new nn.BatchNorm2d({ numFeatures: 8, ...cpu })),
        { padding: 'torch', device: 'cpu' },
      ),
    ),
  );
  fc = this.registerModule('fc', new nn.Linear({ inFeatures: 8, outFeatures: 10, ...cpu }));
  forward(x: Tensor): Tensor {
    const h = this.layer1.forward(this.bn1.forward(this.conv1.forward(x)).relu());
    return this.fc.forward(nn.functional.adaptiveAvgPool2d(h, 1).flatten(1));
  }
}

test('a MindSpore .ckpt from an independent protobuf encoder loads and reproduces torch logits', () => {
  const fx = loadFixture<{ evalLogits: FixtureTensor }>('mindspore_tiny_resnet.json');
  const file = fixture('mindspore', 'tiny_resnet.ckpt');
  assert.equal(detectWeightsFormat(fs.readFileSync(file)), 'mindspore');
  const net = new TinyResNet();
  const result = loadWeights(net, file);
  assert.equal(result.format, 'mindspore');
  assert.deepEqual(result.missing, []);
  assert.equal(net.conv1.weight.dtype, 'float32', 'Float16 content converted to the model dtype');
  const logits = noGrad(() => net.eval().forward(syntheticValue('input', [2, 3, 8, 8])));
  assertClose(logits, fx.evalLogits, { rtol: 1e-5, atol: 1e-5, what: 'logits' });
  const bytes = fs.readFileSync(file);
  assert.throws(() => readWeights(writeTmp('cut.ckpt', bytes.subarray(0, bytes.length - 100))), /cut\.ckpt/);
});

function writeTmp(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
}

test('loadWeights: format by content whatever the extension; errors name file and key', () => {
  const pth = fixture('pth', 'small_net.pth');
  assert.equal(readWeights(writeTmp('renamed.bin', fs.readFileSync(pth))).format, 'pytorch');
  assert.equal(readWeights(fixture('small_net.safetensors')).format, 'safetensors');
  assert.throws(() => readWeights(path.join(tmp, 'nope.pth')), /weights file .*nope\.pth does not exist/);
  assert.throws(() => readWeights(writeTmp('notes.txt', Buffer.from('just some text'))), /notes\.txt is not a recognised weights file/);
  const net = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  assert.throws(() => loadWeights(net, pth), (e: Error) => {
    assert.match(e.message, /small_net\.pth: Cannot load the state dict into ResNet: missing keys: conv1\.weight, bn1\.weight/);
    assert.match(e.message, /unexpected keys: conv\.weight/);
    return true;
  });
});

test('resnet18({ weights, numClasses: 10 }) starts from the weights with a fresh 10-class head', () => {
  const source = resnet18({ ...cpu });
  noGrad(() => source.stateDict()['layer3.1.bn2.running_var'].fill_(3));
  const file = path.join(tmp, 'r18-1000.safetensors');
  saveWeights(source, file);
  const tuned = resnet18({ weights: file, numClasses: 10, ...cpu });
  assert.deepEqual(tuned.fc.weight.shape, [10, 512]);
  assert.deepEqual(tuned.stateDict()['layer3.1.bn2.running_var'].toArray(), source.stateDict()['layer3.1.bn2.running_var'].toArray());
  assert.deepEqual(tuned.conv1.weight.toArray(), source.conv1.weight.toArray());
  const same = resnet18({ weights: file, ...cpu });
  assert.deepEqual(same.fc.weight.toArray(), source.fc.weight.toArray(), 'no numClasses: the checkpoint head is kept');
  assert.throws(() => resnet18({ weights: file, stem: 'cifar', ...cpu }), /r18-1000\.safetensors: .*shape mismatch for conv1\.weight: checkpoint \[64, 3, 7, 7\], model \[64, 3, 3, 3\]/);
  const wrongDtype = path.join(tmp, 'int.safetensors');
  saveWeights({ ...source.stateDict(), 'fc.bias': zeros([1000], { ...cpu, dtype: 'int32' }) }, wrongDtype);
  assert.throws(() => resnet18({ weights: wrongDtype, ...cpu }), /unsupported dtype for fc\.bias: checkpoint int32, model float32/);
});

test('safetensors files are read once: the tensors are views of one copy, and writes never reach the file', () => {
  const file = path.join(tmp, 'mapped.safetensors');
  // a uint8 entry first makes the float16 one unaligned: that one is copied, the rest are views
  saveWeights({ odd: tensor(new Uint8Array([1, 2, 3]), [3], cpu), half: randn([4], cpu).to('float16'), w: randn([64, 64], cpu) }, file);
  const before = fs.readFileSync(file);
  const m0 = memory();
  const { tensors } = readSafetensorsFile(file);
  assert.deepEqual(tensors.w.toArray(), readSafetensors(before).tensors.w.toArray());
  assert.deepEqual(tensors.half.to('float32').toArray(), readSafetensors(before).tensors.half.to('float32').toArray());
  assert.ok(memory().bytes - m0.bytes >= before.length, 'the tensors share one copy of the file');
  noGrad(() => tensors.w.zero_());
  assert.deepEqual(fs.readFileSync(file), before, 'the file is unchanged');
  assert.throws(() => readSafetensorsFile(path.join(tmp, 'absent.safetensors')), /safetensors file .*absent\.safetensors does not exist/);
});

test("loadWeights reads a training checkpoint's weights and leaves its optimizer state out", () => {
  const model = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  const file = path.join(tmp, 'run-last.safetensors');
  saveWeights(
    { ...model.stateDict(), 'optimizer.momentum_buffer.fc.bias': zeros([10], cpu) },
    file,
    { 'resnet-native-checkpoint': JSON.stringify({ format: 'resnet-native-checkpoint' }) },
  );
  const other = resnet18({ numClasses: 10, stem: 'cifar', ...cpu });
  assert.equal(loadWeights(other, file).loaded, 122);
  assert.deepEqual(other.conv1.weight.toArray(), model.conv1.weight.toArray());
});
