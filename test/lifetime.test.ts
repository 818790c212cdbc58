// Freeing big objects on demand: Module.dispose() (libtorch's own modules included), SGD and
// DataLoader dispose(), `using`, and a process that trains 20 times staying flat.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DataLoader, SGD, memory, nn, randn, resnet18, runTraining, syntheticDataset, tidy } from '../src/index';
import { collectGarbage as gc, tempDir } from './helpers';

const cpu = { device: 'cpu' } as const;

test('Module.dispose() frees every parameter, buffer and gradient, native layers included; the module refuses use after', () => {
  const before = memory();
  const model = resnet18({ numClasses: 10, ...cpu });
  const x = randn([2, 3, 32, 32], cpu);
  model.forward(x).sum().backward();
  const grown = memory().bytes - before.bytes;
  assert.ok(grown > 40e6, `a ResNet18 holds ${grown} bytes`);
  const weight = model.parameters()[0];
  model.dispose();
  model.dispose(); // idempotent
  x.dispose();
  gc();
  assert.ok(memory().bytes - before.bytes < 1e6, `left ${memory().bytes - before.bytes} bytes`);
  assert.equal(weight.isDisposed, true);
  assert.throws(() => model.forward(randn([1, 3, 32, 32], cpu)), /has been disposed/);
  // a native layer alone: libtorch's module lets go of its weight too
  const conv = new nn.Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, ...cpu });
  conv.dispose();
  assert.throws(() => conv.forward(randn([1, 3, 8, 8], cpu)), /This module has been disposed and cannot be used/);
});

test('`using` disposes a model, an optimizer, a loader and a tensor at the end of the block', () => {
  gc();
  const before = memory();
  let kept: { model?: nn.Linear; opt?: SGD } = {};
  {
    using model = new nn.Linear({ inFeatures: 64, outFeatures: 64, ...cpu });
    using opt = new SGD(model.namedParameters(), { lr: 0.1, momentum: 0.9 });
    using t = randn([4, 64], cpu);
    tidy(() => model.forward(t).sum().backward());
    opt.step(); // momentum buffers now exist
    assert.ok(memory().tensors > before.tensors);
    kept = { model, opt };
  }
  assert.equal(memory().tensors, before.tensors, 'everything made in the block is gone');
  assert.equal(memory().bytes, before.bytes);
  assert.throws(() => kept.opt!.step(), /This SGD optimizer has been disposed/);
  const data = syntheticDataset('test', { size: 8 });
  const loader = new DataLoader(data, { batchSize: 4, ...cpu });
  loader.dispose(); // a CPU loader holds the caller's dataset: that stays
  assert.equal(data.images.isDisposed, false);
  data.images.dispose();
  data.labels.dispose();
});

test('20 trainings in one process: live tensors back to where they were after each, RSS flat', async () => {
  const dir = tempDir('rn-twenty-');
  // curves off: drawing curves.png grows RSS by libvips' and the allocator's own bounded caches
  // (curves.test.ts shows them level off), which would blur what this measures
  const options = { arch: 'resnet18', batchSize: 8, epochs: 1, device: 'cpu', syntheticSize: { train: 32, test: 16 }, overwrite: true, curves: false } as const;
  const rss: number[] = [];
  gc();
  const baseline = memory();
  for (let i = 0; i < 20; i++) {
    await runTraining({ ...options, checkpointDir: path.join(dir, 'run') }, { onLine: () => {} });
    assert.equal(memory().tensors, baseline.tensors, `run ${i + 1} left ${memory().tensors - baseline.tensors} tensors`);
    assert.equal(memory().bytes, baseline.bytes, `run ${i + 1} left ${memory().bytes - baseline.bytes} bytes`);
    rss.push(process.memoryUsage().rss);
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'run')).filter((n) => /curves|metrics/.test(n)), [], 'curves: false writes neither curves.png nor metrics.ndjson');
  const growth = (rss[19] - rss[4]) / 2 ** 20;
  assert.ok(growth < 64, `RSS grew ${growth.toFixed(0)} MiB from run 5 to run 20 (${rss.map((r) => Math.round(r / 2 ** 20)).join(', ')})`);
});
