// Tensors: TypedArray round trips, factories, dtypes, devices and seeding.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, cuda, defaultDevice, full, manualSeed, ones, rand, randint, randn, tensor, zeros, type Tensor } from '../src/index';

const cpu = { device: 'cpu' } as const;

test('round-trips every supported TypedArray with its dtype and shape', () => {
  const cases: [ArrayLike<number | bigint> & { constructor: unknown }, string][] = [
    [new Float32Array([1.5, -2, 3, 4.25, 5, 6]), 'float32'],
    [new Float64Array([1e-300, 2, 3, 4, 5, 6]), 'float64'],
    [new Int32Array([-7, 2, 3, 4, 5, 2 ** 31 - 1]), 'int32'],
    [new BigInt64Array([-(2n ** 62n), 2n, 3n, 4n, 5n, 6n]), 'int64'],
    [new Uint8Array([0, 1, 2, 128, 254, 255]), 'uint8'],
  ];
  for (const [data, dtype] of cases) {
    const t = tensor(data as never, [2, 3], cpu);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.ndim, 2);
    assert.equal(t.numel, 6);
    assert.equal(t.device, 'cpu');
    const back = t.toArray();
    assert.equal(back.constructor, data.constructor);
    assert.deepEqual(Array.from(back as ArrayLike<unknown>), Array.from(data as ArrayLike<unknown>));
  }
});

test('the copy is independent of the source array', () => {
  const data = new Float32Array([1, 2, 3]);
  const t = tensor(data, [3], cpu);
  data[0] = 99;
  assert.deepEqual(t.toList(), [1, 2, 3]);
});

test('converts dtypes on the way in and with to()', () => {
  const t = tensor([1.7, -2.2], [2], { ...cpu, dtype: 'float64' });
  assert.equal(t.dtype, 'float64');
  const i = t.to('int32');
  assert.equal(i.dtype, 'int32');
  assert.deepEqual(Array.from(i.toArray() as Int32Array), [1, -2]);
  const h = t.to({ dtype: 'float16' });
  assert.equal(h.dtype, 'float16');
  assert.ok(h.toArray() instanceof Float32Array, 'half tensors read back as Float32Array');
  assert.deepEqual(t.to('bool').toList(), [1, 1]);
  assert.equal(t.to('cpu').device, 'cpu');
});

test('factories: zeros, ones, full, arange, rand, randn, randint', () => {
  assert.deepEqual(zeros([2, 2], cpu).toList(), [[0, 0], [0, 0]]);
  assert.deepEqual(ones([3], { ...cpu, dtype: 'int64' }).toList(), [1, 1, 1]);
  assert.equal(ones([3], { ...cpu, dtype: 'int64' }).dtype, 'int64');
  assert.deepEqual(full([2], 7.5, cpu).toList(), [7.5, 7.5]);
  assert.deepEqual(arange(5, undefined, 1, cpu).toList(), [0, 1, 2, 3, 4]);
  assert.equal(arange(5, undefined, 1, cpu).dtype, 'int64');
  assert.deepEqual(arange(1, 2, 0.25, cpu).toList(), [1, 1.25, 1.5, 1.75]);
  assert.equal(arange(1, 2, 0.25, cpu).dtype, 'float32');
  const u = rand([1000], cpu).toArray() as Float32Array;
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const n = randn([4000], cpu);
  assert.ok(Math.abs(n.mean().item()) < 0.1, 'randn mean near 0');
  const r = randint(3, 7, [1000], cpu);
  assert.equal(r.dtype, 'int64');
  const rv = Array.from(r.toArray() as BigInt64Array, Number);
  assert.ok(rv.every((v) => v >= 3 && v < 7));
  assert.deepEqual(new Set(rv), new Set([3, 4, 5, 6]));
  assert.equal(zeros([2], { ...cpu, requiresGrad: true }).requiresGrad, true);
});

test('manualSeed makes random tensors reproducible', () => {
  const draw = (): number[] => {
    const ts: Tensor[] = [rand([5], cpu), randn([5], cpu), randint(0, 100, [5], cpu)];
    return ts.flatMap((t) => Array.from(t.toArray() as ArrayLike<number | bigint>, Number));
  };
  manualSeed(42);
  const a = draw();
  manualSeed(42);
  const b = draw();
  manualSeed(43);
  const c = draw();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('item() and toList()', () => {
  assert.equal(tensor([3.5], [], cpu).item(), 3.5);
  assert.equal(tensor([3.5], [1, 1], cpu).item(), 3.5);
  assert.deepEqual(tensor([1, 2, 3, 4, 5, 6], [3, 1, 2], cpu).toList(), [[[1, 2]], [[3, 4]], [[5, 6]]]);
});

test('devices: CUDA when available is the default, otherwise a clear error', () => {
  if (cuda.isAvailable()) {
    assert.equal(defaultDevice(), 'cuda');
    const t = ones([2], { device: 'cuda' });
    assert.equal(t.device, 'cuda:0');
    assert.deepEqual(t.to('cpu').toList(), [1, 1]);
    assert.ok(cuda.deviceCount() >= 1);
  } else {
    assert.equal(defaultDevice(), 'cpu');
    assert.equal(cuda.deviceCount(), 0);
    assert.ok(cuda.unavailableReason().length > 0);
    assert.throws(() => ones([2], { device: 'cuda' }), /Device 'cuda' requested but CUDA is not available: .+/);
    assert.throws(() => tensor([1], [1], cpu).to('cuda:1'), /Device 'cuda:1' requested but CUDA is not available/);
  }
  assert.throws(() => ones([2], { device: 'gpu' as never }), /Expected 'cpu', 'cuda' or 'cuda:N' for device but received 'gpu'/);
});
