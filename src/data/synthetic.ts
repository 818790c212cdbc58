// A built-in synthetic dataset in CIFAR-10's record format, so the training demo runs with no
// download. Ten procedurally generated, learnable classes: each class is a coloured square of its
// own colour and size on a noisy background at a random place. Clearly not CIFAR-10.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IMAGE_BYTES, RECORD_BYTES, parseRecords, type ImageDataset } from './cifar10';
import { SeededRandom } from './random';
import { makeFolder } from '../io/files';

export const SYNTHETIC_CLASSES = ['red', 'green', 'blue', 'yellow', 'cyan', 'magenta', 'orange', 'purple', 'white', 'gray'].map(
  (c) => `synthetic-${c}`,
);
const COLORS: [number, number, number][] = [
  [220, 40, 40],
  [40, 200, 60],
  [40, 70, 220],
  [230, 220, 40],
  [40, 210, 220],
  [210, 50, 200],
  [240, 140, 30],
  [120, 50, 170],
  [240, 240, 240],
  [128, 128, 128],
];

/** `count` records (label byte + CHW pixels), deterministic for a seed. */
export function syntheticRecords(count: number, seed: number): Buffer {
  const rng = new SeededRandom(seed, 77);
  const out = Buffer.alloc(count * RECORD_BYTES);
  for (let i = 0; i < count; i++) {
    const label = rng.int(10);
    const base = i * RECORD_BYTES;
    out[base] = label;
    const px = base + 1;
    for (let k = 0; k < IMAGE_BYTES; k++) out[px + k] = 40 + rng.int(60); // dim noise
    const side = 8 + (label % 3) * 3 + rng.int(3);
    const y0 = rng.int(32 - side + 1);
    const x0 = rng.int(32 - side + 1);
    const shade = 0.8 + 0.2 * rng.next();
    for (let c = 0; c < 3; c++) {
      const value = Math.round(COLORS[label][c] * shade);
      for (let y = y0; y < y0 + side; y++) out.fill(value, px + c * 1024 + y * 32 + x0, px + c * 1024 + y * 32 + x0 + side);
    }
  }
  return out;
}

export interface SyntheticOptions {
  /** Default 10,000 (train) / 2,000 (test). */
  size?: number;
  /** Default 0. */
  seed?: number;
}

/** The synthetic set as an in-memory dataset. */
export function syntheticDataset(split: 'train' | 'test', options: SyntheticOptions = {}): ImageDataset {
  const size = options.size ?? (split === 'train' ? 10_000 : 2_000);
  const seed = (options.seed ?? 0) * 2 + (split === 'train' ? 0 : 1);
  return parseRecords([{ name: `synthetic ${split}`, bytes: syntheticRecords(size, seed) }], SYNTHETIC_CLASSES, 'synthetic');
}

/** Writes the synthetic set as cifar-10-batches-bin files (5 train batches + test + meta). */
export function writeSyntheticCifar(dir: string, options: { perFile?: number; seed?: number } = {}): string {
  const perFile = options.perFile ?? 1000;
  const folder = path.join(dir, 'cifar-10-batches-bin');
  makeFolder(folder);
  for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(folder, `data_batch_${b}.bin`), syntheticRecords(perFile, (options.seed ?? 0) * 10 + b));
  fs.writeFileSync(path.join(folder, 'test_batch.bin'), syntheticRecords(perFile, (options.seed ?? 0) * 10 + 9));
  fs.writeFileSync(path.join(folder, 'batches.meta.txt'), `${SYNTHETIC_CLASSES.join('\n')}\n`);
  return folder;
}
