// The ImageNet recipe's per-image transforms against torchvision 0.29.1 / Pillow 13 themselves
// (test/fixtures/image_transforms.json, written by scripts/gen_fixtures.py from the files in
// test/fixtures/image_transforms/): every colour kind decoded to the same RGB bytes as PIL's
// convert('RGB'); crops and resizes within the stated tolerance (enlarging: Pillow's own
// arithmetic, exact; shrinking: libvips' reduce, within a level inside the image and a few at a
// crop's edges); ToTensor + Normalize bit for bit; RandomResizedCrop's boxes, its fallback and
// Resize's sizes as torchvision computes them; the formats decoded here and those refused.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { ImageFileError } from '../src/error-classes';
import { cropAndResize, decodeForEval, decodeRgb, hwcToChw, hwcToNormalizedChw, normalizeTable, openImage, resizeAndCenterCrop } from '../src/data/image-decode';
import { decodeRawFormat } from '../src/data/image-raw-formats';
import { plainHeader } from '../src/data/image-sniff';
import {
  augmentationRandom,
  centralFallbackBox,
  centerCropBox,
  checkImagePipeline,
  imagenetEvalPipeline,
  imagenetTrainPipeline,
  randomResizedCropBox,
  resizedSize,
  roundHalfEven,
} from '../src/data/image-transforms';
import { SeededRandom } from '../src/data/random';
import { fromBytes, tensor } from '../src/tensor';
import { loadFixture } from './helpers';
import { encode, tempFolder } from './image-files';

interface Case { hwc: string; size: number }
interface Fixture {
  images: { file: string; width: number; height: number; rgb?: string; crops: (Case & { box: number[] })[]; evals: (Case & { resizeSize: number })[] }[];
  fallbacks: { width: number; height: number; box: number[] }[];
  box_stats: { width: number; height: number; draws: number; share_mean: number; share_quantiles: number[]; log_ratio_mean: number; log_ratio_std: number };
  resized: { width: number; height: number; size: number; out: number[] }[];
  normalized: { file: string; resizeSize: number; size: number; mean: number[]; std: number[]; chw_float32: string };
}
const fixture = loadFixture<Fixture>('image_transforms.json');
const FILES = path.join(__dirname, 'fixtures', 'image_transforms');
const bytesOf = (b64: string) => Buffer.from(b64, 'base64');

/** Mean and largest absolute difference, in 0-255 levels. */
function difference(ours: Uint8Array, theirs: Uint8Array): { mean: number; max: number } {
  assert.equal(ours.length, theirs.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - theirs[i]);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / ours.length, max };
}

// The tolerances (0-255 levels), from what the fixture measures (README, "Your own images"):
// shrinking with libvips: mean <= 1.2, max <= 8 (the largest differences sit on a crop's edges,
// where libvips extends the edge pixels and Pillow renormalises its filter); enlarging: exact.
const SHRINK = { mean: 1.5, max: 10 };
const EVAL = { mean: 1.0, max: 4 };
const SHRINK_ON_LOAD = { mean: 2.5, max: 12 };

test('every colour kind is decoded to the RGB bytes PIL convert("RGB") gives: grey, grey + alpha, RGBA, palette with transparency, CMYK, 16-bit grey, BMP 24 / 32 / 8-bit, PPM, PGM, WebP, TIFF', async () => {
  const kinds = fixture.images.filter((im) => im.rgb);
  assert.ok(kinds.length >= 14);
  for (const im of kinds) {
    const decoded = await decodeRgb(fs.readFileSync(path.join(FILES, im.file)));
    assert.deepEqual([decoded.width, decoded.height], [im.width, im.height], im.file);
    assert.equal(difference(decoded.data, bytesOf(im.rgb!)).max, 0, im.file);
  }
});

