// The bench report: images/s, RSS and page faults per case, and on a GPU the peak memory held by
// tensors on both sides.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { formatBenchmark, type BenchRow, type CaseResult } from '../src/bench/run';
import { formatTrainBenchmark, type TrainBenchResult } from '../src/bench/train-run';

const result = (impl: string, imagesPerSecond: number, peakCudaBytes: number | null): CaseResult => ({
  impl,
  mode: 'train',
  batch: 32,
  threads: 2,
  medianStepSeconds: 32 / imagesPerSecond,
  imagesPerSecond,
  peakRssBytes: 2 ** 30,
  pageFaultsPerStep: 10,
  peakCudaBytes,
});
const row = (ours: CaseResult, pytorch: CaseResult): BenchRow => ({
  mode: 'train',
  batch: 32,
  ours,
  pytorch,
  speedRatio: ours.imagesPerSecond / pytorch.imagesPerSecond,
  memoryRatio: 1,
});

test('the bench report gives the GPU peak memory of both sides on CUDA, and nothing of it on the CPU', () => {
  const gpu = formatBenchmark({ rows: [row(result('ours', 2000, 3 * 2 ** 30), result('pytorch', 1000, 2 * 2 ** 30))], dataImagesPerSecond: 50000, machine: 'H100' });
  assert.match(gpu, /^train 32 +2000 +1000 +2\.000 /m);
  assert.match(gpu, /^GPU memory \(peak allocated by tensors\): train 32 ours 3072 MB, PyTorch 2048 MB \(1\.50x\)$/m);
  const cpu = formatBenchmark({ rows: [row(result('ours', 250, null), result('pytorch', 260, null))], dataImagesPerSecond: 50000, machine: 'EPYC' });
  assert.doesNotMatch(cpu, /GPU memory/);
});

test('the end-to-end train benchmark runs the real train command on CIFAR-10 files and reports where epochs go', () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const res = spawnSync(
    process.execPath,
    [cli, 'bench', '--suite', 'train', '--train-arch', 'resnet18', '--train-batch', '16', '--epochs', '2', '--per-file', '16', '--repeats', '1', '--no-torch', '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(res.status, 0, res.stderr);
  const result = JSON.parse(res.stdout) as TrainBenchResult;
  assert.equal(result.trainImages, 80);
  assert.equal(result.rows.length, 1);
  const [row] = result.rows;
  assert.equal(row.pytorch, null);
  assert.equal(row.ours.runs[0].epochs.length, 2, 'one breakdown per epoch');
  const e = row.ours.epoch;
  for (const phase of ['data', 'step', 'eval', 'checkpoint'] as const) assert.ok(e[phase] > 0, `${phase} ${e[phase]}`);
  assert.ok(e.data + e.step + e.eval + e.checkpoint <= e.total + 1e-3);
  assert.ok(row.ours.wallSeconds > e.total * 2, 'the process runs both epochs');
  assert.ok(row.ours.imagesPerSecond > 0);
  // the PyTorch side is a plain script: at least it compiles (CI has no torchvision to run it)
  const script = path.resolve(__dirname, '..', 'bench', 'torch_train.py');
  const compiled = spawnSync('python3', ['-c', `import ast,sys; ast.parse(open(sys.argv[1]).read())`, script], { encoding: 'utf8' });
  assert.equal(compiled.status, 0, compiled.stderr);
});

test('the train benchmark table gives wall and epoch ratios and each side\'s breakdown', () => {
  const run = (total: number) => ({ wallSeconds: total * 2 + 3, epochs: [{ data: 0.1, step: total - 1, eval: 0.5, checkpoint: 0.4, total }], accuracy: 0.5 });
  const summary = (total: number) => ({ wallSeconds: total * 2 + 3, epoch: run(total).epochs[0], imagesPerSecond: 1000 / total, accuracy: 0.5, runs: [run(total)] });
  const text = formatTrainBenchmark({
    rows: [{ arch: 'resnet50', batch: 64, ours: summary(9), pytorch: summary(10), wallRatio: 21 / 23, epochRatio: 0.9 }],
    machine: 'EPYC',
    trainImages: 1000,
    testImages: 200,
    epochs: 1,
  });
  assert.match(text, /^resnet50 64 +21\.0 s +23\.0 s +0\.913 +9\.0 s +10\.0 s +0\.900 +111 +100 +0\.10\/8\.00\/0\.50\/0\.40 +0\.10\/9\.00\/0\.50\/0\.40$/m);
});
