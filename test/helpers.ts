// Test helpers: fixtures produced by scripts/gen_fixtures.py (PyTorch) and tolerant comparison.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import sharp from 'sharp';
import { syntheticDataset, tensor, type Dtype, type Tensor } from '../src/index';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

export interface FixtureTensor {
  shape: number[];
  dtype: string;
  values: number[];
}

export function loadFixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', name), 'utf8')) as T;
}

/** A tensor with the fixture's values; float fixtures become float32, integer ones int64. */
export function fromFixture(f: FixtureTensor, options: { requiresGrad?: boolean } = {}): Tensor {
  const integral = f.dtype.startsWith('int');
  const data = integral ? BigInt64Array.from(f.values, (v) => BigInt(v)) : Float32Array.from(f.values);
  const dtype: Dtype = integral ? 'int64' : 'float32';
  return tensor(data, f.shape, { dtype, device: 'cpu', requiresGrad: options.requiresGrad });
}

/** |actual - expected| <= atol + rtol * |expected| elementwise, with the worst element reported. */
export function assertClose(
  actual: Tensor | number[] | Float32Array,
  expected: FixtureTensor | number[],
  { rtol = 1e-4, atol = 1e-5, what = 'tensor' }: { rtol?: number; atol?: number; what?: string } = {},
): void {
  const exp = Array.isArray(expected) ? expected : expected.values;
  if (!Array.isArray(expected) && !Array.isArray(actual) && !(actual instanceof Float32Array)) {
    assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  }
  const act = Array.isArray(actual) || actual instanceof Float32Array ? Array.from(actual) : Array.from(actual.toArray() as ArrayLike<number>, Number);
  assert.equal(act.length, exp.length, `${what}: element count`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < act.length; i++) {
    const excess = Math.abs(act[i] - exp[i]) - (atol + rtol * Math.abs(exp[i]));
    if (excess > worstExcess || Number.isNaN(act[i])) {
      worstExcess = Number.isNaN(act[i]) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${act[worst]}, expected ${exp[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** A fresh folder under the OS temp dir, removed when this test file's tests have run. */
/** `count` images of the synthetic test set (32 x 32), encoded as PNG files are. */
export async function syntheticPngs(count: number, seed: number): Promise<Buffer[]> {
  const ds = syntheticDataset('test', { size: count, seed });
  const bytes = ds.images.toArray() as Uint8Array;
  ds.images.dispose();
  ds.labels.dispose();
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const chw = bytes.subarray(i * 3072, (i + 1) * 3072);
      const hwc = Buffer.alloc(3072);
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) hwc[p * 3 + c] = chw[c * 1024 + p];
      return sharp(hwc, { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer();
    }),
  );
}

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** A full garbage collection now. Forgotten tensors are freed inside collections, which may come
 * at any allocation: tests that compare live-tensor counts collect first, so that garbage left by
 * earlier tests cannot vanish between their two readings. */
export function collectGarbage(): void {
  gc();
}
