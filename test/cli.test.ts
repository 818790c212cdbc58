// The CLI: doctor's report, --help, and exit codes scripts can rely on.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('doctor prints libtorch version and folder, build, CUDA status, cuDNN, threads, ABI', () => {
  const res = run('doctor');
  assert.equal(res.status, 0, res.stderr);
  for (const label of ['libtorch ', 'libtorch folder', 'loaded from', 'CUDA ', 'cuDNN', 'threads', 'addon']) {
    assert.ok(res.stdout.includes(label), `doctor shows ${label.trim()}`);
  }
  assert.match(res.stdout, /libtorch\s+\d+\.\d+\.\d+\S* \((CPU|CUDA) build\)/);
  assert.match(res.stdout, /CUDA\s+(available|not available: .+)/);
  const json = JSON.parse(run('doctor', '--json').stdout);
  assert.match(json.libtorchVersion, /^\d+\.\d+/);
  assert.equal(typeof json.cudaAvailable, 'boolean');
  assert.ok(json.intraOpThreads >= 1);
  assert.equal(json.addon.napiVersion, 8);
  if (!json.cudaAvailable) assert.ok(json.cudaUnavailableReason.length > 0);
});

test('--help exits 0; unknown commands and options exit 2 with a message', () => {
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: resnet-native/);
  assert.match(help.stdout, /doctor/);
  assert.equal(run('doctor', '--help').status, 0);
  const bad = run('frobnicate');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
  assert.equal(run('doctor', '--bogus').status, 2);
});