test('RandomResizedCrop pixels for fixed boxes: enlarging exact, shrinking within the tolerance', async () => {
  let cases = 0;
  for (const im of fixture.images) {
    const source = await openImage(fs.readFileSync(path.join(FILES, im.file)));
    for (const c of im.crops) {
      const [top, left, height, width] = c.box;
      const ours = await cropAndResize(source, { top, left, height, width }, c.size);
      const d = difference(ours, bytesOf(c.hwc));
      const what = `${im.file} box ${c.box.join(',')} -> ${c.size}: mean ${d.mean.toFixed(3)}, max ${d.max}`;
      if (width <= c.size && height <= c.size) assert.equal(d.max, 0, what);
      else assert.ok(d.mean <= SHRINK.mean && d.max <= SHRINK.max, what);
      cases++;
    }
  }
  assert.ok(cases >= 25);
});

test('Resize + CenterCrop (the eval transform) within the tolerance; JPEG shrink-on-load further off, as stated', async () => {
  for (const im of fixture.images.filter((i) => i.evals.length > 0)) {
    const source = await openImage(fs.readFileSync(path.join(FILES, im.file)));
    for (const e of im.evals) {
      const expected = bytesOf(e.hwc);
      const full = difference(await resizeAndCenterCrop(source, imagenetEvalPipeline(e.size, { resizeSize: e.resizeSize })), expected);
      const enlarging = Math.min(im.width, im.height) < e.resizeSize;
      const what = `${im.file} Resize(${e.resizeSize}) + CenterCrop(${e.size}): mean ${full.mean.toFixed(3)}, max ${full.max}`;
      assert.ok(enlarging ? full.max === 0 : full.mean <= EVAL.mean && full.max <= EVAL.max, what);
      const shrunk = difference(await resizeAndCenterCrop(source, imagenetEvalPipeline(e.size, { resizeSize: e.resizeSize, jpegShrinkOnLoad: true })), expected);
      assert.ok(shrunk.mean <= SHRINK_ON_LOAD.mean && shrunk.max <= SHRINK_ON_LOAD.max, `${what}; with shrink-on-load mean ${shrunk.mean.toFixed(3)}, max ${shrunk.max}`);
    }
  }
  // large.jpg (400 x 300) to Resize(40): libjpeg decodes it at 1/4 scale first, visibly different
  const large = await openImage(fs.readFileSync(path.join(FILES, 'large.jpg')));
  const [plain, shrunk] = await Promise.all([false, true].map((s) => resizeAndCenterCrop(large, imagenetEvalPipeline(32, { resizeSize: 40, jpegShrinkOnLoad: s }))));
  assert.ok(difference(plain, shrunk).max > 0);
});

test('decodeForEval gives CHW bytes of the eval pixels, from a file or bytes, and names what fails', async () => {
  const im = fixture.images.find((i) => i.file === 'photo.png')!;
  const e = im.evals[0];
  const pipeline = imagenetEvalPipeline(e.size, { resizeSize: e.resizeSize });
  const file = path.join(FILES, im.file);
  const chw = await decodeForEval(file, pipeline);
  assert.deepEqual(await decodeForEval(fs.readFileSync(file), pipeline), chw);
  const hwc = await resizeAndCenterCrop(await openImage(fs.readFileSync(file)), pipeline);
  const expected = new Uint8Array(chw.length);
  hwcToChw(hwc, e.size, false, expected);
  assert.deepEqual(chw, expected);
  const temp = tempFolder('rn-decode-eval-');
  after(temp.remove);
  const cut = path.join(temp.dir, 'cut.jpg');
  const jpeg = await encode.jpeg(64, 48);
  fs.writeFileSync(cut, jpeg.subarray(0, jpeg.length - 200));
  await assert.rejects(decodeForEval(cut, pipeline), (err: ImageFileError) => err instanceof ImageFileError && err.file === cut && /truncated or corrupt/.test(err.reason));
  await assert.rejects(decodeForEval(Buffer.from('not an image'), pipeline, 'upload 3'), (err: ImageFileError) => err.file === 'upload 3' && /cannot be decoded/.test(err.message));
  await assert.rejects(decodeForEval(path.join(temp.dir, 'missing.png'), pipeline), /missing\.png: does not exist/);
  await assert.rejects(decodeForEval(file, imagenetTrainPipeline(32) as never), /must be an eval pipeline/);
});

