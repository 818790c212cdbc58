// Every kind of bad call becomes a JavaScript Error carrying libtorch's (or our) message, and
// the process goes on: shape mismatch, wrong dtype, bad device, use after dispose, bad types.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { cuda, nn, ones, randn, tensor, zeros } from '../src/index';
import { native } from '../src/native';
import * as lib from '../src/index';
import * as errorClasses from '../src/error-classes';
import { crossThreadErrorClasses, deserializeError, type SerializedError } from '../src/worker-errors';
import { Worker } from 'node:worker_threads';

type ErrorClass = new (...args: never[]) => Error;

const cpu = { device: 'cpu' } as const;
const F = nn.functional;

test('shape mismatches carry libtorch messages', () => {
  assert.throws(() => randn([2, 3], cpu).matmul(randn([2, 3], cpu)), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
  assert.throws(() => randn([2, 3], cpu).add(randn([4], cpu)), /The size of tensor a \(3\) must match the size of tensor b \(4\)/);
  assert.throws(() => randn([6], cpu).view([4, 2]), /shape '\[4, 2\]' is invalid for input of size 6/);
  const conv = new nn.Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, ...cpu });
  assert.throws(() => conv.forward(randn([1, 5, 8, 8], cpu)), /expected input\[1, 5, 8, 8\] to have 3 channels, but got 5 channels/);
  assert.throws(() => tensor([1, 2, 3], [2, 2], cpu), /shape \[2, 2\] holds 4 elements but the data has 3/);
});

