// The glibc malloc thresholds raised and the malloc-based tensor allocator installed at load
// (src/native.ts, native/allocator.cc), and the ways to leave them alone. That the allocator
// reuses freed blocks is tested in memory.test.ts.
// Their effect on speed and page faults is measured by `npm run bench` (faults per step, ours and
// PyTorch's): fault counts of short runs depend on heap layout and make a flaky unit test.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const nativeJs = path.resolve(__dirname, '..', 'dist', 'native.js');

function loaded(env: NodeJS.ProcessEnv): { tuned: boolean; reason: string; tensorAllocator: string } {
  const script = `console.log(JSON.stringify(require(${JSON.stringify(nativeJs)}).hostAllocator))`;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(MALLOC_|GLIBC_TUNABLES$|RESNET_NATIVE_MALLOC$)/.test(k)));
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...clean, ...env } });
  assert.equal(res.status, 0, res.stderr);
  return JSON.parse(res.stdout.trim());
}

const glibc = Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);

test('on glibc the mmap and trim thresholds are raised when the addon loads', () => {
  assert.deepEqual(
    loaded({}),
    glibc
      ? { tuned: true, reason: 'glibc mmap threshold 32 MiB, trim threshold 64 MiB', tensorAllocator: 'malloc' }
      : { tuned: false, reason: 'not glibc', tensorAllocator: 'libtorch' },
  );
});

test("RESNET_NATIVE_MALLOC=system and the user's own malloc settings leave glibc alone", () => {
  assert.deepEqual(loaded({ RESNET_NATIVE_MALLOC: 'system' }), { tuned: false, reason: 'RESNET_NATIVE_MALLOC=system', tensorAllocator: 'libtorch' });
  // the user's own malloc settings keep the thresholds theirs; tensors still come from malloc
  const ours = glibc ? 'malloc' : 'libtorch';
  assert.deepEqual(loaded({ MALLOC_TRIM_THRESHOLD_: '1048576' }), { tuned: false, reason: 'MALLOC_TRIM_THRESHOLD_ is set', tensorAllocator: ours });
  assert.deepEqual(loaded({ MALLOC_TOP_PAD_: '0' }), { tuned: false, reason: 'MALLOC_TOP_PAD_ is set', tensorAllocator: ours });
  assert.deepEqual(loaded({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576' }), { tuned: false, reason: 'GLIBC_TUNABLES sets malloc', tensorAllocator: ours });
});

test('doctor reports what was done to the allocator', () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const res = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, RESNET_NATIVE_MALLOC: 'system' } });
  assert.equal(res.status, 0, res.stderr);
  assert.deepEqual(JSON.parse(res.stdout).hostAllocator, { tuned: false, reason: 'RESNET_NATIVE_MALLOC=system', tensorAllocator: 'libtorch' });
});
