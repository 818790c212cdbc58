// bench/gpu.sh's summary: ratios against PyTorch with the same options and against PyTorch eager fp32.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers';

const { table } = require('../scripts/gpu-table.js') as { table: (dir: string, names: string[]) => string };

test('the GPU table compares each configuration with PyTorch alike and with PyTorch eager fp32, and peak GPU memory', () => {
  const dir = tempDir('rn-gpu-table-');
  const row = (mode: string, batch: number, ours: number, pytorch: number, memory: [number, number] | null = null) => ({
    mode,
    batch,
    ours: { imagesPerSecond: ours, peakCudaBytes: memory?.[0] ?? null },
    pytorch: { imagesPerSecond: pytorch, peakCudaBytes: memory?.[1] ?? null },
    speedRatio: ours / pytorch,
  });
  fs.writeFileSync(path.join(dir, 'eager.json'), JSON.stringify({ machine: 'H100', rows: [row('train', 32, 1000, 1000), row('infer', 32, 4000, 5000)] }));
  fs.writeFileSync(path.join(dir, 'fast.json'), JSON.stringify({ machine: 'H100', rows: [row('train', 32, 1600, 1500, [900e6, 1000e6]), row('infer', 32, 9000, 8000)] }));
  const lines = table(dir, ['eager', 'fast']).split('\n');
  assert.equal(lines[0], 'H100');
  const cells = lines.slice(2).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(cells, [
    ['eager', 'train', '32', '1000', '1000', '1.000', '1.000', '-'],
    ['eager', 'infer', '32', '4000', '5000', '0.800', '0.800', '-'],
    ['fast', 'train', '32', '1600', '1500', '1.067', '1.600', '0.90'],
    ['fast', 'infer', '32', '9000', '8000', '1.125', '1.800', '-'],
  ]);
  fs.rmSync(dir, { recursive: true });
});
