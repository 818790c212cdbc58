// The bench report: images/s, RSS and page faults per case, and on a GPU the peak memory held by
// tensors on both sides.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBenchmark, type BenchRow, type CaseResult } from '../src/bench/run';

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
