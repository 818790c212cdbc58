// What the reliability section of the README promises (issue 29): work is not lost, bad input
// is refused before any work starts, and nothing hangs.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkTrainOptions, cosineDecaySchedule, loadCifar10, modelFromCheckpoint, ones, readSafetensorsFile, resolveProcessGroupOptions, saveSafetensors, writeSyntheticCifar, type Tensor } from '../src/index';
import { saveSafetensorsInBackground } from '../src/io/safetensors';
import { native } from '../src/native';
import { tempDir } from './helpers';

const tmp = tempDir('rn-reliability-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');

test("an epoch's checkpoint is on disk while the next epoch trains: kill -9 as soon as it lands leaves it loadable", { timeout: 120_000 }, async (t) => {
  const data = writeSyntheticCifar(path.join(tmp, 'data'), { perFile: 400 }); // 2,000 train / 400 test images
  const dir = path.join(tmp, 'kill-after-epoch');
  const last = path.join(dir, 'resnet18-last.safetensors');
  const child = spawn(
    process.execPath,
    [cli, 'train', '--data', data, '--arch', 'resnet18', '--batch-size', '16', '--epochs', '3', '--device', 'cpu', '--threads', '1', '--checkpoint-dir', dir, '--log-every', '1', '--no-curves'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let epochEnded = 0;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!epochEnded && /Epoch: \[ {2}1\/ {2}3\], Average Train Loss/.test(stdout)) epochEnded = performance.now();
  });
  // Wait for epoch 1 to end, then for its -last checkpoint, watching what the run is doing.
  let landed = 0;
  while (!landed) {
    assert.equal(child.exitCode, null, `train ended early:\n${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
    if (epochEnded && fs.existsSync(last)) landed = performance.now();
    if (epochEnded) assert.ok(performance.now() - epochEnded < 30_000, `no ${last} 30 s after epoch 1 ended`);
  }
  child.kill('SIGKILL');
  await exited;
  const steps = [...stdout.matchAll(/Epoch: \[ {2}2\/ {2}3\], Steps: \[ *(\d+)\/ *(\d+)\]/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const windowMs = landed - epochEnded;
  t.diagnostic(`checkpoint on disk ${windowMs.toFixed(0)} ms after epoch 1's line; epoch 2 had printed ${steps.length} step lines`);
  // The file landed while epoch 2's steps ran, not after them.
  assert.ok(!stdout.includes('Epoch: [  2/  3], Average'), `epoch 2 had ended before epoch 1's checkpoint was on disk:\n${stdout}`);
  assert.ok(windowMs < 10_000, `epoch 1's checkpoint took ${windowMs} ms to land`);
  const { meta, model } = modelFromCheckpoint(last);
  model.dispose();
  assert.equal(meta.epoch, 1);
  assert.equal(meta.role, 'last');
});

test('a background checkpoint write lands while the calling thread never yields; a failed one rejects and leaves no temporary', async () => {
  const dir = path.join(tmp, 'off-thread');
  const target = path.join(dir, 'big.safetensors');
  const big = ones([8, 1024, 1024]); // 32 MiB
  const written = saveSafetensorsInBackground(target, { big, small: ones([3]) }, { note: 'x' });
  // the copy was taken: changing the tensor now does not change the file
  big.fill_(2);
  // Busy, as a training loop with ready batches is: no await, no event-loop turn.
  const start = performance.now();
  while (!fs.existsSync(target) && performance.now() - start < 20_000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  assert.ok(fs.existsSync(target), 'the file did not land while the caller was busy');
  await written;
  const read = readSafetensorsFile(target);
  assert.equal(read.metadata.note, 'x');
  assert.equal(read.tensors.big.sum().item(), 8 * 2 ** 20, 'the values when the write was asked for');
  assert.deepEqual(read.tensors.small.toList(), [1, 1, 1]);
  assert.deepEqual(fs.readdirSync(dir), ['big.safetensors'], 'no temporary left');
  // into a path under a regular file: rejected with the path, nothing left behind
  await assert.rejects(saveSafetensorsInBackground(path.join(target, 'under-a-file.safetensors'), { small: ones([3]) }), /folder .*big\.safetensors cannot be made: .*big\.safetensors is a file, not a folder/);
  // a folder that goes away before the thread writes: the promise rejects naming the file
  const gone = path.join(tmp, 'gone');
  fs.mkdirSync(gone);
  const lost = saveSafetensorsInBackground(path.join(gone, 'x.safetensors'), { big });
  fs.rmSync(gone, { recursive: true, force: true });
  await lost.then(
    () => assert.ok(!fs.existsSync(gone), 'written before the folder went: nothing to check'),
    (err: Error) => assert.match(err.message, /cannot (create|rename) .*gone/),
  );
  assert.deepEqual(fs.readdirSync(dir), ['big.safetensors']);
  // the native entry point refuses bad arguments with TypeErrors, never a crash
  const head = new Uint8Array(8);
  assert.throws(() => native.writeTensorsFile(5 as never, 't', head, []), /Expected a string for 'target'/);
  assert.throws(() => native.writeTensorsFile('a', 'b', 'head' as never, []), /Expected a Uint8Array for 'head'/);
  assert.throws(() => native.writeTensorsFile('a', 'b', new Float32Array(2) as never, []), /Expected a Uint8Array for 'head'/);
  assert.throws(() => native.writeTensorsFile('a', 'b', head, [3] as never), /Expected a Tensor for 'tensors\[0\]'/);
});

/** Runs the CLI; resolves with its exit code, output and how long it took. */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out, ms: performance.now() - start }));
  });
}

