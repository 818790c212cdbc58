// libtorch's intra-op thread count is process-wide state: at::set_num_threads stores a value
// that every thread initialising later takes. A data worker that once called it with 1 left the
// training thread at 1 thread (half speed). These tests pin the rule: worker threads set their own
// count only, no library code changes what another thread sees, and `threads` options are
// honoured by the thread they are for.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Classifier, MAX_THREADS, getNumThreads, runTraining, setNumThreads, setThreadNumThreads, train, type TrainEvent, readCheckpoint } from '../src/index';
import { tempDir } from './helpers';

const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const tmp = tempDir('rn-threads-');
const tiny = { arch: 'resnet18' as const, batchSize: 8, epochs: 1, maxStepsPerEpoch: 3, device: 'cpu' as const, syntheticSize: { train: 64, test: 16 } };

/** getNumThreads() as seen by a thread started now (it takes the process-wide value). */
function countOfANewThread(): Promise<number> {
  const code = `require('node:worker_threads').parentPort.postMessage(require(${JSON.stringify(dist)}).getNumThreads())`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (n: number) => void worker.terminate().then(() => resolve(n)));
    worker.once('error', reject);
  });
}

test('a prefetch worker leaves the process-wide thread count alone (threads starting later, and this one)', () => {
  // A fresh process, so that no thread has initialised its count before the worker runs.
  const script = `
    const rn = require(${JSON.stringify(dist)});
    const { Worker } = require('node:worker_threads');
    const probe = () => new Promise((resolve) => {
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(require(" + ${JSON.stringify(JSON.stringify(dist))} + ").getNumThreads())", { eval: true });
      w.once('message', (n) => w.terminate().then(() => resolve(n)));
    });
    (async () => {
      rn.setNumThreads(3); // the user's own process-wide choice
      const before = await probe();
      const loader = new rn.DataLoader(rn.syntheticDataset('train', { size: 256 }), { batchSize: 64, transform: rn.trainTransforms() });
      const during = [];
      for await (const b of loader.prefetch(0)) {
        during.push(await probe());
        b.images.dispose(); b.labels.dispose();
      }
      console.log(JSON.stringify({ before, during, after: await probe(), main: rn.getNumThreads() }));
    })();
  `;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const seen = JSON.parse(res.stdout);
  assert.deepEqual(seen, { before: 3, during: [3, 3, 3, 3], after: 3, main: 3 });
});

test('setThreadNumThreads changes the calling thread only; thread counts are bounded', async () => {
  const main = getNumThreads();
  const code = `
    const { parentPort } = require('node:worker_threads');
    const rn = require(${JSON.stringify(dist)});
    const applied = rn.setThreadNumThreads(1);
    rn.randn([256, 256]).matmul(rn.randn([256, 256])).sum().item(); // ops run with it
    parentPort.postMessage({ applied, own: rn.getNumThreads() });
  `;
  const seen = await new Promise<{ applied: boolean; own: number }>((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (m) => void worker.terminate().then(() => resolve(m)));
    worker.once('error', reject);
  });
  assert.deepEqual(seen, { applied: true, own: 1 });
  assert.equal(getNumThreads(), main, 'this thread is unchanged');
  assert.equal(await countOfANewThread(), main, 'threads starting later are unchanged');
  for (const bad of [0, -1, 1.5, MAX_THREADS + 1, 40000, 2 ** 32 + 1, '2', NaN]) {
    assert.throws(() => setNumThreads(bad as number), /Expected an integer between 1 and \d+ \(16 per hardware thread\) for threads but received/);
    assert.throws(() => setThreadNumThreads(bad as number), /for threads but received/);
  }
  assert.equal(getNumThreads(), main);
});

test('train({ threads }) runs training and evaluation with that count, and no other thread sees it', async () => {
  const main = getNumThreads();
  for (const threads of [1, 3]) {
    const events: TrainEvent[] = [];
    const handle = train({ ...tiny, threads, checkpointDir: path.join(tmp, `api-${threads}`), onEvent: (e) => events.push(e) });
    const during: number[] = [];
    const sample = setInterval(() => during.push(getNumThreads()), 20);
    const newThread = await countOfANewThread();
    await handle.result.finally(() => clearInterval(sample));
    const epochs = events.filter((e) => e.type === 'epoch');
    assert.equal(epochs.length, 1);
    assert.equal(epochs[0].intraOpThreads, threads, 'the training thread, after its steps, its data workers and its evaluation');
    assert.ok(during.length > 0 && during.every((n) => n === main), `main thread ${during}`);
    assert.equal(newThread, main, 'a thread started during the run');
  }
  assert.equal(await countOfANewThread(), main);
});

test('runTraining on the calling thread keeps its threads option through every step and the evaluation', async () => {
  const main = getNumThreads();
  const seen: number[] = [];
  const target = main === 1 ? 2 : 1;
  // onEvent runs synchronously on the training thread, after each step and epoch.
  try {
    await runTraining({ ...tiny, threads: target, checkpointDir: path.join(tmp, 'inline') }, { onLine: () => {}, onEvent: () => seen.push(getNumThreads()) });
  } finally {
    setThreadNumThreads(main);
  }
  assert.ok(seen.length >= 5 && seen.every((n) => n === target), `${seen}`);
});

test('a Classifier computes with its threads option on its own thread', async () => {
  const main = getNumThreads();
  const dir = path.join(tmp, 'for-classifier');
  const { bestCheckpoint } = await runTraining({ ...tiny, checkpointDir: dir }, { onLine: () => {} });
  const classifier = await Classifier.load(bestCheckpoint, { device: 'cpu', threads: 1 });
  try {
    assert.equal(classifier.threads, 1);
    const pixels = { data: new Uint8Array(32 * 32 * 3).fill(128), width: 32, height: 32, channels: 3 as const };
    await classifier.classify([pixels, pixels]);
    assert.equal(getNumThreads(), main);
    assert.equal(await countOfANewThread(), main);
  } finally {
    await classifier.close();
  }
  const byDefault = await Classifier.load(bestCheckpoint, { device: 'cpu' });
  assert.equal(byDefault.threads, await countOfANewThread(), 'default: the process-wide count');
  await byDefault.close();
  await assert.rejects(Classifier.load(bestCheckpoint, { threads: 0 }), /Expected an integer between 1 and \d+ .* for threads but received 0/);
});

test('CLI train --threads N: the training thread reports N in the JSON epoch line', () => {
  const res = spawnSync(
    process.execPath,
    [cli, 'train', '--arch', 'resnet18', '--epochs', '1', '--batch-size', '8', '--max-steps-per-epoch', '2', '--device', 'cpu', '--threads', '1', '--no-tf32', '--checkpoint-dir', path.join(tmp, 'cli'), '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(res.status, 0, res.stderr);
  const epoch = res.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((e) => e.type === 'epoch');
  assert.equal(epoch.intraOpThreads, 1);
  assert.equal(readCheckpoint(path.join(tmp, 'cli', 'resnet18-last.safetensors')).meta.config.tf32, false, '--no-tf32 reached the run');
  for (const key of ['data', 'step', 'eval', 'checkpoint', 'total']) assert.ok(epoch.seconds[key] >= 0, `seconds.${key}`);
});
