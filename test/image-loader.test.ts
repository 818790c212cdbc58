// ImageFileLoader: batches streamed from real encoded files (JPEG of several sizes, PNG with and
// without alpha, grey PNG, WebP, TIFF, BMP, PPM) on decode threads. The same seed gives the same
// batches whatever the thread count, decode concurrency or transfer; another seed others; order,
// length and dropLast are DataLoader's for the same sampler; a file that fails to decode ends the
// epoch naming it, or (skip) is left out and reported; memory follows the prefetch depth, not the
// data set's size; disposing mid-epoch ends the threads.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { ImageFileError } from '../src/error-classes';
import { decodeForEval } from '../src/data/image-decode';
import type { ImageSample } from '../src/data/image-folder';
import { ImageFileLoader, type ImageFileLoaderOptions } from '../src/data/image-loader';
import { imagenetEvalPipeline, imagenetTrainPipeline } from '../src/data/image-transforms';
import { DataLoader } from '../src/data/loader';
import { DistributedSampler } from '../src/data/sampler';
import { syntheticDataset } from '../src/data/synthetic';
import { fromBytes, tensor, type Tensor } from '../src/tensor';
import { WorkerThread } from '../src/worker-thread';
import { encode, tempFolder } from './image-files';

const temp = tempFolder('rn-image-loader-');
after(temp.remove);
const CLASSES = ['cat', 'dog', 'eel'];
const train = imagenetTrainPipeline(24);
let samples: ImageSample[] = [];

/** 27 files, 9 a class, every kind the loader meets. */
const MAKERS: (() => Promise<Buffer>)[] = [
  () => encode.jpeg(64, 48, 90),
  () => encode.jpeg(40, 90, 70),
  () => encode.jpeg(120, 80),
  () => encode.png(30, 20),
  () => encode.pngAlpha(50, 40),
  () => encode.pngGray(36, 36),
  () => encode.webp(44, 33),
  () => encode.tiff(20, 60),
  () => encode.bmp(33, 21),
];
const EXT = ['jpg', 'jpg', 'jpeg', 'png', 'png', 'png', 'webp', 'tif', 'bmp'];

async function writeSet(dir: string, count: number): Promise<ImageSample[]> {
  const out: ImageSample[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % CLASSES.length;
    const rel = `${CLASSES[label]}/${String(i).padStart(3, '0')}.${i % MAKERS.length === 8 && i % 2 ? 'ppm' : EXT[i % MAKERS.length]}`;
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, rel.endsWith('.ppm') ? await encode.ppm(25, 35) : await MAKERS[i % MAKERS.length]());
    out.push({ file, path: rel, label });
  }
  return out;
}

before(async () => {
  samples = await writeSet(path.join(temp.dir, 'set'), 27);
});

interface Collected {
  index: number;
  indices: number[];
  labels: bigint[];
  images: Float32Array;
  shape: number[];
}

async function collect(loader: ImageFileLoader, epoch = 0): Promise<Collected[]> {
  const out: Collected[] = [];
  try {
    for await (const b of loader.prefetch(epoch)) {
      out.push({ index: b.index, indices: [...b.indices], labels: [...(b.labels.toArray() as BigInt64Array)], images: b.images.toArray() as Float32Array, shape: b.images.shape });
      b.images.dispose();
      b.labels.dispose();
    }
  } finally {
    loader.dispose();
  }
  return out;
}

const loaderOf = (options: Partial<ImageFileLoaderOptions>, set = samples) => new ImageFileLoader(set, CLASSES, { batchSize: 5, pipeline: train, workers: 2, ...options });

