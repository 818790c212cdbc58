// The CLI: doctor's report, --help, and exit codes scripts can rely on.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { tempDir } from './helpers';

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
  assert.equal(json.addon.napiVersion, 'experimental', 'built so that finalizers run inside GC');
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

test('show-data saves a PNG grid of 6 labelled images and prints the tutorial shapes', async () => {
  const out = path.join(tempDir('rn-cli-'), 'samples.png');
  const res = run('show-data', '--out', out);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /SYNTHETIC dataset/);
  assert.match(res.stdout, /Image shape: \(256, 3, 32, 32\), Label shape: \(256\)/);
  const labels = /Labels: (.*)/.exec(res.stdout)![1].split(', ');
  assert.equal(labels.length, 6);
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! >= 3 * 160 && meta.height! >= 2 * 160, `${meta.width}x${meta.height}`);
  const bad = run('show-data', '--data', '/nonexistent/cifar');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^resnet-native: data \/nonexistent\/cifar does not exist/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace without --verbose');
  assert.match(run('show-data', '--data', '/nonexistent/cifar', '--verbose').stderr, /\n\s+at /);
});

test('bench runs each case in its own process and reports images/s, peak RSS, page faults and the binding share', () => {
  const res = run('bench', '--suite', 'step', '--batch', '2', '--steps', '1', '--warmup', '0', '--repeats', '1', '--no-torch', '--json');
  assert.equal(res.status, 0, res.stderr);
  const result = JSON.parse(res.stdout);
  assert.deepEqual(result.rows.map((r: { mode: string; batch: number }) => `${r.mode} ${r.batch}`), ['train 2', 'infer 2']);
  for (const row of result.rows) {
    assert.ok(row.ours.imagesPerSecond > 0);
    assert.ok(row.ours.peakRssBytes > 50 * 2 ** 20);
    assert.ok(row.ours.callsPerStep > 100, `${row.ours.callsPerStep} calls into the addon per step`);
    assert.ok(row.ours.bindingShare > 0 && row.ours.bindingShare < 1);
    assert.ok(Number.isFinite(row.ours.pageFaultsPerStep) && row.ours.pageFaultsPerStep >= 0);
    assert.equal(row.pytorch, null);
  }
  assert.ok(result.dataImagesPerSecond > 0);
  for (const bad of ['x', 'a,b', '0', '']) {
    const res = run('bench', '--batch', bad);
    assert.equal(res.status, 2, `--batch '${bad}'`);
    assert.match(res.stderr, /option '--batch <sizes>' argument '.*' is invalid/);
  }
  const graphOnCpu = run('bench', '--suite', 'step', '--cuda-graph', '--batch', '2');
  assert.equal(graphOnCpu.status, 1);
  assert.match(graphOnCpu.stderr, /CUDA graphs need a CUDA device: pass --device cuda/);
  const both = run('bench', '--suite', 'step', '--amp', 'bfloat16', '--half', 'bfloat16', '--batch', '2');
  assert.equal(both.status, 1);
  assert.match(both.stderr, /--amp and --half are alternatives: pick one/);
  // One case with channels-last weights and inputs and a bfloat16 model (options both sides take).
  const caseJs = path.resolve(__dirname, '..', 'dist', 'bench', 'case.js');
  const nhwc = spawnSync(process.execPath, [caseJs, '--mode', 'infer', '--batch', '2', '--steps', '1', '--warmup', '0', '--channels-last', '--half', 'bfloat16'], { encoding: 'utf8' });
  assert.equal(nhwc.status, 0, nhwc.stderr);
  const nhwcResult = JSON.parse(nhwc.stdout);
  assert.equal(nhwcResult.channelsLast, true);
  assert.equal(nhwcResult.half, 'bfloat16');
  assert.ok(nhwcResult.imagesPerSecond > 0);
});
