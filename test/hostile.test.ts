// Inputs and situations from the hostile sweep (issue 17): each used to crash, hang, lose work
// or answer wrongly in silence; each must now end in a clear error or the documented behaviour.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  Classifier,
  SGD,
  cuda,
  TrainingError,
  full,
  loadCifar10,
  nn,
  zeros,
  readCheckpoint,
  runTraining,
  saveSafetensors,
  tensor,
  train,
  writeSyntheticCifar,
  type TrainOptions,
} from '../src/index';
import { native } from '../src/native';
import { imageToChw } from '../src/inference/preprocess';
import { readMindsporeCheckpoint } from '../src/io/mindspore';
import { readSafetensorsFile } from '../src/io/safetensors';
import { Tensor } from '../src/tensor';
import { tempDir } from './helpers';

const tmp = tempDir('rn-hostile-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const tiny: TrainOptions = { arch: 'resnet18', batchSize: 8, epochs: 1, maxStepsPerEpoch: 2, device: 'cpu', syntheticSize: { train: 32, test: 8 } };

test('a tensor too big for one JavaScript buffer is refused by toArray and by saving, naming its shape', () => {
  // a stride-0 view: 2^30 + 1 float32 elements over one, nothing allocated
  const huge = new Tensor(native.ops.asStrided(full([1], 1).handle, [2 ** 30 + 1], [0], 0));
  assert.throws(() => huge.toArray(), /toArray\(\): tensor \[1073741825\] float32 needs 4294967300 bytes in one JavaScript buffer, more than Node allows/);
  assert.throws(() => saveSafetensors(path.join(tmp, 'huge.safetensors'), { big: huge }), /saving safetensors: 'big' \[1073741825\] float32 needs/);
  assert.equal(fs.existsSync(path.join(tmp, 'huge.safetensors')), false);
});

test('tensors read from a safetensors file do not depend on the file afterwards (truncated or rewritten)', () => {
  const file = path.join(tmp, 'kept.safetensors');
  saveSafetensors(file, { a: tensor([1, 2, 3, 4], [2, 2]), b: tensor([5, 6], [2]) });
  const { tensors } = readSafetensorsFile(file);
  fs.truncateSync(file, 8); // used to give SIGBUS on the next read of a mapped tensor
  assert.deepEqual(Array.from(tensors.a.toArray() as Float32Array), [1, 2, 3, 4]);
  saveSafetensors(file, { a: tensor([9, 9, 9, 9], [2, 2]), b: tensor([9, 9], [2]) });
  assert.deepEqual(Array.from(tensors.b.toArray() as Float32Array), [5, 6], 'rewriting the file changes nothing');
});

test('FIFOs, devices and folders given as files are refused at once, naming them', () => {
  const fifo = path.join(tmp, 'pipe');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const data = path.join(tmp, 'fifo-data', 'cifar-10-batches-bin');
  writeSyntheticCifar(path.join(tmp, 'fifo-data'), { perFile: 2 });
  fs.rmSync(path.join(data, 'test_batch.bin'));
  fs.symlinkSync(fifo, path.join(data, 'test_batch.bin'));
  const started = Date.now();
  assert.throws(() => loadCifar10(data, 'test'), /test_batch\.bin is a FIFO \(named pipe\), not a regular file/);
  assert.throws(() => readCheckpoint(fifo), /is a FIFO \(named pipe\), not a regular file/);
  assert.throws(() => readSafetensorsFile('/dev/zero'), /\/dev\/zero is a device, not a regular file/);
  assert.throws(() => readSafetensorsFile(tmp), /is a folder, not a regular file/);
  const predict = spawnSync(process.execPath, [cli, 'predict', '--checkpoint', fifo, fifo], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(predict.status, 1, predict.stderr);
  assert.match(predict.stderr, /image .*pipe is a FIFO \(named pipe\), not a regular file/);
  const weights = spawnSync(process.execPath, [cli, 'train', '--weights', '/dev/zero', '--epochs', '1', '--device', 'cpu', '--checkpoint-dir', path.join(tmp, 'zero')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(weights.status, 1);
  assert.match(weights.stderr, /\/dev\/zero is a device, not a regular file/);
  assert.ok(Date.now() - started < 30_000, 'no hang');
});

test('a second run into a folder holding a run is refused unless resuming or overwriting; the folder is checked before training', async () => {
  const dir = path.join(tmp, 'twice');
  const first = await runTraining({ ...tiny, checkpointDir: dir }, { onLine: () => {} });
  const before = fs.readFileSync(first.bestCheckpoint);
  await assert.rejects(
    runTraining({ ...tiny, checkpointDir: dir }, { onLine: () => {} }),
    (e: Error) => e instanceof TrainingError && /already holds a run's checkpoints \(resnet18-best\.safetensors, resnet18-last\.safetensors\): pass --resume .*resnet18-last\.safetensors/.test(e.message),
  );
  assert.deepEqual(fs.readFileSync(first.bestCheckpoint), before, 'the earlier best checkpoint is untouched');
  await runTraining({ ...tiny, checkpointDir: dir, overwrite: true }, { onLine: () => {} });
  await runTraining({ ...tiny, epochs: 2, checkpointDir: dir, resume: first.lastCheckpoint }, { onLine: () => {} });
  // an unusable folder is found before any model is built or step taken
  const file = path.join(tmp, 'a-file');
  fs.writeFileSync(file, 'x');
  const events: string[] = [];
  await assert.rejects(
    runTraining({ ...tiny, checkpointDir: path.join(file, 'sub') }, { onLine: () => {}, onEvent: (e) => events.push(e.type) }),
    /checkpoint folder .*a-file\/sub cannot be made: .*a-file is a file, not a folder; pass another --checkpoint-dir/,
  );
  assert.deepEqual(events, []);
  // temporaries of killed writes are removed at start; those of a live writer are not
  const stale = path.join(dir, '.resnet18-last.safetensors.tmp-4194305-abc');
  const live = path.join(dir, `.resnet18-best.safetensors.tmp-${process.ppid}-abc`);
  fs.writeFileSync(stale, 'half a file');
  fs.writeFileSync(live, 'being written');
  await runTraining({ ...tiny, checkpointDir: dir, overwrite: true }, { onLine: () => {} });
  assert.equal(fs.existsSync(stale), false);
  assert.equal(fs.existsSync(live), true);
});

test('batches of one image: batch size 1 is refused, a last batch of one is left out and said so', async () => {
  await assert.rejects(runTraining({ ...tiny, batchSize: 1, checkpointDir: path.join(tmp, 'b1') }, { onLine: () => {} }), /batchSize 1 cannot train: BatchNorm needs more than one value per channel/);
  const lines: string[] = [];
  const result = await runTraining({ ...tiny, maxStepsPerEpoch: undefined, syntheticSize: { train: 17, test: 8 }, checkpointDir: path.join(tmp, 'b17') }, { onLine: (l) => lines.push(l) });
  assert.equal(result.steps, 2, '16 images in 2 steps; the 17th is left out');
  assert.ok(lines.includes('The last batch of each epoch would hold 1 image, which BatchNorm cannot train on: it is left out (16 images an epoch).'), lines.join('\n'));
});

test('arguments that used to be accepted silently are refused or warned about', async () => {
  assert.throws(() => tensor([[1, 2], [3, 4]] as unknown as number[]), /Expected an array of numbers \(nested arrays: pass the flat values and a shape\) for data\[0\] but received \[1 of type number, 2 of type number\] of type array/);
  assert.throws(() => loadCifar10(tmp, 'validation' as 'test'), /Expected 'train' or 'test' for split but received 'validation'/);
  assert.throws(() => new SGD([1, 2, 3] as never), /Expected \[name, Tensor\] pairs \(module\.namedParameters\(\)\) for params/);
  await assert.rejects(Classifier.load('whatever.safetensors', { topK: 0 }), /Expected positive integer for topK but received 0/);
  await assert.rejects(Classifier.load('whatever.safetensors', { topK: 'abc' as never }), /for topK but received 'abc'/);
  const lines: string[] = [];
  await runTraining({ ...tiny, momentum: 5, lr: 1e-6, checkpointDir: path.join(tmp, 'm5') }, { onLine: (l) => lines.push(l) });
  assert.match(lines[0], /^Warning: momentum 5 is 1 or more: the updates grow without bound/);
});

test('an exception in a train() callback rejects the result instead of killing the process', async () => {
  const handle = train({
    ...tiny,
    checkpointDir: path.join(tmp, 'callback'),
    onEvent: (e) => {
      if (e.type === 'step') throw new Error('my callback failed');
    },
  });
  await assert.rejects(handle.result, /my callback failed/);
});

test('SIGTERM stops CLI training at a step boundary like Ctrl-C, and exits 143', async () => {
  const dir = path.join(tmp, 'sigterm');
  const child = spawn(process.execPath, [cli, 'train', '--arch', 'resnet18', '--batch-size', '8', '--epochs', '5', '--device', 'cpu', '--checkpoint-dir', dir, '--log-every', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('Steps:') && resolve()));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 143, stderr);
  assert.match(stderr, /SIGTERM: stopping at the next step/);
  assert.match(stderr, /training cancelled at epoch 1, step \d+; no checkpoint was written/);
});

test('bench names a bad device before starting anything', () => {
  for (const device of cuda.isAvailable() ? ['tpu'] : ['tpu', 'cuda']) {
    const res = spawnSync(process.execPath, [cli, 'bench', '--suite', 'step', '--device', device, '--batch', '2', '--no-torch'], { encoding: 'utf8' });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, device === 'tpu' ? /Expected 'cpu', 'cuda' or 'cuda:N' for device but received 'tpu'/ : /(CUDA is not available|for device)/);
  }
});

/** A copy of checkpoint `file` whose metadata is changed by `patch`. */
function withMeta(file: string, patch: Record<string, unknown>, out: string): string {
  const { tensors, metadata } = readSafetensorsFile(file);
  const meta = { ...JSON.parse(metadata['resnet-native-checkpoint']), ...patch };
  saveSafetensors(out, tensors, { 'resnet-native-checkpoint': JSON.stringify(meta) });
  return out;
}

test('checkpoints that cannot continue a run or answer correctly are refused, naming the field, by every reader', async () => {
  const dir = path.join(tmp, 'meta');
  const run = await runTraining({ ...tiny, checkpointDir: dir }, { onLine: () => {} });
  const resume = (file: string, extra: TrainOptions = {}) => runTraining({ ...tiny, epochs: 2, checkpointDir: path.join(tmp, 'meta-resumed'), resume: file, ...extra }, { onLine: () => {} });
  await assert.rejects(resume(run.bestCheckpoint), /cannot resume from .*resnet18-best\.safetensors: it holds no optimizer state \(a '-best' checkpoint has only the weights\)/);
  await assert.rejects(resume(run.lastCheckpoint, { stem: 'cifar' }), /it was trained with stem "imagenet" and this run has "cifar"/);
  await assert.rejects(resume(run.lastCheckpoint, { epochs: 1 }), /it has already trained 1 of 1 epochs: pass epochs \(--epochs\) above 1/);
  // optimizer state checked against the model: any one momentum buffer missing is refused, named
  const saved = readSafetensorsFile(run.lastCheckpoint);
  const buffers = Object.keys(saved.tensors).filter((k) => k.startsWith('optimizer.momentum_buffer.'));
  assert.equal(buffers.length, 62, 'ResNet18 has 62 parameters, each with its buffer');
  const noBuffers = Object.fromEntries(Object.entries(saved.tensors).filter(([k]) => !k.startsWith('optimizer.momentum_buffer.')));
  saveSafetensors(path.join(tmp, 'no-momentum.safetensors'), noBuffers, saved.metadata);
  await assert.rejects(resume(path.join(tmp, 'no-momentum.safetensors')), /optimizer state lacks the momentum buffer of '.*' and 59 more \(it has 0 of 62\)/);
  for (const dropped of [buffers[0], buffers[30], buffers[61]]) {
    const { [dropped]: gone, ...rest } = saved.tensors;
    const partial = path.join(tmp, 'partial-momentum.safetensors');
    saveSafetensors(partial, rest, saved.metadata);
    const name = dropped.slice('optimizer.momentum_buffer.'.length);
    await assert.rejects(resume(partial), new RegExp(`cannot resume from .*partial-momentum\\.safetensors: optimizer state lacks the momentum buffer of '${name.replace(/\./g, '\\.')}' \\(it has 61 of 62\\)`));
    void gone;
  }
  // metadata is checked by one schema, for every reader, before any model is built
  const crafted = (patch: Record<string, unknown>) => withMeta(run.lastCheckpoint, patch, path.join(tmp, 'crafted.safetensors'));
  for (const [patch, message] of [
    [{ epoch: '1' }, /metadata field 'epoch' must be an integer from 0 to 1000000, found "1"/],
    [{ epoch: 1e300 }, /metadata field 'epoch' must be an integer/],
    [{ arch: 'constructor' }, /metadata field 'arch' must be one of resnet18, resnet34, resnet50, resnet101, resnet152, found "constructor"/],
    [{ arch: '__proto__' }, /metadata field 'arch' must be one of/],
    [{ arch: undefined }, /metadata field 'arch' must be one of .*, found undefined/],
    [{ numClasses: 0 }, /metadata field 'numClasses' must be an integer from 1 to 100000, found 0/],
    [{ numClasses: 1e12 }, /metadata field 'numClasses'/],
    [{ numClasses: 'ten' }, /metadata field 'numClasses'/],
    [{ std: [0.2, 0, 0.2] }, /metadata field 'std' must be three positive numbers/],
    [{ classNames: [] }, /metadata field 'classNames' must be 10 non-empty names \(numClasses\), found \[\]/],
    [{ classNames: Array(10).fill('cat') }, /metadata field 'classNames' must be 10 distinct names: 'cat' appears more than once/],
    [{ classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'a'] }, /metadata field 'classNames' must be 10 distinct names: 'a' appears more than once/],
  ] as const) {
    const file = crafted(patch);
    await assert.rejects(resume(file), message, JSON.stringify(patch));
    await assert.rejects(Classifier.load(file, { device: 'cpu' }), message);
    assert.throws(() => readCheckpoint(file), message);
  }
  // more outputs than the data has classes: the extra outputs are named, so names and outputs agree
  const wide = await runTraining({ ...tiny, numClasses: 12, checkpointDir: path.join(tmp, 'twelve') }, { onLine: () => {} });
  const names = readCheckpoint(wide.bestCheckpoint).meta.classNames;
  assert.equal(names.length, 12);
  assert.deepEqual(names.slice(10), ['class 10', 'class 11']);
  assert.deepEqual(names.slice(0, 10), readCheckpoint(run.bestCheckpoint).meta.classNames);
  const twelve = await Classifier.load(wide.bestCheckpoint, { device: 'cpu', topK: 12 });
  assert.equal((await twelve.classify({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 })).top.length, 12);
  await twelve.close();
  await assert.rejects(runTraining({ ...tiny, numClasses: 5, checkpointDir: path.join(tmp, 'five') }, { onLine: () => {} }), /the training data has labels up to \d \(10 classes\) but numClasses is 5: pass numClasses \(--num-classes\) \d+ or more/);
  // normalisation that cannot apply (it used to kill the classifier's thread and leave every
  // later call waiting): refused at load
  const badMean = withMeta(run.bestCheckpoint, { mean: [0.5] }, path.join(tmp, 'bad-mean.safetensors'));
  await assert.rejects(Classifier.load(badMean, { device: 'cpu' }), /metadata field 'mean' must be three finite numbers, found \[0\.5\]/);
});

test('a safetensors file whose tensors share bytes (overlapping offsets), or whose dtype names an Object property, is refused', () => {
  const file = path.join(tmp, 'overlap.safetensors');
  const header = JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } });
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header), Buffer.alloc(12)]));
  assert.throws(() => readSafetensorsFile(file), /tensors 'a' \[0, 8\) and 'b' \[4, 12\) overlap \(corrupt or crafted file\)/);
  // a header declared at 150 MB (in a sparse 200 MB file): refused before it is read
  const sparse = path.join(tmp, 'big-header.safetensors');
  const prefix150 = Buffer.alloc(8);
  prefix150.writeBigUInt64LE(150_000_000n);
  fs.writeFileSync(sparse, prefix150);
  fs.truncateSync(sparse, 200_000_000);
  assert.throws(() => readSafetensorsFile(sparse), /header of 150000000 bytes, more than the 100000000 the safetensors format allows/);
  fs.rmSync(sparse);
  for (const dtype of ['constructor', '__proto__', 'toString']) {
    const h = JSON.stringify({ a: { dtype, shape: [1], data_offsets: [0, 4] } });
    const p = Buffer.alloc(8);
    p.writeBigUInt64LE(BigInt(h.length));
    fs.writeFileSync(file, Buffer.concat([p, Buffer.from(h), Buffer.alloc(4)]));
    assert.throws(() => readSafetensorsFile(file), new RegExp(`tensor 'a' has unsupported dtype "${dtype}"`));
  }
});