test('bad options exit 2 before any work, naming the option: empty, too large, out of range, uneven, unrepresentable', { timeout: 120_000 }, async () => {
  // --data names a folder that does not exist: an option check that came after loading the data
  // (or after starting ranks) would fail on that instead.
  const train = ['train', '--data', path.join(tmp, 'no-such-folder'), '--device', 'cpu', '--checkpoint-dir', path.join(tmp, 'never-made')];
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [[...train, '--seed', ''], /--seed <n>' argument '' is invalid/],
    [[...train, '--seed', ' '], /--seed <n>' argument ' ' is invalid/],
    [[...train, '--node-rank', '', '--nproc-per-node', '1'], /--node-rank <r>' argument '' is invalid/],
    [[...train, '--epochs', '9007199254740993'], /--epochs <n>' argument '9007199254740993' is invalid\. Expected integer from 1 to 1000000 for --epochs/],
    [[...train, '--num-classes', '1000000000'], /--num-classes <n>' argument '1000000000' is invalid\. Expected integer from 1 to 100000 for --num-classes/],
    [[...train, '--lr', '1e308'], /finite number from 0 to 3\.4e38 \(float32\) for --lr but received 1e\+308/],
    [[...train, '--momentum', '1e39'], /for --momentum but received 1e\+39/],
    [[...train, '--label-smoothing', '1.5'], /finite number from 0 to 1 for --label-smoothing but received 1\.5/],
    [[...train, '--image-size', '100000'], /integer from 1 to 4096 for --image-size but received 100000/],
    [[...train, '--batch-size', '9', '--nproc-per-node', '2'], /batchSize 9 is the global batch and must split evenly over 2 ranks/],
    [[...train, '--nproc-per-node', '2', '--master-port', '70000'], /--master-port <port>' argument '70000' is invalid/],
    [[...train, '--nproc-per-node', '2', '--nnodes', '2', '--node-rank', '2'], /--node-rank 2 must be below --nnodes 2/],
    [train, /rank 2 is not below worldSize 2/, { RANK: '2', WORLD_SIZE: '2', MASTER_PORT: '1' }],
    [[...train, '--batch-size', '9'], /batchSize 9 is the global batch and must split evenly over 2 ranks/, { RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' }],
    [['visualize', '--checkpoint', 'x', '--seed', ''], /--seed <n>' argument '' is invalid/],
    [['show-data', '--seed', ' '], /--seed <n>' argument ' ' is invalid/],
    [['serve', '--model', 'm=x', '--port', ''], /--port <n>' argument '' is invalid/],
  ];
  const results = await Promise.all(cases.map(([args, , env]) => runCli(args, env)));
  results.forEach(({ code, out }, i) => {
    const [args, message] = cases[i];
    assert.equal(code, 2, `${args.join(' ')}: exit ${code}\n${out}`);
    assert.match(out, message, args.join(' '));
    assert.doesNotMatch(out, /launching|no-such-folder|Epoch/, `${args.join(' ')} started work:\n${out}`);
  });
  assert.ok(!fs.existsSync(path.join(tmp, 'never-made')), 'no checkpoint folder was made');
});

test('the library refuses the same values as the CLI, by option name; a long run needs no per-step table', () => {
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ numClasses: 1e9 }, /integer from 1 to 100000 for numClasses/],
    [{ epochs: 9007199254740993 }, /integer from 1 to 1000000 for epochs/],
    [{ epochs: 1.5 }, /for epochs but received 1\.5/],
    [{ lr: 1e308 }, /for lr but received 1e\+308/],
    [{ minLr: -Infinity }, /for minLr/],
    [{ weightDecay: NaN }, /for weightDecay/],
    [{ labelSmoothing: 1.5 }, /from 0 to 1 for labelSmoothing/],
    [{ seed: 2 ** 64 }, /for seed/],
    [{ batchSize: 2e6 }, /integer from 1 to 1000000 for batchSize/],
    [{ warmupSteps: -1, schedule: 'warmup-cosine' }, /for warmupSteps/],
  ];
  for (const [options, message] of refused) assert.throws(() => checkTrainOptions({ device: 'cpu', ...options }), message, JSON.stringify(options));
  // a million epochs of 196 steps: the rate of any step, without a list of 196 million
  const lr = cosineDecaySchedule(1e-5, 1e-3, 196, 1_000_000);
  assert.equal(lr(0), 1e-3);
  assert.ok(Math.abs(lr(196 * 1_000_000 - 1) - 1e-5) < 1e-12);
});

test('plot and train never hang on FIFOs, devices or folders that cannot be made (/proc): a clear error at once', { timeout: 120_000 }, async () => {
  const dir = path.join(tmp, 'hangs');
  fs.mkdirSync(path.join(dir, 'fifo-metrics'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'fifo-events'));
  const mkfifo = (file: string) => assert.equal(spawnSync('mkfifo', [file]).status, 0, `mkfifo ${file}`);
  mkfifo(path.join(dir, 'fifo'));
  mkfifo(path.join(dir, 'fifo-metrics', 'metrics.ndjson'));
  mkfifo(path.join(dir, 'fifo-events', 'events.out.tfevents.1.host.1.1'));
  const good = path.join(dir, 'good.ndjson');
  fs.writeFileSync(good, '{"type":"step","globalStep":1,"loss":2.3,"lr":0.001}\n');
  const train = ['train', '--arch', 'resnet18', '--device', 'cpu', '--epochs', '1', '--max-steps-per-epoch', '1', '--batch-size', '4'];
  const cases: [string[], RegExp][] = [
    [['plot', path.join(dir, 'fifo')], /NDJSON log .*fifo is a FIFO \(named pipe\), not a regular file/],
    [['plot', path.join(dir, 'fifo-metrics')], /metrics log .*metrics\.ndjson is a FIFO/],
    [['plot', path.join(dir, 'fifo-events')], /TensorBoard event file .*events\.out\.tfevents\.1\.host\.1\.1 is a FIFO/],
    [['plot', '/dev/zero'], /NDJSON log \/dev\/zero is a device/],
    [['plot', good, '--out', '/proc/no-such/y.png'], /folder \/proc\/no-such cannot be made: mkdir \/proc\/no-such failed \(ENOENT\)/],
    [['plot', good, '--out', `${good}/under-a-file.png`], /cannot be made: .*good\.ndjson is a file, not a folder/],
    [[...train, '--checkpoint-dir', '/proc/no-such'], /checkpoint folder \/proc\/no-such cannot be made: mkdir \/proc\/no-such failed \(ENOENT\); pass another --checkpoint-dir/],
    [[...train, '--checkpoint-dir', '/proc/no-such/deeper/still'], /checkpoint folder \/proc\/no-such\/deeper\/still cannot be made: mkdir \/proc\/no-such failed/],
    [[...train, '--checkpoint-dir', path.join(dir, 'ck'), '--logdir', '/proc/no-such'], /TensorBoard log folder \/proc\/no-such cannot be made: .*; pass another --logdir/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach(({ code, out, ms }, i) => {
    const [args, message] = cases[i];
    assert.equal(code, 1, `${args.join(' ')}: exit ${code}\n${out}`);
    assert.match(out, message, args.join(' '));
    assert.ok(ms < 60_000, `${args.join(' ')} took ${ms} ms`);
  });
  assert.ok(!fs.existsSync(path.join(dir, 'ck', 'resnet18-last.safetensors')), 'no training ran with an unusable --logdir');
});

test('plot skips JSON lines that are not events (null, numbers, strings, arrays) instead of failing on them', async () => {
  const file = path.join(tmp, 'mixed.ndjson');
  const step = (n: number) => JSON.stringify({ type: 'step', globalStep: n, loss: 1 / n, lr: 0.001 });
  fs.writeFileSync(file, ['null', step(1), '7', '"text"', '[1,2]', 'true', step(2), '{"type":null}', '{}', ''].join('\n'));
  const { code, out } = await runCli(['plot', file, '--out', path.join(tmp, 'mixed.png')]);
  assert.equal(code, 0, out);
  assert.match(out, /Saved .*mixed\.png: 2 steps, 0 epochs/);
});

test('a CIFAR-10 folder whose batches.meta.txt repeats a class name is refused when read (its checkpoints could not be read back)', () => {
  const folder = writeSyntheticCifar(path.join(tmp, 'dup-names'), { perFile: 2 });
  fs.writeFileSync(path.join(folder, 'batches.meta.txt'), 'cat\ndog\ncat\n1\n2\n3\n4\n5\n6\n7\n');
  assert.throws(() => loadCifar10(folder, 'test'), /batches\.meta\.txt: class name 'cat' appears more than once/);
});

test("names chosen by users or files are keys like any other: a tensor named '__proto__', blank rank variables", () => {
  const tensors: Record<string, Tensor> = {};
  for (const name of ['__proto__', 'constructor', 'toString']) Object.defineProperty(tensors, name, { value: ones([2]), enumerable: true });
  const file = path.join(tmp, 'proto.safetensors');
  saveSafetensors(file, tensors);
  const read = readSafetensorsFile(file);
  assert.deepEqual(Object.keys(read.tensors).sort(), ['__proto__', 'constructor', 'toString']);
  assert.equal(Object.getPrototypeOf(read.tensors), Object.prototype, 'the key did not replace the prototype');
  for (const t of Object.values(read.tensors)) assert.deepEqual(t.toList(), [1, 1]);
  for (const blank of [' ', '\t', ' 1 2']) {
    assert.throws(() => resolveProcessGroupOptions({}, { RANK: blank, WORLD_SIZE: '2' }), /Expected an integer in \$RANK \(for rank\)/, JSON.stringify(blank));
    assert.throws(() => resolveProcessGroupOptions({}, { RANK: '0', WORLD_SIZE: blank }), /Expected an integer in \$WORLD_SIZE/, JSON.stringify(blank));
  }
});