test('the same seed gives the same batches with any number of threads, decodes at once and transfer; another seed or epoch others', async () => {
  const reference = await collect(loaderOf({ seed: 3, workers: 1, decodesPerWorker: 1 }));
  assert.equal(reference.length, 6);
  assert.deepEqual(reference.map((b) => b.shape), [...Array(5).fill([5, 3, 24, 24]), [2, 3, 24, 24]]);
  for (const options of [{ workers: 3, decodesPerWorker: 4 }, { workers: 2, transfer: 'float32' as const }, { workers: 4, prefetchBatches: 1 }]) {
    const again = await collect(loaderOf({ seed: 3, ...options }));
    assert.deepEqual(again, reference, JSON.stringify(options));
  }
  for (const b of reference) assert.deepEqual(b.labels, b.indices.map((i) => BigInt(samples[i].label)));
  const other = await collect(loaderOf({ seed: 4 }));
  assert.notDeepEqual(other.map((b) => b.indices), reference.map((b) => b.indices));
  // the same order with another augmentation seed: other crops of the same images
  const order = reference.flatMap((b) => b.indices);
  const sampler = { size: samples.length, indices: () => Int32Array.from(order) };
  const [a, b] = await Promise.all([3, 9].map((seed) => collect(loaderOf({ seed, sampler }))));
  assert.deepEqual(a.map((x) => x.indices), b.map((x) => x.indices));
  assert.notDeepEqual(a[0].images, b[0].images);
  const epoch1 = await collect(loaderOf({ seed: 3 }), 1);
  assert.notDeepEqual(epoch1.map((x) => x.indices), reference.map((x) => x.indices));
});

test("order, length and dropLast are DataLoader's for the same options and sampler", async () => {
  const dataset = syntheticDataset('test', { size: samples.length });
  const configs: Partial<ImageFileLoaderOptions>[] = [
    { shuffle: false },
    { seed: 7 },
    { seed: 7, dropLast: true, batchSize: 4 },
    { sampler: new DistributedSampler(samples.length, { rank: 1, worldSize: 3, seed: 2 }), batchSize: 4 },
    { sampler: new DistributedSampler(samples.length, { rank: 1, worldSize: 2, even: false, shuffle: false }), batchSize: 6, dropLast: true },
  ];
  for (const config of configs) {
    const ours = loaderOf({ ...config, pipeline: imagenetTrainPipeline(8) });
    const { pipeline: _, workers: __, ...common } = config as ImageFileLoaderOptions;
    const theirs = new DataLoader(dataset, { ...common, batchSize: common.batchSize ?? 5 });
    assert.equal(ours.length, theirs.length, JSON.stringify(config));
    for (const epoch of [0, 2]) {
      const expected = [...theirs.epoch(epoch)].map((b) => (b.images.dispose(), b.labels.dispose(), [...b.indices]));
      assert.deepEqual((await collect(ours, epoch)).map((b) => b.indices), expected, `${JSON.stringify(config)} epoch ${epoch}`);
    }
  }
  dataset.images.dispose();
  dataset.labels.dispose();
});

test('the eval pipeline gives each image the pixels decodeForEval gives it, normalised as torchvision does', async () => {
  const pipeline = imagenetEvalPipeline(24, { resizeSize: 28 });
  const batches = await collect(loaderOf({ pipeline, shuffle: false, batchSize: 9 }));
  const { mean, std } = pipeline;
  for (const b of batches) {
    const chw = await Promise.all(b.indices.map((i) => decodeForEval(samples[i].file, pipeline)));
    const all = new Uint8Array(chw.length * chw[0].length);
    chw.forEach((c, k) => all.set(c, k * c.length));
    const expected: Tensor = fromBytes(all, b.shape, 'uint8').to('float32').div(255).sub(tensor(mean, [1, 3, 1, 1])).div(tensor(std, [1, 3, 1, 1]));
    assert.deepEqual(b.images, expected.toArray());
  }
});

/** The set with a JPEG cut short at sample 9 and (optionally) an RLE BMP at sample 16. */
async function withBadFiles(): Promise<ImageSample[]> {
  const dir = path.join(temp.dir, 'bad');
  const set = samples.map((s) => ({ ...s }));
  fs.mkdirSync(dir, { recursive: true });
  const jpeg = await encode.jpeg(64, 48);
  set[9] = { file: path.join(dir, 'cut.jpg'), path: 'cat/cut.jpg', label: 0 };
  fs.writeFileSync(set[9].file, jpeg.subarray(0, jpeg.length - 100));
  const rle = Buffer.from(await encode.bmp(8, 8));
  rle.writeUInt16LE(8, 28);
  rle.writeUInt32LE(1, 30); // 8-bit RLE8
  set[16] = { file: path.join(dir, 'rle.bmp'), path: 'eel/rle.bmp', label: 1 };
  fs.writeFileSync(set[16].file, rle);
  return set;
}

