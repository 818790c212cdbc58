// The training run end to end on the synthetic set: accuracy well above chance, the tutorial's
// log formats, checkpoints, resume equivalence, NaN stop, cancellation, kill-during-save, CLI.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { TrainingError, evaluate, modelFromCheckpoint, readCheckpoint, runTraining, type TrainEvent, type TrainOptions } from '../src/index';
import { DataLoader, syntheticDataset, testTransforms } from '../src/index';
import { evaluateCheckpoint } from '../src/train/evaluate-checkpoint';
import { tempDir } from './helpers';

const tmp = tempDir('rn-train-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const small: TrainOptions = { arch: 'resnet18', batchSize: 16, lr: 0.05, minLr: 0.001, device: 'cpu', syntheticSize: { train: 1600, test: 400 } };

const STEP = /^Epoch: \[ {0,2}\d+\/ {0,2}\d+\], Steps: \[ {0,2}\d+\/ {0,2}\d+\], Train Loss: \[\d+\.\d{3}\]$/;
const EPOCH = /^Epoch: \[ {0,2}\d+\/ {0,2}\d+\], Average Train Loss: \[\d+\.\d{3}\], Accuracy: \[\d\.\d{3}\]$/;
const FINAL = /^End of validation the best Accuracy is: {2}\d\.\d{3}, save the best ckpt file in .+resnet18-best\.safetensors$/;

test('a small ResNet trains on the synthetic set well above chance, logging as the tutorial', async () => {
  const lines: string[] = [];
  const events: TrainEvent[] = [];
  const dir = path.join(tmp, 'e2e');
  const result = await runTraining({ ...small, epochs: 2, checkpointDir: dir }, { onLine: (l) => lines.push(l), onEvent: (e) => events.push(e) });
  assert.equal(result.steps, 200, 'two epochs of 100 steps');
  // seeds 0-3 on one machine: 0.84-0.92 (the seed moves it as much as another CPU's kernels do)
  assert.ok(result.bestAccuracy > 0.6, `best accuracy ${result.bestAccuracy} (chance is 0.1)`);
  assert.ok(result.losses[1] < result.losses[0]);
  assert.match(lines[0], /built-in SYNTHETIC dataset/);
  const steps = lines.filter((l) => l.includes('Steps:'));
  assert.ok(steps.every((l) => STEP.test(l)), steps.join('\n'));
  assert.deepEqual(steps.map((l) => /Steps: \[\s*(\d+)/.exec(l)![1]), ['1', '100', '1', '100'], 'step 1, every 100 and the last');
  assert.equal(lines.filter((l) => l === '-'.repeat(50)).length, 4);
  assert.equal(lines.filter((l) => EPOCH.test(l)).length, 2);
  assert.equal(lines.at(-2), '='.repeat(80));
  assert.match(lines.at(-1)!, FINAL);
  assert.deepEqual([...new Set(events.map((e) => e.type))], ['start', 'step', 'epoch', 'checkpoint', 'done']);
  // the best checkpoint rebuilds the model and reproduces the reported accuracy
  const { model, meta } = modelFromCheckpoint(result.bestCheckpoint, 'cpu');
  assert.equal(meta.arch, 'resnet18');
  assert.equal(meta.accuracy, result.bestAccuracy);
  const loader = new DataLoader(syntheticDataset('test', { size: 400 }), { batchSize: 16, seed: 1, transform: testTransforms() });
  assert.equal((await evaluate(model, loader)).accuracy, result.bestAccuracy);
});

test('a run stopped after epoch 1 and resumed ends with the same weights as an uninterrupted run', async () => {
  const options: TrainOptions = { ...small, epochs: 2, maxStepsPerEpoch: 4, syntheticSize: { train: 320, test: 64 } };
  const whole = await runTraining({ ...options, checkpointDir: path.join(tmp, 'whole') }, { onLine: () => {} });

  const dir = path.join(tmp, 'resumed');
  const controller = new AbortController();
  await assert.rejects(
    runTraining(
      { ...options, checkpointDir: dir },
      { onLine: () => {}, signal: controller.signal, onEvent: (e) => e.type === 'epoch' && controller.abort() },
    ),
    (e: Error) => e instanceof TrainingError && /cancelled at epoch 2, step 1; the last good checkpoint is .*resnet18-last\.safetensors/.test(e.message),
  );
  const resumedResult = await runTraining({ ...options, checkpointDir: dir, resume: path.join(dir, 'resnet18-last.safetensors') }, { onLine: () => {} });
  assert.equal(resumedResult.steps, whole.steps);
  const a = readCheckpoint(whole.lastCheckpoint);
  const b = readCheckpoint(resumedResult.lastCheckpoint);
  assert.equal(b.meta.epoch, 2);
  for (const key of Object.keys(a.model)) {
    assert.deepEqual(b.model[key].toArray(), a.model[key].toArray(), `${key} equal`);
  }
  for (const key of Object.keys(a.optimizer)) assert.deepEqual(b.optimizer[key].toArray(), a.optimizer[key].toArray(), `momentum ${key}`);
});

test('a NaN loss stops the run naming the step, and the last good checkpoint stays readable', async () => {
  const dir = path.join(tmp, 'nan');
  const options: TrainOptions = { ...small, epochs: 2, maxStepsPerEpoch: 3, syntheticSize: { train: 160, test: 32 }, checkpointDir: dir };
  const controller = new AbortController();
  await assert.rejects(
    runTraining(options, { onLine: () => {}, signal: controller.signal, onEvent: (e) => e.type === 'epoch' && controller.abort() }),
  );
  const last = path.join(dir, 'resnet18-last.safetensors');
  const before = fs.readFileSync(last);
  await assert.rejects(
    runTraining({ ...options, lr: 1e30, minLr: 1e30, resume: last }, { onLine: () => {} }),
    (e: Error) => /loss became (NaN|Infinity|-Infinity) at epoch 2, step \d+: training stopped; the last good checkpoint is/.test(e.message),
  );
  assert.deepEqual(fs.readFileSync(last), before, 'the last good checkpoint is untouched');
  assert.equal(readCheckpoint(last).meta.epoch, 1);
});

test('losses read steps later (lossReadLag, so a GPU is never drained) print, report and stop exactly as losses read at once', async () => {
  const base: TrainOptions = { ...small, epochs: 2, maxStepsPerEpoch: 5, logEvery: 2, syntheticSize: { train: 160, test: 32 } };
  const run = async (lossReadLag: number, extra: TrainOptions = {}) => {
    const lines: string[] = [];
    const steps: unknown[] = [];
    let error = '';
    const dir = path.join(tmp, `lag-${lossReadLag}-${extra.lr ?? 'ok'}`);
    try {
      await runTraining({ ...base, ...extra, lossReadLag, checkpointDir: dir }, {
        onLine: (l) => lines.push(l),
        onEvent: (e) => e.type === 'step' && steps.push({ ...e, imagesPerSecond: 0, etaSeconds: 0 }),
      });
    } catch (err) {
      error = (err as Error).message.replace(dir, '<dir>');
    }
    return { lines: lines.map((l) => l.replace(dir, '<dir>')), steps, error };
  };
  const atOnce = await run(0);
  assert.equal(atOnce.error, '');
  assert.equal(atOnce.steps.length, 10);
  for (const lag of [1, 3]) assert.deepEqual(await run(lag), atOnce, `lag ${lag}`);
  // a loss that becomes infinite on step 2: the same lines, then the same error naming step 2
  const nanAtOnce = await run(0, { lr: 1e30, minLr: 1e30 });
  assert.match(nanAtOnce.error, /^loss became (NaN|Infinity|-Infinity) at epoch 1, step 2: training stopped; no checkpoint was written$/);
  assert.equal(nanAtOnce.steps.length, 1);
  for (const lag of [1, 3]) assert.deepEqual(await run(lag, { lr: 1e30, minLr: 1e30 }), nanAtOnce, `NaN, lag ${lag}`);
});

test('checkpoints are written while the next epoch trains: each event names a complete file; a failed write stops the run', async () => {
  const options: TrainOptions = { ...small, epochs: 3, maxStepsPerEpoch: 2, syntheticSize: { train: 160, test: 32 } };
  const dir = path.join(tmp, 'background');
  const seen: string[] = [];
  const result = await runTraining({ ...options, checkpointDir: dir }, {
    onLine: () => {},
    onEvent: (e) => {
      if (e.type !== 'checkpoint') return;
      const { meta } = readCheckpoint(e.file); // whole, with this epoch's metadata, when the event comes
      seen.push(`${e.kind} ${e.epoch} ${meta.epoch}`);
    },
  });
  assert.ok(seen.includes('last 1 1') && seen.includes('last 2 2') && seen.includes('last 3 3'), seen.join(', '));
  assert.ok(seen.includes('best 1 1'));
  assert.equal(readCheckpoint(result.lastCheckpoint).meta.epoch, 3, 'the last write is complete when the run resolves');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary files left');
  // the last checkpoint's name taken by a folder: the rename fails, and the run says so
  const blocked = path.join(tmp, 'blocked');
  fs.mkdirSync(path.join(blocked, 'resnet18-last.safetensors'), { recursive: true });
  await assert.rejects(runTraining({ ...options, checkpointDir: blocked, overwrite: true }, { onLine: () => {} }), (e: Error) => e instanceof TrainingError && /writing a checkpoint failed: .*resnet18-last\.safetensors/.test(e.message));
});

test('killing the training process at any moment leaves the last checkpoint readable', async () => {
  const dir = path.join(tmp, 'killed');
  const script = `
    const { runTraining } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'index.js'))});
    runTraining(
      { arch: 'resnet18', batchSize: 8, epochs: 1000, maxStepsPerEpoch: 1, device: 'cpu', syntheticSize: { train: 64, test: 16 }, checkpointDir: ${JSON.stringify(dir)}, overwrite: true },
      { onLine: () => {}, onEvent: (e) => e.type === 'checkpoint' && e.kind === 'last' && console.log(JSON.stringify(e)) },
    );
  `;
  for (const delay of [0, 15, 35, 60, 90]) {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let checkpoints = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        checkpoints += (d.toString().match(/"kind":"last"/g) ?? []).length;
        if (checkpoints >= 2) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const { meta, model } = readCheckpoint(path.join(dir, 'resnet18-last.safetensors'));
    assert.ok(meta.epoch >= 2, `epoch ${meta.epoch}`);
    assert.equal(Object.keys(model).length, 122);
  }
});

test('CLI train: tutorial lines, --json, and bad arguments exit 2 with one clear line', () => {
  const dir = path.join(tmp, 'cli');
  const res = spawnSync(process.execPath, [cli, 'train', '--arch', 'resnet18', '--epochs', '1', '--batch-size', '16', '--max-steps-per-epoch', '2', '--device', 'cpu', '--checkpoint-dir', dir], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  assert.match(lines[0], /SYNTHETIC/);
  assert.ok(lines.some((l) => STEP.test(l)));
  assert.ok(lines.some((l) => EPOCH.test(l)));
  assert.match(lines.at(-1)!, FINAL);
  const json = spawnSync(process.execPath, [cli, 'train', '--arch', 'resnet18', '--epochs', '1', '--batch-size', '16', '--max-steps-per-epoch', '2', '--device', 'cpu', '--checkpoint-dir', dir, '--json', '--overwrite'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const step = events.find((e) => e.type === 'step');
  for (const key of ['epoch', 'step', 'loss', 'lr', 'imagesPerSecond']) assert.ok(key in step, key);
  assert.ok(typeof events.find((e) => e.type === 'epoch').accuracy === 'number');
  // TF32 as in PyTorch unless asked: convolutions only (a switch that matters on CUDA)
  assert.equal(readCheckpoint(path.join(dir, 'resnet18-best.safetensors')).meta.config.tf32, 'convolutions');
  const evalRes = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', path.join(dir, 'resnet18-best.safetensors'), '--json'], { encoding: 'utf8' });
  assert.equal(evalRes.status, 0, evalRes.stderr);
  assert.equal(JSON.parse(evalRes.stdout).perClass.length, 10);
  for (const bad of [
    ['--epochs', '0'],
    ['--lr', 'fast'],
    ['--arch', 'resnet7'],
    ['--stem', 'tiny'],
  ]) {
    const r = spawnSync(process.execPath, [cli, 'train', ...bad], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /error: option .* (argument .* is invalid|invalid)/);
  }
  const missing = spawnSync(process.execPath, [cli, 'train', '--data', path.join(tmp, 'no-such-dir'), '--device', 'cpu'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^resnet-native: data .*no-such-dir does not exist/);
  const graphOnCpu = spawnSync(process.execPath, [cli, 'train', '--cuda-graph', '--device', 'cpu'], { encoding: 'utf8' });
  assert.equal(graphOnCpu.status, 2, 'conflicting options are bad usage');
  assert.match(graphOnCpu.stderr, /^resnet-native: cudaGraph needs a CUDA device, and the device is 'cpu'/);
  const scaledGraph = spawnSync(process.execPath, [cli, 'train', '--amp', 'float16', '--cuda-graph', '--device', 'cpu'], { encoding: 'utf8' });
  assert.equal(scaledGraph.status, 2);
  assert.match(scaledGraph.stderr, /^resnet-native: loss scaling decides on the CPU whether each step is applied, which a CUDA graph cannot: use amp 'bfloat16'/);
  const unscaledGraph = spawnSync(process.execPath, [cli, 'train', '--amp', 'float16', '--no-loss-scaling', '--cuda-graph', '--device', 'cpu'], { encoding: 'utf8' });
  assert.match(unscaledGraph.stderr, /^resnet-native: cudaGraph needs a CUDA device/, '--no-loss-scaling reaches train()');
  // options checked before the training thread starts: bad usage exits 2 with the option named
  for (const [bad, message] of [
    [['--device', 'foo'], /Expected 'cpu', 'cuda' or 'cuda:N' for --device but received 'foo'/],
    [['--threads', '40000'], /Expected an integer between 1 and \d+ \(16 per hardware thread\) for --threads but received 40000/],
    [['--batch-size', '1'], /batchSize 1 cannot train/],
  ] as const) {
    const r = spawnSync(process.execPath, [cli, 'train', ...bad], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const notCkpt = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', path.join(__dirname, 'fixtures', 'small_net.safetensors')], { encoding: 'utf8' });
  assert.equal(notCkpt.status, 1);
  assert.match(notCkpt.stderr, /is not a resnet-native checkpoint/);
});

test('Ctrl-C stops CLI training at the next step with exit code 130', async () => {
  const dir = path.join(tmp, 'sigint');
  const child = spawn(process.execPath, [cli, 'train', '--arch', 'resnet18', '--batch-size', '8', '--epochs', '5', '--device', 'cpu', '--checkpoint-dir', dir, '--log-every', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => /Steps: \[\s*2\//.test(d.toString()) && resolve()));
  const t0 = Date.now();
  child.kill('SIGINT');
  const code = await new Promise((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 130, stderr);
  assert.ok(Date.now() - t0 < 5000, 'stopped promptly');
  assert.match(stderr, /training cancelled at epoch 1, step \d+/);
});

test('mixed precision (bfloat16 autocast) with channels-last trains with finite losses', async () => {
  const losses: number[] = [];
  await runTraining(
    { ...small, amp: 'bfloat16', channelsLast: true, epochs: 1, maxStepsPerEpoch: 3, syntheticSize: { train: 64, test: 16 }, checkpointDir: path.join(tmp, 'amp') },
    { onLine: () => {}, onEvent: (e) => e.type === 'step' && losses.push(e.loss) },
  );
  assert.equal(losses.length, 3);
  assert.ok(losses.every(Number.isFinite));
  await assert.rejects(runTraining({ ...small, amp: 'int8' as never }), /Expected 'bfloat16' or 'float16' for amp but received 'int8'/);
  await assert.rejects(runTraining({ ...small, tf32: 'yes' as never }), /Expected true, false or 'convolutions' for tf32 but received 'yes'/);
});

test('a half-precision model (bfloat16, float32 BatchNorm) trains, and its checkpoint evaluates as float32', async () => {
  const losses: number[] = [];
  const dir = path.join(tmp, 'half');
  const result = await runTraining(
    { ...small, half: 'bfloat16', epochs: 1, maxStepsPerEpoch: 3, syntheticSize: { train: 64, test: 16 }, checkpointDir: dir },
    { onLine: () => {}, onEvent: (e) => e.type === 'step' && losses.push(e.loss) },
  );
  assert.equal(losses.length, 3);
  assert.ok(losses.every(Number.isFinite));
  const saved = readCheckpoint(result.lastCheckpoint);
  assert.equal(saved.model['conv1.weight'].dtype, 'bfloat16');
  assert.equal(saved.model['bn1.running_mean'].dtype, 'float32');
  const evaluation = await evaluateCheckpoint(result.lastCheckpoint, {});
  assert.ok(evaluation.accuracy >= 0 && evaluation.accuracy <= 1);
  await assert.rejects(runTraining({ ...small, half: 'bfloat16', amp: 'bfloat16' }), /amp \(autocast\) and half \(a half-precision model\) are alternatives/);
});

test('float16 autocast trains with loss scaling: overflowing steps are skipped and reported, the scale is checkpointed and resumed', async () => {
  const dir = path.join(tmp, 'fp16');
  const lines: string[] = [];
  const epochs: Extract<TrainEvent, { type: 'epoch' }>[] = [];
  const options: TrainOptions = { ...small, amp: 'float16', batchSize: 8, imageSize: 16, epochs: 1, maxStepsPerEpoch: 2, syntheticSize: { train: 16, test: 8 }, checkpointDir: dir };
  // 2^30 times the loss overflows float16 gradients (max 65504): the first steps must be skipped
  const stepScales: (number | null)[] = [];
  const first = await runTraining(
    { ...options, lossScaling: { initScale: 2 ** 30 } },
    { onLine: (l) => lines.push(l), onEvent: (e) => (e.type === 'epoch' ? epochs.push(e) : e.type === 'step' && stepScales.push(e.lossScale)) },
  );
  const [e1] = epochs;
  // each step reports the scale after its update: halved by each skipped step
  assert.equal(stepScales.length, 2);
  assert.equal(stepScales[1], e1.lossScale);
  assert.ok(stepScales[0]! <= 2 ** 29, `step 1 overflowed at 2^30: scale ${stepScales[0]}`);
  assert.ok(e1.skippedSteps >= 1, `skipped ${e1.skippedSteps}`);
  assert.equal(e1.lossScale, 2 ** (30 - e1.skippedSteps), 'halved once per skipped step');
  assert.ok(lines.includes(`${e1.skippedSteps} of 2 steps skipped: float16 gradients overflowed (loss scale now ${e1.lossScale})`), lines.join('\n'));
  assert.deepEqual(readCheckpoint(first.lastCheckpoint).meta.lossScale, { scale: e1.lossScale, growthTracker: 0 });

  // resumed with the default scaler (2^16): the saved scale is what it continues from
  await runTraining({ ...options, epochs: 2, resume: first.lastCheckpoint }, { onLine: () => {}, onEvent: (e) => e.type === 'epoch' && epochs.push(e) });
  const e2 = epochs[1];
  assert.equal(e2.lossScale, e1.lossScale! / 2 ** e2.skippedSteps);

  // bfloat16 needs no loss scaling; off unless asked
  const bf16: number[] = [];
  await runTraining({ ...options, amp: 'bfloat16', checkpointDir: path.join(tmp, 'bf16') }, { onLine: () => {}, onEvent: (e) => (e.type === 'epoch' || e.type === 'step') && bf16.push(e.lossScale ?? -1) });
  assert.deepEqual(bf16, [-1, -1, -1]);

  await assert.rejects(runTraining({ ...options, cudaGraph: true }), /loss scaling decides on the CPU whether each step is applied, which a CUDA graph cannot/);
  await assert.rejects(runTraining({ ...options, amp: undefined, half: 'float16', lossScaling: true }), /a half 'float16' model has float16 gradients/);
  await assert.rejects(runTraining({ ...options, lossScaling: 'yes' as never }), /Expected boolean for lossScaling but received 'yes'/);
  await assert.rejects(runTraining({ ...options, lossScaling: { growthInterval: 0 } }), /positive integer for growthInterval/);
});
