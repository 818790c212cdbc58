// Deterministic "weights" for full-size parity tests without committing weight files: the same
// integer-hash rule as scripts/gen_fixtures.py (synthetic_value), bit for bit.
import { noGrad, tensor, type Tensor } from '../src/index';
import type { Module } from '../src/nn/module';

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** n values in [0, 1) from an integer hash of (index + fnv1a(key)). */
export function hashUniform(key: string, n: number): Float64Array {
  const base = fnv1a(key);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = (i + base) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = x / 4294967296;
  }
  return out;
}

export function syntheticValue(key: string, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (key.endsWith('num_batches_tracked')) return tensor(new BigInt64Array(n), shape, { device: 'cpu' });
  const u = hashUniform(key, n);
  let rule: (v: number) => number;
  if (key.endsWith('running_var')) rule = (v) => 1 + 0.5 * v;
  else if (key.endsWith('running_mean')) rule = (v) => 0.1 * (2 * v - 1);
  else if (shape.length === 4) {
    const amp = Math.sqrt(6 / (shape[1] * shape[2] * shape[3]));
    rule = (v) => (2 * v - 1) * amp;
  } else if (key.startsWith('fc.')) {
    const fanIn = key === 'fc.bias' ? 2048 : shape[1];
    rule = (v) => (2 * v - 1) / Math.sqrt(fanIn);
  } else if (key.endsWith('weight')) rule = (v) => 1 + 0.2 * (2 * v - 1);
  else rule = (v) => 0.1 * (2 * v - 1);
  return tensor(Float32Array.from(u, rule), shape, { device: 'cpu' });
}

/** Sets every parameter and buffer of `model` to its synthetic value. */
export function loadSynthetic(model: Module): void {
  noGrad(() => {
    for (const [key, t] of Object.entries(model.stateDict())) {
      const v = syntheticValue(key, t.shape);
      t.copy_(v);
      v.dispose();
    }
  });
}
