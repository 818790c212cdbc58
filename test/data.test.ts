// CIFAR-10 binary reader and validation, the batch transforms checked pixel by pixel against a
// plain independent implementation, normalisation values, and the loader's determinism.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  CIFAR10_MEAN,
  CIFAR10_STD,
  DataLoader,
  DistributedSampler,
  RandomSampler,
  SeededRandom,
  loadCifar10,
  syntheticDataset,
  syntheticRecords,
  tensor,
  trainTransforms,
  transforms,
  writeSyntheticCifar,
} from '../src/index';
import { WorkerThread } from '../src/worker-thread';
import { tempDir } from './helpers';

const tmp = tempDir('rn-data-');

/** A folder of binary CIFAR files with known content: record r of file f has label (f + r) % 10. */
function makeCifar(dir: string, records = 20): string {
  const folder = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(folder, { recursive: true });
  const files = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  files.forEach((name, f) => {
    const buf = Buffer.alloc(records * 3073);
    for (let r = 0; r < records; r++) {
      buf[r * 3073] = (f + r) % 10;
      for (let k = 0; k < 3072; k++) buf[r * 3073 + 1 + k] = (k * 7 + r * 13 + f * 29) % 256;
    }
    fs.writeFileSync(path.join(folder, name), buf);
  });
  fs.writeFileSync(path.join(folder, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
  return folder;
}

test('reads exact pixels and labels into one uint8 store per split', () => {
  const dir = path.join(tmp, 'good');
  const folder = makeCifar(dir);
  for (const from of [dir, folder]) {
    const train = loadCifar10(from, 'train');
    assert.equal(train.size, 100);
    assert.deepEqual(train.images.shape, [100, 3, 32, 32]);
    assert.equal(train.images.dtype, 'uint8');
    assert.equal(train.labels.dtype, 'int64');
    assert.equal(train.classNames[3], 'cat');
    const pixels = train.images.toArray() as Uint8Array;
    const labels = Array.from(train.labels.toArray() as BigInt64Array, Number);
    for (const [f, r] of [[0, 0], [2, 7], [4, 19]]) {
      const i = f * 20 + r;
      assert.equal(labels[i], (f + r) % 10);
      for (const k of [0, 1, 1023, 1024, 2047, 3071]) assert.equal(pixels[i * 3072 + k], (k * 7 + r * 13 + f * 29) % 256);
    }
    const testSplit = loadCifar10(from, 'test');
    assert.equal(testSplit.size, 20);
    assert.equal(Number((testSplit.labels.toArray() as BigInt64Array)[3]), (5 + 3) % 10);
  }
});

test('validation names the file and the problem', () => {
  const folder = makeCifar(path.join(tmp, 'bad'));
  const file = path.join(folder, 'data_batch_3.bin');
  const good = fs.readFileSync(file);
  fs.writeFileSync(file, good.subarray(0, good.length - 5));
  assert.throws(() => loadCifar10(folder, 'train'), /data_batch_3\.bin has 61455 bytes, not a whole number of 3073-byte records \(19 records and 3068 bytes left over\)/);
  fs.writeFileSync(file, Buffer.concat([good, Buffer.alloc(100)]));
  assert.throws(() => loadCifar10(folder, 'train'), /data_batch_3\.bin has 61560 bytes, not a whole number/);
  const badLabel = Buffer.from(good);
  badLabel[5 * 3073] = 12;
  fs.writeFileSync(file, badLabel);
  assert.throws(() => loadCifar10(folder, 'train'), /data_batch_3\.bin: record 5 has label 12; labels are 0-9/);
  fs.rmSync(file);
  assert.throws(() => loadCifar10(folder, 'train'), /data_batch_3\.bin does not exist \(expected data_batch_1\.bin/);
  assert.throws(() => loadCifar10(path.join(tmp, 'nowhere'), 'train'), /nowhere does not exist \(run `npx resnet-native download/);
  const py = path.join(tmp, 'py', 'cifar-10-batches-py');
  fs.mkdirSync(py, { recursive: true });
  fs.writeFileSync(path.join(py, 'data_batch_1'), 'pickle');
  assert.throws(() => loadCifar10(path.join(tmp, 'py'), 'train'), /holds the Python \(pickle\) version of CIFAR-10.*cifar-10-binary\.tar\.gz/);
  assert.throws(() => loadCifar10(py, 'train'), /Python \(pickle\) version/);
});

/** Crop with zero padding and flip, one pixel at a time, from the raw bytes. */
function referenceAugment(raw: Uint8Array, batch: number, rng: SeededRandom): Uint8Array {
  const offsets = Array.from({ length: batch }, () => [rng.int(9), rng.int(9)]);
  const flips = Array.from({ length: batch }, () => rng.next() < 0.5);
  const out = new Uint8Array(raw.length);
  for (let b = 0; b < batch; b++) {
    const [dy, dx] = offsets[b];
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const sx = flips[b] ? 31 - x : x; // flip after the crop
          const py = y + dy - 4;
          const pxx = sx + dx - 4;
          const inside = py >= 0 && py < 32 && pxx >= 0 && pxx < 32;
          out[((b * 3 + c) * 32 + y) * 32 + x] = inside ? raw[((b * 3 + c) * 32 + py) * 32 + pxx] : 0;
        }
      }
    }
  }
  return out;
}

test('RandomCrop(32, pad 4) + RandomHorizontalFlip match a per-pixel reference exactly', () => {
  const ds = syntheticDataset('train', { size: 64, seed: 3 });
  const augment = transforms.compose(transforms.randomCrop(32, 4), transforms.randomHorizontalFlip(0.5));
  const out = augment(ds.images, new SeededRandom(5, 9));
  assert.deepEqual(out.shape, [64, 3, 32, 32]);
  assert.equal(out.dtype, 'uint8');
  const expected = referenceAugment(ds.images.toArray() as Uint8Array, 64, new SeededRandom(5, 9));
  assert.deepEqual(out.contiguous().toArray(), expected);
  // and augmentation really moves pixels
  assert.notDeepEqual(out.contiguous().toArray(), ds.images.toArray());
});

test('Rescale + Normalize give (x/255 - mean)/std per channel; resize to the same size is identity', () => {
  const raw = tensor(Uint8Array.from({ length: 2 * 3 * 4 * 4 }, (_, i) => (i * 37) % 256), [2, 3, 4, 4], { device: 'cpu' });
  const out = transforms.compose(transforms.resize(4), transforms.rescale(), transforms.normalize())(raw, new SeededRandom(0));
  const values = out.toArray() as Float32Array;
  const bytes = raw.toArray() as Uint8Array;
  for (let i = 0; i < bytes.length; i++) {
    const c = Math.floor(i / 16) % 3;
    const want = (bytes[i] / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c];
    assert.ok(Math.abs(values[i] - want) < 1e-5, `element ${i}: ${values[i]} vs ${want}`);
  }
  const up = transforms.resize(8)(raw, new SeededRandom(0));
  assert.deepEqual(up.shape, [2, 3, 8, 8]);
  assert.equal(up.dtype, 'float32');
});

test('loader: same seed and epoch give the same batches and augmentation; epochs differ; partial batch kept', () => {
  const ds = syntheticDataset('train', { size: 600, seed: 1 });
  const a = new DataLoader(ds, { batchSize: 256, seed: 7, transform: trainTransforms() });
  const b = new DataLoader(ds, { batchSize: 256, seed: 7, transform: trainTransforms() });
  assert.equal(a.length, 3);
  const batchesA = [...a.epoch(2)];
  assert.deepEqual(batchesA.map((x) => x.images.shape[0]), [256, 256, 88]);
  const lastB = b.batch(2, 2); // straight to the last batch: same as in sequence
  assert.deepEqual(lastB.indices, batchesA[2].indices);
  assert.deepEqual(lastB.images.toArray(), batchesA[2].images.toArray());
  assert.deepEqual(lastB.labels.toArray(), batchesA[2].labels.toArray());
  assert.notDeepEqual(a.order(3).subarray(0, 20), a.order(2).subarray(0, 20), 'another epoch, another order');
  const all = new Set(batchesA.flatMap((x) => Array.from(x.indices)));
  assert.equal(all.size, 600, 'each image once per epoch');
  assert.equal(new DataLoader(ds, { batchSize: 256, dropLast: true }).length, 2);
  const plain = new DataLoader(ds, { batchSize: 100, shuffle: false });
  const first = plain.batch(0, 0);
  assert.deepEqual(Array.from(first.indices.subarray(0, 3)), [0, 1, 2]);
  assert.equal(first.images.dtype, 'uint8', 'no transform: raw bytes');
  assert.throws(() => new DataLoader(ds, { batchSize: 0 }), /Expected positive integer for batchSize but received 0/);
});

test('the tutorial split sizes: 196 train steps of 256 with a last batch of 80', () => {
  const loader = new DataLoader(syntheticDataset('train', { size: 50_000 }), { batchSize: 256, transform: trainTransforms() });
  assert.equal(loader.length, 196);
  const last = loader.batch(0, 195);
  assert.deepEqual(last.images.shape, [80, 3, 32, 32]);
  assert.deepEqual(last.labels.shape, [80]);
});

test('the synthetic set: same format, ten balanced classes, deterministic, writable as .bin files', () => {
  assert.deepEqual(syntheticRecords(5, 1), syntheticRecords(5, 1));
  assert.equal(syntheticRecords(5, 1).length, 5 * 3073);
  const ds = syntheticDataset('train', { size: 2000 });
  assert.equal(ds.source, 'synthetic');
  assert.ok(ds.classNames.every((n) => n.startsWith('synthetic-')), 'clearly labelled');
  const counts = new Array(10).fill(0);
  for (const l of ds.labelArray) counts[l]++;
  assert.ok(counts.every((c) => c > 120 && c < 280), `balanced: ${counts}`);
  const dir = path.join(tmp, 'synthetic');
  writeSyntheticCifar(dir, { perFile: 50 });
  const back = loadCifar10(dir, 'train');
  assert.equal(back.size, 250);
  assert.equal(back.classNames[0], 'synthetic-red');
});

test('prefetch yields the same batches as epoch(), prepared on another thread while the caller works', async () => {
  const ds = syntheticDataset('train', { size: 1500, seed: 2 });
  const loader = new DataLoader(ds, { batchSize: 256, seed: 4, transform: trainTransforms() });
  const expected = [...loader.epoch(1)];
  const got: { images: Uint8Array; labels: BigInt64Array; index: number }[] = [];
  let waitedForSecond = Infinity;
  let t = 0;
  for await (const batch of loader.prefetch(1, { depth: 2 })) {
    if (batch.index === 1) waitedForSecond = performance.now() - t;
    got.push({ images: new Uint8Array((batch.images.toArray() as Float32Array).buffer), labels: batch.labels.toArray() as BigInt64Array, index: batch.index });
    if (batch.index === 0) {
      // "train" synchronously on this thread for a while; the next batch is made meanwhile
      const until = performance.now() + 300;
      while (performance.now() < until);
      t = performance.now();
    }
  }
  assert.deepEqual(got.map((g) => g.index), [0, 1, 2, 3, 4, 5]);
  got.forEach((g, i) => {
    assert.deepEqual(g.images, new Uint8Array((expected[i].images.toArray() as Float32Array).buffer), `batch ${i} images`);
    assert.deepEqual(g.labels, expected[i].labels.toArray(), `batch ${i} labels`);
  });
  assert.ok(waitedForSecond < 30, `the second batch was ready when asked for (waited ${waitedForSecond.toFixed(1)} ms)`);
  // leaving early ends the worker; a transform without a spec falls back to batches made here
  for await (const batch of loader.prefetch(0, { start: 4 })) {
    assert.equal(batch.index, 4);
    break;
  }
  const custom = new DataLoader(ds, { batchSize: 500, shuffle: false, transform: transforms.rescale() });
  const indexes: number[] = [];
  for await (const batch of custom.prefetch(0)) indexes.push(batch.index);
  assert.deepEqual(indexes, [0, 1, 2]);
});

test('DistributedSampler: one permutation, disjoint equal shards covering the set, padded as torch pads (or cut with dropLast)', () => {
  const shards = [0, 1, 2].map((rank) => new DistributedSampler(10, { rank, worldSize: 3, seed: 5 }));
  assert.deepEqual(shards.map((s) => s.size), [4, 4, 4], 'ceil(10 / 3) each');
  const epoch1 = shards.map((s) => Array.from(s.indices(1)));
  const perm = Array.from(new RandomSampler(10, 5).indices(1));
  // rank r takes positions r, r + 3, ... of the permutation extended by its own start
  const padded = [...perm, ...perm.slice(0, 2)];
  epoch1.forEach((shard, r) => assert.deepEqual(shard, padded.filter((_, k) => k % 3 === r)));
  assert.deepEqual(new Set(epoch1.flat()).size, 10, 'every position visited');
  assert.notDeepEqual(shards[0].indices(2), shards[0].indices(1), 'a new order each epoch');
  assert.deepEqual(Array.from(shards[0].indices(1)), Array.from(shards[0].indices(1)), 'the same for the same epoch');
  const cut = [0, 1, 2].map((rank) => Array.from(new DistributedSampler(10, { rank, worldSize: 3, seed: 5, dropLast: true }).indices(1)));
  assert.deepEqual(cut.map((s) => s.length), [3, 3, 3]);
  assert.equal(new Set(cut.flat()).size, 9, 'disjoint');
  assert.deepEqual(Array.from(new DistributedSampler(5, { rank: 1, worldSize: 2, shuffle: false }).indices(0)), [1, 3, 0]);
  assert.throws(() => new DistributedSampler(10, { rank: 3, worldSize: 3 }), /rank 3 is not below worldSize 3/);
  // even: false (evaluation): every position exactly once, shards of 4, 3, 3
  const uneven = [0, 1, 2].map((rank) => Array.from(new DistributedSampler(10, { rank, worldSize: 3, shuffle: false, even: false }).indices(0)));
  assert.deepEqual(uneven, [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]);
  assert.throws(() => new DistributedSampler(10, { rank: 0, worldSize: 3, even: false, dropLast: true }), /pick one/);
});

test('DataLoader with a sampler: its order and length, the same batches with prefetch; shuffle and sampler conflict', async () => {
  const data = syntheticDataset('test', { size: 20 });
  const sampler = new DistributedSampler(20, { rank: 1, worldSize: 2, seed: 3 });
  const loader = new DataLoader(data, { batchSize: 4, sampler, seed: 9, transform: trainTransforms() });
  assert.equal(loader.length, 3, '10 images of this rank in batches of 4');
  const direct = [...loader.epoch(2)].map((b) => Array.from(b.indices));
  assert.deepEqual(direct.flat(), Array.from(sampler.indices(2)));
  const prefetched: number[][] = [];
  for await (const b of loader.prefetch(2)) {
    prefetched.push(Array.from(b.indices));
    b.images.dispose();
    b.labels.dispose();
  }
  assert.deepEqual(prefetched, direct);
  assert.throws(() => new DataLoader(data, { sampler, shuffle: false }), /shuffle and sampler are alternatives/);
  assert.throws(() => new DataLoader(data, { sampler: {} as never }), /sampler must have indices\(epoch\) and size/);
});

test('prefetch: one thread per loader serves every epoch (the images copied once), ended by dispose()', async () => {
  const loader = new DataLoader(syntheticDataset('test', { size: 64 }), { batchSize: 16, transform: trainTransforms() });
  const threadsSeen = new Set<unknown>();
  const earlier = new Set(WorkerThread.live); // other loaders' threads
  for (const epoch of [0, 1, 2]) {
    const indices: number[] = [];
    for await (const b of loader.prefetch(epoch)) {
      for (const t of WorkerThread.live) if (t.name === 'data prefetching thread' && !earlier.has(t)) threadsSeen.add(t);
      indices.push(...b.indices);
      b.images.dispose();
      b.labels.dispose();
      if (epoch === 1 && indices.length === 16) break; // leaving an epoch early stops its job
    }
    assert.deepEqual(indices, Array.from(loader.order(epoch)).slice(0, indices.length), `epoch ${epoch}`);
  }
  assert.equal(threadsSeen.size, 1, 'the same thread for the three epochs');
  const [thread] = threadsSeen as Set<WorkerThread>;
  assert.equal(thread.ended, null, 'alive between epochs');
  const first = loader.prefetch(0);
  await first.next();
  await assert.rejects(loader.prefetch(1).next(), /one epoch at a time per loader/);
  await first.return(undefined);
  loader.dispose();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(thread.ended, 'dispose() ends the thread');
});