test('messages that were cryptic name the file, key and problem', async () => {
  const pth = path.join(__dirname, 'fixtures', 'pth', 'small_net.pth');
  const evalPth = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', pth], { encoding: 'utf8' });
  assert.equal(evalPth.status, 1);
  assert.match(evalPth.stderr, /small_net\.pth is a PyTorch \.pth weights file, not a checkpoint written by train .*start a training from it with --weights/);
  const fileAsData = spawnSync(process.execPath, [cli, 'train', '--data', __filename, '--device', 'cpu'], { encoding: 'utf8' });
  assert.match(fileAsData.stderr, /data .*hostile\.test\.ts is a file but not a \.csv or \.jsonl manifest: looked for class folders .*CIFAR-10/);
  const loop = path.join(tmp, 'loop-data');
  writeSyntheticCifar(loop, { perFile: 2 });
  const batch = path.join(loop, 'cifar-10-batches-bin', 'data_batch_3.bin');
  fs.rmSync(batch);
  fs.symlinkSync(batch, batch);
  assert.throws(() => loadCifar10(loop, 'train'), /CIFAR-10 file .*data_batch_3\.bin is a loop of symbolic links/);
  fs.rmSync(batch);
  assert.throws(() => loadCifar10(loop, 'train'), /CIFAR-10 file .*data_batch_3\.bin does not exist \(expected data_batch_1\.bin/);
  // the folder itself a loop of links
  const loopFolder = path.join(tmp, 'loop-folder');
  fs.symlinkSync(loopFolder, loopFolder);
  assert.throws(() => loadCifar10(loopFolder, 'test'), /CIFAR-10 folder .*loop-folder is a loop of symbolic links$/);
  const linear = new nn.Linear({ inFeatures: 2, outFeatures: 2 });
  assert.throws(() => linear.loadStateDict({ weight: 5 as never, bias: zeros([2]) }), /weight is not a Tensor \(number\)/);
  assert.throws(() => zeros([2]).add(null as never), /Expected a Tensor or a number for other but received null/);
});

test('bombs: a 74-byte PNG declaring 10^10 pixels and a MindSpore .ckpt declaring 40 GB are refused before anything is allocated', async () => {
  const { crc32, deflateSync } = await import('node:zlib');
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100_000, 0);
  ihdr.writeUInt32BE(100_000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
  const before = process.resourceUsage().maxRSS;
  await assert.rejects(imageToChw(png, 32), /cannot read image: 100000 x 100000 pixels is more than the 100,000,000-pixel limit/);
  // MindSpore: dims say [100000, 100000] float32, the content is 4 bytes
  const { default: protobuf } = await import('protobufjs');
  const root = protobuf.parse(
    'syntax = "proto2"; message Checkpoint { message Value { required string tag = 1; optional TensorProto tensor = 2; } repeated Value value = 1; } ' +
      'message TensorProto { repeated int64 dims = 1; required string tensor_type = 2; required bytes tensor_content = 3; }',
    { keepCase: true },
  ).root;
  const Checkpoint = root.lookupType('Checkpoint');
  const ckpt = Checkpoint.encode(Checkpoint.fromObject({ value: [{ tag: 'conv1.weight', tensor: { dims: [100_000, 100_000], tensor_type: 'Float32', tensor_content: Buffer.alloc(4) } }] })).finish();
  assert.throws(() => readMindsporeCheckpoint(ckpt, 'bomb.ckpt'), /bomb\.ckpt: parameter 'conv1\.weight' \[100000, 100000\] Float32 needs 40000000000 bytes, has 4/);
  const grewMB = (process.resourceUsage().maxRSS - before) / 1024;
  assert.ok(grewMB < 200, `peak RSS grew by ${grewMB.toFixed(0)} MB`);
});