test('wrong dtypes carry libtorch messages', () => {
  const logits = randn([2, 3], cpu);
  // (libtorch 2.11 words it 'expected scalar type Long but found Float')
  assert.throws(() => F.crossEntropy(logits, tensor([0, 1], [2], cpu)), /expected target dtype to be Long or Byte, but got Float|expected scalar type Long but found Float/);
  assert.throws(() => randn([3], cpu).indexSelect(0, tensor([0, 1], [2], cpu)), /index_select\(\): Expected dtype int32 or int64 for index/);
  assert.throws(() => ones([2], { ...cpu, dtype: 'int64' }).add_(randn([2], cpu)), /result type Float can't be cast to the desired output type Long/);
  assert.throws(() => tensor([1], [1], { ...cpu, dtype: 'complex64' as never }), /Expected one of float32, .* for dtype but received 'complex64'/);
});

test('bad devices are refused with a reason', () => {
  assert.throws(() => zeros([1], { device: 'cuda:x' as never }), /for device but received 'cuda:x'/);
  assert.throws(() => native.zeros([1], null, 'tpu'), /Expected one of cpu, cuda|device string/);
  if (!native.cudaIsAvailable()) {
    assert.throws(() => native.zeros([1], null, 'cuda'), /CUDA is not available/);
  }
});

test('use after dispose names the problem', () => {
  const t = randn([2], cpu);
  t.dispose();
  assert.equal(t.isDisposed, true);
  t.dispose(); // idempotent
  assert.throws(() => t.add(1), /has been disposed and cannot be used/);
  assert.throws(() => t.shape, /has been disposed/);
  assert.throws(() => randn([2], cpu).add(t), /Tensor 'other' has been disposed/);
  assert.equal(String(t), 'Tensor(disposed)');
});

test('garbage arguments to the native layer are TypeErrors, never crashes', () => {
  const t = randn([2, 2], cpu);
  assert.throws(() => native.ops.add({} as never, 1), /Expected a Tensor handle made by resnet-native for 'input' but received an object of type Object/);
  assert.throws(() => native.ops.add(t.handle, 'x' as never), /Expected a Tensor for 'other' but received 'x' of type string/);
  assert.throws(() => native.ops.div_('x' as never, 2), /Expected a Tensor for 'input' but received 'x' of type string/);
  assert.throws(() => native.ops.div_(t.handle, randn([3], cpu).handle), /The size of tensor a \(2\) must match the size of tensor b \(3\)/);
  assert.throws(() => native.ops.reshape(t.handle, ['a'] as never), /Expected an integer for 'shape\[0\]' but received 'a' of type string/);
  assert.throws(() => native.ops.reshape(t.handle, [1.5] as never), /Expected an integer for 'shape\[0\]' but received 1.5 of type number/);
  assert.throws(() => native.ops.cat([t.handle, 3] as never, 0), /Expected a Tensor for 'tensors\[1\]' but received 3 of type number/);
  assert.throws(() => native.fromArray([1, 2] as never, [2]), /Expected a TypedArray for 'data' but received an array of length 2/);
  assert.throws(() => native.fromArray(new Int16Array(2), [2]), /Expected a Float32Array, .* for 'data' but received an object of type Int16Array/);
  assert.throws(() => native.fromArray(new Float32Array(2), [-1, -2]), /negative sizes/);
  assert.throws(() => new (native.Tensor as unknown as new () => unknown)(), /created by resnet-native functions/);
  assert.throws(() => new native.Conv2d({ inChannels: 1 }), /Missing option '(outChannels|kernelSize|stride|padding|dilation|groups|bias)'/);
  assert.throws(() => native.ops.crossEntropy(t.handle, t.handle, 0, 'avg'), /reduction must be 'mean', 'sum' or 'none'/);
  // a forged object without the type tag is not unwrapped
  assert.throws(() => native.ops.relu(Object.create(native.Tensor.prototype as object)), /Expected a Tensor handle made by resnet-native for 'input' but received an object of type Tensor/);
  assert.throws(() => native.item(t.handle), /exactly one element, got shape \[2, 2\]/);
});

test('checkpoint and data entry points refuse bad input with a message', () => {
  const bytes = new Uint8Array(10);
  assert.throws(() => native.fromBytes(bytes, [3], 'float32'), /shape \[3\] of float32 needs 12 bytes but 10 were given/);
  assert.throws(() => native.fromBytes(new Float32Array(2) as never, [2], 'float32'), /Expected a Uint8Array for 'bytes' but received an object of type Float32Array/);
  assert.throws(() => native.fromBytes(bytes, [10], 'complex'), /Unknown dtype 'complex'/);
  assert.throws(() => native.readFile('/nonexistent/file', 10), /cannot open \/nonexistent\/file: No such file or directory/);
  assert.throws(() => native.readFile('/dev/zero', 10), /\/dev\/zero is not a regular file/);
  const small = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rn-errors-')), 'three-bytes');
  fs.writeFileSync(small, 'abc');
  assert.throws(() => native.readFile(small, 1e9), /holds 3 bytes, fewer than the 1000000000 expected/);
  assert.throws(() => native.readFile(small, -1), /bytes must not be negative/);
  fs.rmSync(path.dirname(small), { recursive: true });
  const t = randn([2, 2], { device: 'cpu' });
  // this session's other new entry points
  assert.throws(() => native.setThreadNumThreads(0), /Expected a thread count between 1 and \d+ \(16 per hardware thread\) for threads but received 0/);
  assert.throws(() => native.setThreadNumThreads('a' as never), /Expected an integer for 'threads' but received 'a' of type string/);
  assert.throws(() => native.ops.pinMemory({} as never), /Expected a Tensor handle made by resnet-native for 'input' but received an object of type Object/);
  assert.throws(() => native.ops.to(t.handle, null, null, 'yes' as never), /Expected a boolean for 'nonBlocking'/);
  if (!cuda.isAvailable()) assert.throws(() => t.pinMemory(), /accelerator|CUDA/i, 'pinning needs CUDA: an error, not an abort');
  const u8 = native.fromBytes(new Uint8Array(16), [16], 'uint8');
  assert.throws(() => native.viewAs(native.ops.narrow(u8, 0, 1, 8), 'float32', [2]), /storage_offset\(\) must be divisible by 4/);
  assert.throws(() => native.viewAs(u8, 'float32', [5]), /shape '\[5\]' is invalid for input of size 4/);
  assert.throws(() => native.ops.asStrided(u8, [4, 4], [4, 1], 8), /setStorage|out of bounds|storage/i);
  assert.throws(() => native.ops.index(u8, [3 as never]), /Expected a Tensor or null for 'indices\[0\]' but received 3 of type number/);
  assert.throws(() => native.ops.index(u8, [native.fromArray(new Float32Array([0]), [1])]), /tensors used as indices must be long, int, byte or bool/);
  assert.throws(() => native.ops.upsampleBilinear2d(u8, [4, 4], false), /Expected .*4D|input|dimension/i);
  assert.throws(() => native.ops.normal_(native.zeros([2], 'int64', 'cpu'), 0, 1), /normal_ expects floating-point|not implemented for 'Long'/);
});

test('multi-tensor, memory-format and mode switches refuse bad input with a message', () => {
  const a = randn([2], cpu).handle;
  const b = randn([3], cpu).handle;
  assert.throws(() => native.ops.foreachAdd_([a], [a, b], 1), /Tensor lists must have the same number of tensors/);
  assert.throws(() => native.ops.foreachAdd_([a], [b], 1), /must match the size|size of tensor/);
  assert.throws(() => native.ops.foreachMul_([a, 3 as never], 2), /Expected a Tensor for 'tensors\[1\]' but received 3 of type number/);
  assert.throws(() => native.ops.foreachMul([a], 'x' as never), /Expected a number for 'factor' but received 'x' of type string/);
  assert.throws(() => native.ops.foreachMul([a], b), /scalar tensor expected to be 0 dim/);
  assert.throws(() => native.ops.relu_({} as never), /Expected a Tensor handle made by resnet-native for 'input' but received an object of type Object/);
  // loss-scaling kernels: libtorch's own checks arrive as JavaScript errors
  const found = zeros([1], cpu).handle;
  const inv = ones([1], cpu).handle;
  assert.throws(() => native.ops.ampUnscale_([a], zeros([1], { ...cpu, dtype: 'int32' }).handle, inv), /found_inf must be a float tensor/);
  assert.throws(() => native.ops.ampUnscale_([a], found, b), /inv_scale must be a 1-element tensor/);
  assert.throws(() => native.ops.ampUnscale_([a, 1 as never], found, inv), /Expected a Tensor for 'grads\[1\]' but received 1 of type number/);
  assert.throws(() => native.ops.ampUpdateScale_(ones([1], cpu).handle, zeros([1], cpu).handle, found, 2, 0.5, 10), /growth_tracker must be an int tensor/);
  assert.throws(() => native.ops.ampUpdateScale_(ones([1], cpu).handle, zeros([1], { ...cpu, dtype: 'int32' }).handle, found, 2, 0.5, 'x' as never), /Expected an integer for 'growthInterval' but received 'x' of type string/);
  const conv = new nn.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 1, ...cpu });
  assert.throws(() => conv.toMemoryFormat('nhwc' as never), /memoryFormat must be 'contiguous' or 'channels_last'/);
  assert.throws(() => conv.toDtype('int64' as never), /for dtype but received 'int64'/);
  assert.throws(() => (conv as unknown as { native: { to(d: null, t: string): void } }).native.to(null, 'int64'), /modules convert to floating-point dtypes only/);
  assert.throws(() => native.setMallocThresholds(-1, 0), /malloc thresholds must be between 0 and 2\^31 - 1 bytes/);
  assert.throws(() => native.setMallocThresholds('big' as never, 0), /Expected an integer for 'mmapBytes'|mmapBytes/);
  assert.throws(() => native.ops.isContiguousIn(a, 'weird'), /memoryFormat must be/);
  assert.throws(() => native.setCudnnBenchmark('yes' as never), /Expected a boolean for 'enabled'/);
  assert.throws(() => native.setAllowTF32('yes' as never, true), /Expected a boolean for 'matmul'/);
  assert.throws(() => (native.setAllowTF32 as unknown as (a: boolean) => void)(true), /Expected a boolean for 'convolutions'/);
  assert.throws(() => native.setAutocast('cpu', true, 'int8'), /autocast dtype must be 'bfloat16' or 'float16', got 'int8'/);
  native.setAutocast('cpu', false, 'bfloat16');
  assert.throws(() => native.autograd.exitInferenceMode(), /exitInferenceMode\(\) without enterInferenceMode\(\)/);
});