test('a file that fails to decode ends the epoch with an error naming it, after the batches before it', async () => {
  const set = await withBadFiles();
  for (const workers of [1, 3]) {
    const seen: number[] = [];
    const loader = loaderOf({ shuffle: false, workers }, set);
    await assert.rejects(
      (async () => {
        for await (const b of loader.prefetch(0)) {
          seen.push(b.index);
          b.images.dispose();
          b.labels.dispose();
        }
      })(),
      (err: Error) => {
        assert.ok(err instanceof ImageFileError && err.file === 'cat/cut.jpg', err.stack);
        assert.match(err.message, /^cat\/cut\.jpg: is truncated or corrupt: decoding it failed \(/);
        return true;
      },
    );
    assert.deepEqual(seen, [0], `${workers} thread(s): batch 0 came first`);
    // the next epoch can be read (it ends at the same file)
    await assert.rejects(collect(loader, 1), /cut\.jpg/);
  }
  const late = set.map((s, i) => (i === 9 ? samples[9] : s));
  await assert.rejects(collect(loaderOf({ shuffle: false }, late)), (err: ImageFileError) => err.file === 'eel/rle.bmp' && /BMP file with RLE8 compression, which is not decoded/.test(err.reason));
});

test("badImages 'skip': the file is left out of its batch and reported through onSkipped", async () => {
  const set = await withBadFiles();
  const skipped: [string, string][] = [];
  const batches = await collect(loaderOf({ shuffle: false, badImages: 'skip', onSkipped: (file, reason) => skipped.push([file, reason]) }, set));
  assert.deepEqual(batches.map((b) => b.indices.length), [5, 4, 5, 4, 5, 2]);
  assert.ok(!batches.flatMap((b) => b.indices).includes(9) && !batches.flatMap((b) => b.indices).includes(16));
  assert.deepEqual(skipped.map(([file]) => file), ['cat/cut.jpg', 'eel/rle.bmp']);
  assert.match(skipped[0][1], /^is truncated or corrupt/);
  assert.match(skipped[1][1], /RLE8/);
  // the other images are the ones a clean set gives them (augmentation keyed by position)
  const clean = await collect(loaderOf({ shuffle: false }));
  assert.deepEqual(batches[0].images, clean[0].images);
  const perImage = 3 * 24 * 24;
  assert.deepEqual(batches[1].images.subarray(0, 4 * perImage), clean[1].images.subarray(0, 4 * perImage), 'sample 9 was the last of batch 1');
});

test('dispose mid-epoch ends the decode threads at once; breaking out early keeps them for the next epoch', async () => {
  const many = Array.from({ length: 300 }, (_, i) => samples[i % samples.length]);
  const loader = loaderOf({ batchSize: 10, workers: 3 }, many);
  const threads = () => [...WorkerThread.live].filter((t) => t.name === 'image decode thread');
  const before = new Set(threads());
  for await (const b of loader.prefetch(0)) {
    b.images.dispose();
    b.labels.dispose();
    break;
  }
  const kept = threads().filter((t) => !before.has(t));
  assert.equal(kept.length, 3, 'breaking out leaves the threads for the next epoch');
  const epoch = loader.prefetch(1);
  const first = await epoch.next();
  assert.equal(first.value.index, 0);
  first.value.images.dispose();
  first.value.labels.dispose();
  const pending = epoch.next();
  const t0 = performance.now();
  loader.dispose();
  // (a batch already handed over may still arrive; the next one cannot)
  let delivered = 0;
  await assert.rejects(async () => {
    for (let r = await pending; !r.done; r = await epoch.next()) {
      r.value.images.dispose();
      r.value.labels.dispose();
      delivered++;
    }
  }, /image decode thread was closed \(the loader was disposed\)/);
  assert.ok(delivered <= 1, `${delivered} batches came after dispose()`);
  // (the threads do not keep the process alive: a timer waits here)
  while (kept.some((t) => !t.ended) && performance.now() - t0 < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(performance.now() - t0 < 2000, `the threads ended within 2 s (${Math.round(performance.now() - t0)} ms)`);
  assert.equal(threads().filter((t) => !before.has(t)).length, 0);
  // a disposed loader starts new threads when read again
  assert.equal((await collect(loaderOf({ batchSize: 100 }, many), 0)).length, 3);
});

test('refusals: labels out of range, shuffle with a sampler, a second epoch at once', async () => {
  assert.throws(() => new ImageFileLoader([{ file: 'a.jpg', path: 'a.jpg', label: 3 }], CLASSES, { batchSize: 1, pipeline: train }), /sample 0 \(a\.jpg\) needs a file and a label from 0 to 2, and has label 3/);
  assert.throws(() => loaderOf({ shuffle: true, sampler: new DistributedSampler(3, { rank: 0, worldSize: 1 }) }), /shuffle and sampler are alternatives/);
  assert.throws(() => loaderOf({ badImages: 'ignore' as never }), /'fail' or 'skip' for badImages/);
  assert.throws(() => loaderOf({ pipeline: { kind: 'train' } as never }), /pipeline\.size/);
  const loader = loaderOf({});
  const a = loader.prefetch(0);
  const first = await a.next();
  first.value.images.dispose();
  first.value.labels.dispose();
  await assert.rejects(loader.prefetch(0).next(), /one epoch at a time per loader/);
  await a.return(undefined);
  loader.dispose();
});

/** A child process streams one epoch of `count` files (hard links to 8 small JPEGs) and reports
 * its RSS; it is left undisposed, so the child also shows the threads let the process exit. */
function streamEpoch(count: number): { before: number; peak: number; maxRss: number; images: number } {
  const script = `
    const fs = require('node:fs'); const path = require('node:path');
    const { ImageFileLoader } = require('./src/data/image-loader');
    const { imagenetTrainPipeline } = require('./src/data/image-transforms');
    const { encode } = require('./test/image-files');
    (async () => {
      const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'rn-loader-memory-'));
      const bases = await Promise.all(Array.from({ length: 8 }, (_, i) => encode.jpeg(40 + i, 30 + i).then((b) => { const f = path.join(dir, 'base' + i + '.jpg'); fs.writeFileSync(f, b); return f; })));
      const samples = [];
      for (let i = 0; i < ${count}; i++) { const f = path.join(dir, i + '.jpg'); fs.linkSync(bases[i % 8], f); samples.push({ file: f, path: i + '.jpg', label: i % 10 }); }
      const loader = new ImageFileLoader(samples, Array.from({ length: 10 }, (_, i) => 'c' + i), { batchSize: 64, workers: 2, pipeline: imagenetTrainPipeline(64) });
      globalThis.gc();
      const before = process.memoryUsage().rss;
      let images = 0;
      let peak = before;
      for await (const b of loader.prefetch(0)) { images += b.images.shape[0]; b.images.dispose(); b.labels.dispose(); peak = Math.max(peak, process.memoryUsage().rss); }
      fs.rmSync(dir, { recursive: true, force: true });
      console.log(JSON.stringify({ before, peak, maxRss: process.resourceUsage().maxRSS * 1024, images }));
    })();`;
  const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8', timeout: 240_000 });
  assert.equal(res.status, 0, `the child ended with ${res.status} ${res.signal ?? ''} (it should exit by itself): ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

test('memory follows the prefetch depth, not the data set: streaming 20,000 files grows RSS by at most 32 MiB more than 1,000 files', () => {
  const small = streamEpoch(1_000);
  const large = streamEpoch(20_000);
  assert.deepEqual([small.images, large.images], [1_000, 20_000]);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`RSS before streaming / peak while streaming / process peak: 1,000 files ${mib(small.before)} / ${mib(small.peak)} / ${mib(small.maxRss)} MiB, 20,000 files ${mib(large.before)} / ${mib(large.peak)} / ${mib(large.maxRss)} MiB`);
  // Holding 20,000 decoded 64 x 64 images would take 983 MiB as float32 (245 MiB as bytes). While
  // streaming, what is alive is the batches in flight (prefetch depth: 4 batches of 64 here, 3 MiB
  // each, their buffers cycling between the threads) and the decode threads; measured: +79 MiB
  // for 1,000 files, +96 MiB for 20,000 (2026-12-02; the difference is glibc's arenas and V8's
  // heaps settling, which takes a few thousand images). The index itself (samples, their paths
  // in shared memory, each epoch's order) grows with the count, about 0.5 KiB a file, and is in
  // the process's peak, bounded at 48 MiB more.
  const growth = (r: typeof small) => r.peak - r.before;
  assert.ok(growth(large) - growth(small) < 32 * 2 ** 20, `streaming 20,000 files grew RSS by ${mib(growth(large))} MiB, 1,000 files by ${mib(growth(small))} MiB`);
  assert.ok(large.maxRss - small.maxRss < 48 * 2 ** 20, `process peak RSS ${mib(small.maxRss)} MiB with 1,000 files, ${mib(large.maxRss)} MiB with 20,000`);
});
