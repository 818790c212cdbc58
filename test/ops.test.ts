// Ops: elementwise and reductions against values computed here by hand; pooling, padding,
// gather/flip/permute, softmax and grouped strided conv against PyTorch (test/fixtures/ops.json,
// float32, rtol 1e-5, atol 1e-6).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, cat, nn, stack, tensor } from '../src/index';
import { assertClose, fromFixture, loadFixture, type FixtureTensor } from './helpers';

const F = nn.functional;
const cpu = { device: 'cpu' } as const;
const fx = loadFixture<{ x: FixtureTensor; logits: FixtureTensor; index: FixtureTensor; cases: Record<string, FixtureTensor> }>('ops.json');
const tol = { rtol: 1e-5, atol: 1e-6 };

test('elementwise ops with tensors and scalars', () => {
  const a = tensor([1, 2, 3, 4], [2, 2], cpu);
  const b = tensor([10, 20, 30, 40], [2, 2], cpu);
  assert.deepEqual(a.add(b).toList(), [[11, 22], [33, 44]]);
  assert.deepEqual(a.add(b, 2).toList(), [[21, 42], [63, 84]]);
  assert.deepEqual(b.sub(a).toList(), [[9, 18], [27, 36]]);
  assert.deepEqual(a.mul(b).toList(), [[10, 40], [90, 160]]);
  assert.deepEqual(b.div(a).toList(), [[10, 10], [10, 10]]);
  assert.deepEqual(a.add(1).toList(), [[2, 3], [4, 5]]);
  assert.deepEqual(a.mul(0.5).toList(), [[0.5, 1], [1.5, 2]]);
  assert.deepEqual(a.sub(1).div(2).toList(), [[0, 0.5], [1, 1.5]]);
  assert.deepEqual(tensor([-2, -0.5, 0, 3], undefined, cpu).relu().toList(), [0, 0, 0, 3]);
  assert.deepEqual(tensor([-2, 0.5, 9], undefined, cpu).clamp(-1, 1).toList(), [-1, 0.5, 1]);
  assert.deepEqual(tensor([-2, 0.5, 9], undefined, cpu).clamp(0).toList(), [0, 0.5, 9]);
  assert.deepEqual(a.eq(tensor([1, 0, 3, 0], [2, 2], cpu)).toList(), [[1, 0], [1, 0]]);
  assert.equal(a.eq(tensor([1, 0, 3, 0], [2, 2], cpu)).dtype, 'bool');
  // broadcasting
  assert.deepEqual(a.add(tensor([100, 200], [2], cpu)).toList(), [[101, 202], [103, 204]]);
});

test('reductions, argmax, matmul and linear', () => {
  const a = tensor([1, 5, 3, 4, 2, 6], [2, 3], cpu);
  assert.equal(a.sum().item(), 21);
  assert.deepEqual(a.sum(1).toList(), [9, 12]);
  assert.deepEqual(a.sum(0, true).shape, [1, 3]);
  assert.equal(a.mean().item(), 3.5);
  assert.deepEqual(a.mean(1).toList(), [3, 4]);
  assert.deepEqual(a.argmax(1).toList(), [1, 2]);
  assert.equal(a.argmax().item(), 5);
  const w = tensor([1, 0, 0, 1, 1, 1], [3, 2], cpu);
  assert.deepEqual(a.matmul(w).toList(), [[4, 8], [10, 8]]);
  // linear(x, W[out,in], b) = x W^T + b
  const y = F.linear(a, tensor([1, 1, 1, 0, 1, 0], [2, 3], cpu), tensor([0.5, -1], [2], cpu));
  assert.deepEqual(y.toList(), [[9.5, 4], [12.5, 1]]);
});

test('shape ops: reshape, view, flatten, permute, transpose, narrow, cat, stack, index_select', () => {
  const x = arange(24, undefined, 1, { device: 'cpu', dtype: 'float32' }).reshape([2, 3, 4]);
  assert.deepEqual(x.view([6, 4]).shape, [6, 4]);
  assert.deepEqual(x.flatten(1).shape, [2, 12]);
  assert.deepEqual(x.flatten().shape, [24]);
  assert.deepEqual(x.permute([2, 0, 1]).shape, [4, 2, 3]);
  assert.equal((x.permute([2, 0, 1]).contiguous().toList() as number[][][])[1][1][2], 21);
  assert.deepEqual(x.transpose(0, 2).shape, [4, 3, 2]);
  assert.deepEqual(x.narrow(2, 1, 2).toList(), [
    [[1, 2], [5, 6], [9, 10]],
    [[13, 14], [17, 18], [21, 22]],
  ]);
  const a = tensor([1, 2], [1, 2], cpu);
  const b = tensor([3, 4], [1, 2], cpu);
  assert.deepEqual(cat([a, b], 0).toList(), [[1, 2], [3, 4]]);
  assert.deepEqual(cat([a, b], 1).toList(), [[1, 2, 3, 4]]);
  assert.deepEqual(stack([a, b], 0).shape, [2, 1, 2]);
  const idx = tensor(new BigInt64Array([2n, 0n]), [2], cpu);
  assert.deepEqual(x.narrow(0, 0, 1).reshape([3, 4]).indexSelect(0, idx).toList(), [[8, 9, 10, 11], [0, 1, 2, 3]]);
  assert.deepEqual(x.clone().shape, [2, 3, 4]);
});