test('ToTensor + Normalize are bit for bit torchvision: the decode thread table and the tensor ops alike', () => {
  const n = fixture.normalized;
  const e = fixture.images.find((i) => i.file === n.file)!.evals.find((x) => x.resizeSize === n.resizeSize && x.size === n.size)!;
  const hwc = bytesOf(e.hwc);
  const expected = new Float32Array(new Uint8Array(bytesOf(n.chw_float32)).buffer);
  const floats = new Float32Array(3 * n.size * n.size);
  hwcToNormalizedChw(hwc, n.size, false, normalizeTable(n.mean, n.std), floats);
  assert.deepEqual(floats, expected);
  const chw = new Uint8Array(floats.length);
  hwcToChw(hwc, n.size, false, chw);
  const viaTensors = fromBytes(chw, [1, 3, n.size, n.size], 'uint8').to('float32').div(255).sub(tensor(n.mean, [1, 3, 1, 1])).div(tensor(n.std, [1, 3, 1, 1]));
  assert.deepEqual(viaTensors.toArray(), expected);
});

test("Python's round, torchvision's Resize sizes and RandomResizedCrop's fallback", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, 3].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3, 3]);
  for (const r of fixture.resized) assert.deepEqual(Object.values(resizedSize(r.width, r.height, r.size)), r.out, `${r.width}x${r.height} Resize(${r.size})`);
  for (const f of fixture.fallbacks) {
    const rng = new SeededRandom(3);
    const box = randomResizedCropBox(f.width, f.height, rng, [0.08, 1], [3 / 4, 4 / 3]);
    assert.deepEqual([box.top, box.left, box.height, box.width], f.box, `${f.width}x${f.height}`);
    assert.deepEqual(centralFallbackBox(f.width, f.height, [3 / 4, 4 / 3]), box);
  }
  assert.deepEqual(centerCropBox(341, 256, 224), { top: 16, left: 58, height: 224, width: 224 }); // round(58.5) = 58
});

test('RandomResizedCrop boxes (property, 20,000 draws): inside the image, areas and ratios in range, the fallback for extreme shapes', () => {
  const rng = new SeededRandom(11);
  let fallbacks = 0;
  for (let i = 0; i < 20_000; i++) {
    const extreme = i % 10 === 0;
    const width = extreme ? 1 + rng.int(2000) : 200 + rng.int(3000);
    const height = extreme ? 1 + rng.int(Math.max(1, Math.floor(width / 50))) : 200 + rng.int(3000);
    const [w, h] = i % 20 === 0 ? [height, width] : [width, height];
    const box = randomResizedCropBox(w, h, augmentationRandom(5, i, i), [0.08, 1], [3 / 4, 4 / 3]);
    const what = `${w}x${h}: ${JSON.stringify(box)}`;
    assert.ok(box.top >= 0 && box.left >= 0 && box.width > 0 && box.height > 0 && box.top + box.height <= h && box.left + box.width <= w, what);
    const fallback = centralFallbackBox(w, h, [3 / 4, 4 / 3]);
    if (box.top === fallback.top && box.left === fallback.left && box.width === fallback.width && box.height === fallback.height && extreme) {
      fallbacks++;
      continue;
    }
    if (extreme) continue;
    // rounding w and h moves the area by at most (w + h + 1) / 2 + 1/4 and the ratio by a pixel
    const area = box.width * box.height;
    const slack = (box.width + box.height + 1) / 2 + 0.25;
    assert.ok(area >= 0.08 * w * h - slack && area <= w * h + slack, `area ${what}`);
    const ratio = box.width / box.height;
    assert.ok(ratio >= (3 / 4) * (1 - 1 / box.height) - 1 / box.height && ratio <= (4 / 3) * (1 + 1 / box.height) + 1 / box.height, `ratio ${what}`);
  }
  assert.ok(fallbacks >= 1500, `the fallback was taken ${fallbacks} times of 2,000 extreme shapes`);
});

