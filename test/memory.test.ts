// Memory: dispose, tidy scopes, keep, forgotten handles freed inside garbage collection, native
// bytes reported to V8 (a synchronous loop stays bounded), and 1,000 training steps with a flat
// live-tensor count and RSS.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { collectGarbage } from './helpers';
import { keep, memory, nn, noGrad, ones, randint, randn, tidy, zeros, type Tensor } from '../src/index';

const cpu = { device: 'cpu' } as const;

test('tidy disposes what it created except the result; keep() exempts; nesting moves results out', () => {
  collectGarbage();
  const before = memory().tensors;
  let inner: Tensor | undefined;
  let kept: Tensor | undefined;
  const out = tidy(() => {
    const a = ones([4], cpu);
    const b = a.add(1).mul(2);
    kept = keep(a.mul(10));
    inner = tidy(() => b.add(1)); // returned from the inner scope, belongs to the outer now
    return { result: b.sum(), list: [inner] };
  });
  assert.equal(out.result.item(), 16);
  assert.equal(inner!.isDisposed, false);
  assert.equal(kept!.isDisposed, false);
  assert.equal(memory().tensors - before, 3, 'result, inner and kept survive');
  out.result.dispose();
  inner!.dispose();
  kept!.dispose();
  assert.equal(memory().tensors, before);
});

test('tidy disposes everything when the function throws, and refuses async functions', () => {
  collectGarbage();
  const before = memory().tensors;
  assert.throws(() => tidy(() => { ones([3], cpu).add(1); throw new Error('fail'); }), /fail/);
  assert.equal(memory().tensors, before);
  assert.throws(() => tidy((async () => 1) as never), /synchronous function/);
});

test('memory() counts live handles and their bytes, each storage once', () => {
  collectGarbage();
  const m0 = memory();
  const t = zeros([1000], { ...cpu, dtype: 'float32' });
  const view = t.reshape([10, 100]);
  const m1 = memory();
  assert.equal(m1.tensors - m0.tensors, 2);
  assert.equal(m1.bytes - m0.bytes, 4000, 'the view shares the storage');
  t.dispose();
  assert.equal(memory().bytes - m0.bytes, 4000, 'the view still holds it');
  view.dispose();
  assert.equal(memory().bytes, m0.bytes);
  assert.deepEqual(Object.keys(memory().cuda).sort(), ['allocatedBytes', 'peakAllocatedBytes', 'reservedBytes']);
});

test('native bytes are reported to V8 (external memory)', () => {
  const before = memory().v8ExternalBytes;
  const big = zeros([25_000_000], cpu); // 100 MB
  const during = memory().v8ExternalBytes;
  big.dispose();
  const after = memory().v8ExternalBytes;
  assert.ok(during - before >= 99_000_000, `external grew by ${during - before}`);
  assert.ok(during - after >= 99_000_000, `external shrank by ${during - after}`);
});

test('forgotten tensors are freed by the garbage collection itself, without an event-loop turn', () => {
  const script = `
    const { randn, memory } = require('./src/index');
    const base = memory().tensors;
    // held until counted (a collection may come at any allocation now), then dropped
    let held = Array.from({ length: 200 }, () => randn([1000], { device: 'cpu' }));
    const live = memory().tensors - base;
    held = null;
    globalThis.gc();
    const m = memory();  // same synchronous turn: nothing queued has run
    console.log(JSON.stringify({ live, released: m.releasedByGc, left: m.tensors - base }));
  `;
  const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '-e', script], {
    cwd: path.resolve(__dirname, '..'),
    encoding: 'utf8',
  });
  assert.equal(res.status, 0, res.stderr);
  const r = JSON.parse(res.stdout.trim().split('\n').pop()!);
  assert.equal(r.live, 200);
  assert.ok(r.released >= 190, `released ${r.released} of 200`);
  assert.ok(r.left <= 10, `${r.left} handles left`);
});

test('a synchronous loop that never disposes stays bounded (GC paced by the bytes reported to V8)', () => {
  // 1,500 steps of 3 MiB each without tidy or dispose, never yielding: 4.4 GB if nothing were
  // freed before the loop ends (as when finalizers waited for the event loop). Stops early once
  // 512 MiB are live, so a regression fails fast instead of exhausting the machine.
  const script = `
    const { randn, memory } = require('./src/index');
    let peak = 0;
    for (let i = 0; i < 1500 && peak < 512 * 2 ** 20; i++) {
      const x = randn([256, 1024], { device: 'cpu' });
      x.mul(2).add(1).sum().item();
      peak = Math.max(peak, memory().bytes);
    }
    console.log(JSON.stringify({ peak, released: memory().releasedByGc }));
  `;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const r = JSON.parse(res.stdout.trim().split('\n').pop()!);
  assert.ok(r.peak < 256 * 2 ** 20, `peak live bytes ${(r.peak / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(r.released > 3000, `released by GC: ${r.released}`);
});

test('freed tensor memory is reused: same-size blocks freed and allocated with small ones kept in between stay flat', () => {
  // The pattern of a training loop on Node's main thread, made deterministic. With libtorch's own
  // allocator (posix_memalign) on glibc < 2.38 this grows 1.5-3 GB in 400 steps (every freed 4 MiB
  // block is stranded); the loop stops at 400 MiB so a regression fails fast.
  const script = `
    const { ones, zeros } = require('./src/index');
    const rss = () => process.memoryUsage().rss;
    const kept = [];
    const start = rss();
    let i = 0;
    for (; i < 400 && rss() - start < 400 * 2 ** 20; i++) {
      const big = ones([1024 * 1024], { device: 'cpu' });
      kept.push(zeros([16], { device: 'cpu' }));
      const twice = big.mul(2);
      big.dispose();
      twice.dispose();
    }
    console.log(JSON.stringify({ steps: i, grewMiB: (rss() - start) / 2 ** 20 }));
  `;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const r = JSON.parse(res.stdout.trim().split('\n').pop()!);
  assert.equal(r.steps, 400, `stopped after ${r.steps} steps: RSS grew ${r.grewMiB.toFixed(0)} MiB`);
  assert.ok(r.grewMiB < 64, `RSS grew ${r.grewMiB.toFixed(0)} MiB`);
});

test('1,000 training steps: live tensor count and RSS stay flat', () => {
  const net = new nn.Sequential(
    new nn.Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, ...cpu }),
    new nn.BatchNorm2d({ numFeatures: 4, ...cpu }),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(2),
    new nn.Flatten(),
    new nn.Linear({ inFeatures: 16, outFeatures: 3, ...cpu }),
  );
  const params = net.parameters();
  const x = randn([8, 1, 8, 8], cpu);
  const y = randint(0, 3, [8], cpu);
  const step = () =>
    tidy(() => {
      const loss = nn.functional.crossEntropy(net.forward(x), y);
      loss.backward();
      noGrad(() => {
        for (const p of params) p.add_(p.grad!, -0.01);
      });
      net.zeroGrad();
      return loss.item();
    });
  const samples: { tensors: number; rss: number }[] = [];
  for (let i = 1; i <= 1000; i++) {
    step();
    if (i === 200 || i === 1000) samples.push({ tensors: memory().tensors, rss: process.memoryUsage().rss });
  }
  assert.equal(samples[1].tensors, samples[0].tensors, 'live tensor count is flat');
  const growth = (samples[1].rss - samples[0].rss) / 2 ** 20;
  assert.ok(growth < 20, `RSS grew ${growth.toFixed(1)} MiB between step 200 and 1000`);
});