test('in-place ops used by optimizers: mul_, add_ (alpha), copy_, zero_', () => {
  const p = tensor([1, 2, 3], undefined, cpu);
  const g = tensor([10, 20, 30], undefined, cpu);
  assert.equal(p.mul_(2), p);
  assert.deepEqual(p.toList(), [2, 4, 6]);
  p.add_(g, -0.1);
  assertClose(p.toArray() as Float32Array, [1, 2, 3], { atol: 1e-6, what: 'add_ with alpha' });
  p.add_(1);
  assertClose(p.toArray() as Float32Array, [2, 3, 4], { atol: 1e-6, what: 'add_ scalar' });
  p.copy_(g);
  assert.deepEqual(p.toList(), [10, 20, 30]);
  p.zero_();
  assert.deepEqual(p.toList(), [0, 0, 0]);
});

test('pooling, asymmetric padding, flip, permute, gather, softmax and grouped conv match PyTorch', () => {
  const x = fromFixture(fx.x);
  const logits = fromFixture(fx.logits);
  const c = fx.cases;
  assertClose(F.pad(x, [0, 1, 2, 3]), c.pad_0_1_2_3, { ...tol, what: 'pad' });
  assertClose(F.maxPool2d(x, 3, { stride: 2, padding: 1 }), c.max_pool2d_k3_s2_p1, { ...tol, what: 'max_pool2d' });
  assertClose(F.avgPool2d(x, 2), c.avg_pool2d_k2, { ...tol, what: 'avg_pool2d' });
  assertClose(F.adaptiveAvgPool2d(x, 1), c.adaptive_avg_pool2d_1, { ...tol, what: 'adaptive_avg_pool2d' });
  assertClose(F.softmax(logits, 1), c.softmax_dim1, { ...tol, what: 'softmax' });
  assertClose(F.logSoftmax(logits, 1), c.log_softmax_dim1, { ...tol, what: 'log_softmax' });
  assertClose(logits.gather(1, fromFixture(fx.index)), c.gather_dim1, { ...tol, what: 'gather' });
  assertClose(x.flip([2, 3]), c.flip_dims_2_3, { ...tol, what: 'flip' });
  assertClose(x.permute([0, 2, 3, 1]).contiguous(), c.permute_0_2_3_1, { ...tol, what: 'permute' });
  const n = 3 * 3 * 3;
  const w = tensor(Float32Array.from({ length: n }, (_, i) => -1 + (2 * i) / (n - 1)), [3, 1, 3, 3], cpu);
  const y = F.conv2d(x, w, null, { stride: 2, padding: [1, 2], groups: 3 });
  assertClose(y, c.conv2d_s2_p_1_2_dil1_groups3, { rtol: 1e-5, atol: 1e-5, what: 'grouped conv2d' });
});

test('cross-entropy: mean, sum, none and label smoothing by the formula', () => {
  const logits = tensor([2, 0, 0, 0, 1, 3], [2, 3], cpu);
  const target = tensor(new BigInt64Array([0n, 2n]), [2], cpu);
  const lse = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  const rows = [[2, 0, 0], [0, 1, 3]];
  const nll = [lse(rows[0]) - 2, lse(rows[1]) - 3];
  assertClose(F.crossEntropy(logits, target, { reduction: 'none' }), nll, { what: 'none' });
  assertClose([F.crossEntropy(logits, target).item()], [(nll[0] + nll[1]) / 2], { what: 'mean' });
  assertClose([F.crossEntropy(logits, target, { reduction: 'sum' }).item()], [nll[0] + nll[1]], { what: 'sum' });
  const eps = 0.2;
  const smooth = rows.map((r, i) => (1 - eps) * nll[i] + (eps / 3) * r.reduce((s, v) => s + (lse(r) - v), 0));
  assertClose([F.crossEntropy(logits, target, { labelSmoothing: eps }).item()], [(smooth[0] + smooth[1]) / 2], { what: 'smoothed' });
  assert.throws(() => F.crossEntropy(logits, target, { labelSmoothing: 2 }), /labelSmoothing must be in \[0, 1\]/);
});