test('a child process that makes every bad call exits normally', () => {
  const script = `
    const { randn, nn } = require('./src/index');
    const { native } = require('./src/native');
    const bad = [
      () => randn([2, 3]).matmul(randn([5, 5])),
      () => native.ops.conv2d(randn([1, 1, 2, 2]).handle, randn([1, 1, 5, 5]).handle, null, [1, 1], [0, 0], [1, 1], 1),
      () => native.ops.narrow(randn([3]).handle, 0, 2, 5),
      () => native.ops.gather(randn([3]).handle, 0, randn([3]).handle),
      () => native.ops.maxPool2d(randn([1, 1, 2, 2]).handle, [0, 0], [1, 1], [0, 0], [1, 1], false),
      () => native.setNumThreads(0),
      () => native.ops.permute(randn([2, 2]).handle, [0, 0]),
      () => new nn.Linear({ inFeatures: 4, outFeatures: 2, device: 'cpu' }).forward(randn([3, 5])),
    ];
    let errors = 0;
    for (const f of bad) { try { f(); } catch (e) { if (e instanceof Error && e.message) errors++; } }
    console.log('errors=' + errors + '/' + bad.length);
  `;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(res.signal, null, `no signal (stderr: ${res.stderr})`);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /errors=8\/8/);
});

test('every error class the library exports crosses a worker thread as itself, with its fields', async () => {
  const exported = Object.entries(lib).filter(([, v]) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof Error) as [string, ErrorClass][];
  assert.ok(exported.length >= 7, `error classes exported: ${exported.map(([n]) => n).join(', ')}`);
  const known = new Set(crossThreadErrorClasses());
  for (const [name, cls] of exported) assert.ok(known.has(cls), `${name} is exported but would cross threads as a plain Error`);
  // a real thread: the compiled library's classes, each thrown there with a field, posted as the
  // library's workers post errors
  const dist = path.resolve(__dirname, '..', 'dist');
  const code = `
    const { parentPort } = require('node:worker_threads');
    const classes = require(${JSON.stringify(path.join(dist, 'error-classes.js'))});
    const { serializeError } = require(${JSON.stringify(path.join(dist, 'worker-errors.js'))});
    parentPort.postMessage(Object.keys(classes).map((name) => {
      const err = Reflect.construct(Error, ['thrown as ' + name], classes[name]);
      err.name = name;
      err.detail = { rank: 1, keys: ['a'] };
      return serializeError(err);
    }));
  `;
  const posted = await new Promise<SerializedError[]>((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  for (const s of posted) {
    const err = deserializeError(s);
    const cls = (errorClasses as Record<string, ErrorClass>)[s.className];
    assert.ok(err instanceof cls, `${s.className} arrived as ${err.constructor.name}`);
    assert.equal(err.name, s.className);
    assert.equal(err.message, `thrown as ${s.className}`);
    assert.deepEqual((err as Error & { detail: unknown }).detail, { rank: 1, keys: ['a'] });
  }
  for (const [name] of exported) assert.ok(posted.some((s) => s.className === name), `${name} was not among the thread's classes`);
});
