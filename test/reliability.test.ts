// What the reliability section of the README promises (issue 29): work is not lost, bad input
// is refused before any work starts, and nothing hangs.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { modelFromCheckpoint, writeSyntheticCifar } from '../src/index';
import { writeFileAtomicOffThread } from '../src/io/file-writer';
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

test('a background file write lands while the calling thread never yields; a failed one rejects and leaves no temporary', async () => {
  const dir = path.join(tmp, 'off-thread');
  const target = path.join(dir, 'big.bin');
  const chunks = [new Uint8Array(32 * 2 ** 20).fill(7), Buffer.from('tail')];
  const written = writeFileAtomicOffThread(target, chunks);
  // Busy, as a training loop with ready batches is: no await, no event-loop turn.
  const start = performance.now();
  while (!fs.existsSync(target) && performance.now() - start < 20_000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  assert.ok(fs.existsSync(target), 'the file did not land while the caller was busy');
  await written;
  assert.equal(fs.statSync(target).size, 32 * 2 ** 20 + 4);
  assert.deepEqual(fs.readdirSync(dir), ['big.bin'], 'no temporary left');
  // into a path under a regular file: rejected with the path, nothing left behind
  const blocked = path.join(target, 'under-a-file.bin');
  await assert.rejects(writeFileAtomicOffThread(blocked, [Buffer.from('x')]), /ENOTDIR|EEXIST/);
  assert.deepEqual(fs.readdirSync(dir), ['big.bin']);
});
