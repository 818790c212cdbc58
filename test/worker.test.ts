// The addon is context-aware: it loads and computes in worker_threads, each with its own grad
// mode (libtorch's is thread-local), and workers exit cleanly with tensors still alive.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { isGradEnabled, memory, tensor } from '../src/index';
import { native } from '../src/native';

// Runs in the worker, on the compiled package (npm test builds dist/ first).
const distIndex = path.resolve(__dirname, '..', 'dist', 'index.js');
const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { tensor, noGrad, isGradEnabled, memory } = require(${JSON.stringify(distIndex)});
  const { mode } = workerData;
  const x = tensor([1, 2, 3], [3], { device: 'cpu', requiresGrad: true });
  const run = () => {
    const y = x.mul(x).sum();
    return { requiresGrad: y.requiresGrad, gradEnabled: isGradEnabled() };
  };
  const seen = mode === 'noGrad' ? noGrad(run) : run();
  let grad = null;
  if (mode !== 'noGrad') { x.mul(x).sum().backward(); grad = Array.from(x.grad.toArray()); }
  // leave tensors alive on purpose: teardown must cope
  parentPort.postMessage({ ...seen, grad, tensors: memory().tensors });
`;

function runWorker(mode: 'grad' | 'noGrad'): Promise<{ requiresGrad: boolean; gradEnabled: boolean; grad: number[] | null; tensors: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: { mode } });
    let message: unknown;
    w.on('message', (m) => (message = m));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve(message as never) : reject(new Error(`worker exited with ${code}`))));
  });
}

test('loads and trains in worker threads, concurrently, with per-thread grad mode', async () => {
  const before = memory().tensors;
  // The main thread sits inside noGrad while workers run: their grad mode is their own.
  const previous = native.autograd.setGradEnabled(false);
  let results;
  try {
    results = await Promise.all([runWorker('grad'), runWorker('noGrad'), runWorker('grad')]);
    assert.equal(isGradEnabled(), false, 'the workers did not change the main thread');
  } finally {
    native.autograd.setGradEnabled(previous);
  }
  assert.deepEqual(results[0].grad, [2, 4, 6]);
  assert.equal(results[0].requiresGrad, true);
  assert.equal(results[0].gradEnabled, true);
  assert.equal(results[1].requiresGrad, false);
  assert.equal(results[1].gradEnabled, false);
  assert.deepEqual(results[2].grad, [2, 4, 6]);
  assert.ok(results.every((r) => r.tensors > 0), 'each worker counts its own tensors');
  assert.equal(memory().tensors, before, "workers' tensors are not counted on the main thread");
  // and the main thread still works after the workers are gone
  assert.deepEqual(tensor([1, 2], [2], { device: 'cpu' }).add(1).toList(), [2, 3]);
});

test('terminating a worker in the middle of native calls does not abort the process', async () => {
  const busy = `
    const { parentPort } = require('node:worker_threads');
    const { randn } = require(${JSON.stringify(distIndex)});
    parentPort.postMessage('running');
    for (;;) randn([64, 64], { device: 'cpu' }).matmul(randn([64, 64], { device: 'cpu' }));
  `;
  for (let i = 0; i < 5; i++) {
    const w = new Worker(busy, { eval: true });
    await new Promise((resolve) => w.once('message', resolve));
    await new Promise((r) => setTimeout(r, 5 + i * 7));
    await w.terminate();
  }
  assert.deepEqual(tensor([1, 2], [2], { device: 'cpu' }).mul(3).toList(), [3, 6]);
});