test("RandomResizedCrop's boxes are distributed as torchvision's (20,000 draws on 500 x 375 each)", () => {
  const stats = fixture.box_stats;
  const shares: number[] = [];
  const logRatios: number[] = [];
  for (let i = 0; i < stats.draws; i++) {
    const box = randomResizedCropBox(stats.width, stats.height, augmentationRandom(1, 0, i), [0.08, 1], [3 / 4, 4 / 3]);
    shares.push((box.width * box.height) / (stats.width * stats.height));
    logRatios.push(Math.log(box.width / box.height));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sorted = [...shares].sort((a, b) => a - b);
  const quantiles = [0.1, 0.25, 0.5, 0.75, 0.9].map((q) => sorted[Math.round(q * (sorted.length - 1))]);
  // standard errors over 20,000 draws: about 0.0015 for the mean share, 0.0012 for the mean log-ratio
  assert.ok(Math.abs(mean(shares) - stats.share_mean) < 0.008, `mean area share ${mean(shares)} (torchvision ${stats.share_mean})`);
  quantiles.forEach((q, k) => assert.ok(Math.abs(q - stats.share_quantiles[k]) < 0.015, `quantile ${k}: ${q} (torchvision ${stats.share_quantiles[k]})`));
  assert.ok(Math.abs(mean(logRatios) - stats.log_ratio_mean) < 0.006, `mean log-ratio ${mean(logRatios)} (torchvision ${stats.log_ratio_mean})`);
  const sd = Math.sqrt(mean(logRatios.map((x) => (x - mean(logRatios)) ** 2)));
  assert.ok(Math.abs(sd - stats.log_ratio_std) < 0.005, `log-ratio spread ${sd} (torchvision ${stats.log_ratio_std})`);
});

test('pipelines: the factories, their defaults, and refusals naming the field', () => {
  const train = imagenetTrainPipeline();
  assert.deepEqual(train, { kind: 'train', size: 224, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: 0.5, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bilinear' });
  assert.equal(imagenetEvalPipeline().resizeSize, 256);
  assert.equal(imagenetEvalPipeline(128).resizeSize, 146);
  assert.equal(imagenetEvalPipeline(224, { resizeSize: 232 }).resizeSize, 232);
  const evalPipeline = imagenetEvalPipeline(224);
  assert.deepEqual(checkImagePipeline(JSON.parse(JSON.stringify(evalPipeline))), evalPipeline, 'a recorded pipeline reads back the same');
  assert.throws(() => imagenetEvalPipeline(224, { resizeSize: 200 }), /integer from 224 to 8192 for pipeline.resizeSize but received 200/);
  assert.throws(() => imagenetTrainPipeline(224, { scale: [0.5, 0.1] }), /pipeline.scale/);
  assert.throws(() => imagenetTrainPipeline(224, { std: [1, 0, 1] }), /3 finite numbers above 0 for pipeline.std/);
  assert.throws(() => checkImagePipeline({ ...train, kind: 'test' }), /'train' or 'eval' for pipeline.kind/);
  assert.throws(() => checkImagePipeline({ ...train, interpolation: 'bicubic' }), /'bilinear' for pipeline.interpolation/);
  assert.throws(() => checkImagePipeline({ ...train, flip: 2 }), /probability from 0 to 1 for pipeline.flip/);
});

/** A BMP with the given info-header fields (pixels zero), for the variants refused. */
function bmpWith(depth: number, compression: number, size = 8): Buffer {
  const out = Buffer.alloc(54 + 1024 + size * size * 4);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54 + 1024, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(size, 18);
  out.writeInt32LE(-size, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(depth, 28);
  out.writeUInt32LE(compression, 30);
  return out;
}

test('BMP, PPM and PGM: the variants decoded here, and the others refused saying which variant', async () => {
  // a top-down 24-bit BMP and the bottom-up one the test helper writes decode to the same pixels
  const bottomUp = decodeRawFormat(await encode.bmp(5, 3));
  const ppm = decodeRawFormat(await encode.ppm(5, 3));
  assert.deepEqual(bottomUp, ppm);
  const cases: [Buffer, RegExp][] = [
    [bmpWith(8, 1), /BMP file with RLE8 compression, which is not decoded \(uncompressed 24- and 32-bit and 8-bit palette BMP only\)/],
    [bmpWith(4, 2), /RLE4 compression/],
    [bmpWith(16, 0), /16-bit BMP file/],
    [bmpWith(16, 3), /bitfields \(16-bit\) compression/],
    [bmpWith(1, 0), /1-bit BMP file/],
    [await encode.pgm(4, 4), /PGM file with maxval 65535, which is not decoded \(binary PPM \(P6\) and PGM \(P5\) with maxval 255 only\)/],
    [Buffer.from('P3\n2 1\n255\n0 0 0 255 255 255\n'), /PPM \(P3, plain text\) file/],
    [Buffer.from([...Buffer.from('P4\n8 1\n'), 0xff]), /PBM \(P4\) file/],
    [Buffer.from('P6\n4 4\n255\n\x00\x00'), /is truncated: its PPM header declares 4 x 4 pixels, which need 59 bytes, and the file has 13/],
  ];
  const temp = tempFolder('rn-raw-formats-');
  after(temp.remove);
  const pipeline = imagenetEvalPipeline(4, { resizeSize: 4 });
  for (const [bytes, message] of cases) {
    const file = path.join(temp.dir, 'variant.bin');
    fs.writeFileSync(file, bytes);
    await assert.rejects(decodeForEval(file, pipeline), (err: ImageFileError) => err instanceof ImageFileError && err.file === file && message.test(err.reason), String(message));
  }
});

test('headers read without sharp: plain JPEG and PNG (RGB or grey, 8-bit, no transparency) only, sizes as sharp reads them', async () => {
  const rgb = Buffer.alloc(40 * 30 * 3, 90);
  const raw = { raw: { width: 40, height: 30, channels: 3 as const } };
  const cases: [string, Buffer, { grey: boolean } | null][] = [
    ['baseline JPEG', await sharp(rgb, raw).jpeg().toBuffer(), { grey: false }],
    ['progressive JPEG', await sharp(rgb, raw).jpeg({ progressive: true }).toBuffer(), { grey: false }],
    ['grey JPEG', await encode.jpeg(40, 30).then((b) => sharp(b).toColourspace('b-w').jpeg().toBuffer()), { grey: true }],
    ['CMYK JPEG', await encode.cmykJpeg(40, 30), null],
    ['RGB PNG', await sharp(rgb, raw).png().toBuffer(), { grey: false }],
    ['interlaced PNG', await sharp(rgb, raw).png({ progressive: true }).toBuffer(), { grey: false }],
    ['grey PNG', await encode.pngGray(40, 30), { grey: true }],
    ['RGBA PNG', await encode.pngAlpha(40, 30), null],
    ['palette PNG', await sharp(rgb, raw).png({ palette: true }).toBuffer(), null],
    ['16-bit PNG', await sharp(rgb, raw).toColourspace('rgb16').png().toBuffer(), null],
    ['WebP', await encode.webp(40, 30), null],
  ];
  for (const [name, bytes, expected] of cases) {
    const found = plainHeader(bytes);
    assert.deepEqual(found && { grey: found.grey }, expected, name);
    if (found) assert.deepEqual([found.width, found.height], [40, 30], name);
  }
  // a PNG with a tRNS chunk (libvips gives it an alpha band)
  const png = await sharp(rgb, raw).png().toBuffer();
  const trns = Buffer.from([0, 0, 0, 6, ...Buffer.from('tRNS'), 0, 90, 0, 90, 0, 90, 0, 0, 0, 0]);
  assert.equal(plainHeader(Buffer.concat([png.subarray(0, 33), trns, png.subarray(33)])), null, 'PNG with tRNS');
});
