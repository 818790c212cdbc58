// The header check of every image before training: real files of each format torchvision reads
// pass with their declared size; each kind of bad file is named with its reason; what a header
// cannot see (a JPEG or PNG cut at the end) passes it and is found by decoding, with the message
// the training pipeline's imageDecodeError gives.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { buf as crc32 } from 'crc-32';
import sharp from 'sharp';
import { ImageFileError } from '../src/error-classes';
import { checkImageFile, checkImageFiles, imageDecodeError } from '../src/data/image-check';
import { encode, runUnprivileged, tempFolder } from './image-files';

const temp = tempFolder('rn-image-check-');
after(temp.remove);
const put = (name: string, content: Buffer | string) => {
  const file = path.join(temp.dir, name);
  fs.writeFileSync(file, content);
  return file;
};

/** `png` with its IHDR saying width x height (CRC recomputed, so only the size is wrong). */
function pngDeclaring(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

/** `jpeg` with its SOF0 frame header saying width x height. */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  const sof = out.indexOf(Buffer.from([0xff, 0xc0]));
  out.writeUInt16BE(height, sof + 5);
  out.writeUInt16BE(width, sof + 7);
  return out;
}

async function reasonOf(file: string, options: { decode?: boolean; maxPixels?: number } = {}): Promise<string> {
  try {
    await checkImageFile(file, options);
  } catch (err) {
    assert.ok(err instanceof ImageFileError, `${file}: ${err}`);
    assert.equal(err.file, file);
    assert.equal(err.message, `${file}: ${err.reason}`);
    return err.reason;
  }
  return 'passed';
}

test('every format torchvision reads passes with its declared size (sharp, or the BMP / netpbm headers)', async () => {
  const cases: [string, Buffer, string, number, number][] = [
    ['small.jpg', await encode.jpeg(7, 5, 10), 'jpeg', 7, 5],
    ['large.jpg', await encode.jpeg(640, 480, 95), 'jpeg', 640, 480],
    ['tall.JPEG', await encode.jpeg(33, 301, 50), 'jpeg', 33, 301],
    ['cmyk.jpg', await encode.cmykJpeg(20, 10), 'jpeg', 20, 10],
    ['alpha.png', await encode.pngAlpha(9, 9), 'png', 9, 9],
    ['gray.png', await encode.pngGray(31, 2), 'png', 31, 2],
    ['photo.webp', await encode.webp(40, 30), 'webp', 40, 30],
    ['scan.tif', await encode.tiff(12, 34), 'tiff', 12, 34],
    ['paint.bmp', await encode.bmp(13, 7), 'bmp', 13, 7],
    ['frame.ppm', await encode.ppm(5, 6), 'ppm', 5, 6],
    ['depth.pgm', await encode.pgm(8, 3), 'pgm', 8, 3],
    ['ascii.ppm', Buffer.from('P3\n2 1\n255\n255 0 0  0 255 0\n'), 'ppm', 2, 1],
    ['bits.pbm', Buffer.concat([Buffer.from('P4 10 2\n'), Buffer.alloc(4)]), 'pbm', 10, 2],
    ['png-named.jpg', await encode.png(3, 4), 'png', 3, 4],
    // headers past the first 4 KB (read from the file): a long EXIF block, a TIFF directory at the end
    ['long-exif.jpg', await sharp(await encode.jpeg(21, 22)).withExif({ IFD0: { ImageDescription: 'x'.repeat(9000) } }).jpeg().toBuffer(), 'jpeg', 21, 22],
    ['large.tiff', await encode.tiff(200, 150), 'tiff', 200, 150],
  ];
  for (const [name, bytes, format, width, height] of cases) {
    const header = await checkImageFile(put(name, bytes), { decode: true });
    assert.deepEqual([header.format, header.width, header.height], [format, width, height], name);
  }
  // a top-down BMP (negative height) and one of the old 12-byte core header
  const topDown = await encode.bmp(4, 3);
  topDown.writeInt32LE(-3, 22);
  assert.equal((await checkImageFile(put('top-down.bmp', topDown))).height, 3);
  const core = Buffer.alloc(26 + 4 * 2 * 2);
  core.write('BM', 0, 'latin1');
  core.writeUInt32LE(26, 10);
  core.writeUInt32LE(12, 14);
  core.writeUInt16LE(2, 18);
  core.writeUInt16LE(2, 20);
  core.writeUInt16LE(1, 22);
  core.writeUInt16LE(24, 24);
  assert.deepEqual(await checkImageFile(put('core.bmp', core)), { format: 'bmp', width: 2, height: 2, minBytes: 42 });
});

test('each bad file is named with what is wrong with it', async (t) => {
  const jpeg = await encode.jpeg(64, 48, 90);
  const png = await encode.png(16, 16);
  const bmp = await encode.bmp(16, 12);
  const ppm = await encode.ppm(16, 12);
  const corruptBmp = Buffer.from(bmp);
  corruptBmp.writeUInt16LE(7, 28);
  fs.mkdirSync(path.join(temp.dir, 'folder.jpg'));
  fs.symlinkSync('nothing-here.jpg', path.join(temp.dir, 'broken.jpg'));
  fs.symlinkSync('loop.jpg', path.join(temp.dir, 'loop.jpg'));
  const cases: [string, Buffer | string | null, RegExp][] = [
    ['empty.jpg', Buffer.alloc(0), /^is empty \(0 bytes\)$/],
    ['text.jpg', 'just some text, not a picture\n', /^is not an image \(no format sharp reads, nor BMP, PPM or PGM\)$/],
    ['header-cut.jpg', jpeg.subarray(0, 100), /^cannot be read as an image \(Input file has corrupt header: VipsJpeg: premature end of JPEG image\)$/],
    ['header-cut.png', png.subarray(0, 20), /^cannot be read as an image \(/],
    ['huge.png', pngDeclaring(png, 20_000, 20_000), /^declares 20000 x 20000 pixels \(png\), more than the 100,000,000-pixel limit$/],
    ['huge.jpg', jpegDeclaring(jpeg, 60_000, 60_000), /^declares 60000 x 60000 pixels \(jpeg\), more than the 100,000,000-pixel limit$/],
    ['huge.bmp', (() => { const b = Buffer.from(bmp); b.writeInt32LE(50_000, 18); b.writeInt32LE(50_000, 22); return b; })(), /^declares 50000 x 50000 pixels \(bmp\)/],
    ['huge.ppm', Buffer.from('P6 100000 100000 255\n'), /^declares 100000 x 100000 pixels \(ppm\)/],
    ['cut.bmp', bmp.subarray(0, 300), /^is truncated: its BMP header declares 16 x 12 pixels, which need 630 bytes, and the file has 300$/],
    ['cut.ppm', ppm.subarray(0, ppm.length - 1), /^is truncated: its PPM header declares 16 x 12 pixels, which need 606 bytes, and the file has 605$/],
    ['cut-header.bmp', bmp.subarray(0, 30), /^is a truncated BMP file \(30 bytes: its headers are cut short\)$/],
    ['cut-header.ppm', Buffer.from('P6 16'), /^is a truncated netpbm \(P6\) file: its header is cut short$/],
    ['bad-depth.bmp', corruptBmp, /^is a corrupt BMP file: 7 bits a pixel$/],
    ['letters.pgm', Buffer.from('P5 16 x 255\n'), /^is a corrupt P5 netpbm file: its header holds 'x' where a number belongs$/],
    ['zero.pgm', Buffer.from('P5 0 4 255\n'), /^is a corrupt PGM file: it declares 0 x 4 pixels$/],
    ['folder.jpg', null, /^is a folder, not a regular file$/],
    ['broken.jpg', null, /^is a broken symbolic link \(to nothing-here\.jpg\)$/],
    ['loop.jpg', null, /^is a loop of symbolic links$/],
    ['missing.jpg', null, /^does not exist$/],
  ];
  for (const [name, content, reason] of cases) {
    const file = content === null ? path.join(temp.dir, name) : put(name, content);
    assert.match(await reasonOf(file), reason, name);
  }
  // a FIFO is refused without opening it (opening would wait for a writer)
  const fifo = path.join(temp.dir, 'pipe.jpg');
  try {
    execFileSync('mkfifo', [fifo]);
  } catch {
    return t.skip('mkfifo is not available');
  }
  assert.equal(await reasonOf(fifo), 'is a FIFO (named pipe), not a regular file');
});

test('maxPixels sets the limit', async () => {
  const file = put('limit.png', await encode.png(100, 100));
  assert.equal(await reasonOf(file, { maxPixels: 10_000 }), 'passed');
  assert.equal(await reasonOf(file, { maxPixels: 9_999 }), 'declares 100 x 100 pixels (png), more than the 9,999-pixel limit');
});

test('a JPEG or PNG cut at the end passes the header check; decoding finds it, and imageDecodeError names it', async () => {
  const jpeg = await encode.jpeg(256, 256, 95);
  const png = await encode.pngAlpha(300, 200);
  const cutJpeg = put('cut-end.jpg', jpeg.subarray(0, Math.floor(jpeg.length * 0.7)));
  const cutPng = put('cut-end.png', png.subarray(0, png.length - 40));
  assert.equal(await reasonOf(cutJpeg), 'passed');
  assert.equal(await reasonOf(cutPng), 'passed');
  assert.match(await reasonOf(cutJpeg, { decode: true }), /^is truncated or corrupt: decoding it failed \(VipsJpeg: premature end of/);
  assert.match(await reasonOf(cutPng, { decode: true }), /^is truncated or corrupt: decoding it failed \(.*read error/);
  // the pipeline's own decode (sharp, as inference/preprocess.ts decodes) and the message it throws
  const err = await sharp(cutJpeg).resize(32, 32).raw().toBuffer().then(() => null, (e: Error) => e);
  assert.ok(err, 'sharp refuses the cut JPEG');
  const named = imageDecodeError('cat/cut-end.jpg', err);
  assert.ok(named instanceof ImageFileError);
  assert.match(named.message, /^cat\/cut-end\.jpg: is truncated or corrupt: decoding it failed \(VipsJpeg: premature end of JPEG image\)$/);
  const limit = await sharp(await encode.png(50, 50), { limitInputPixels: 100 }).raw().toBuffer().then(() => null, (e: Error) => e);
  assert.equal(imageDecodeError('big.png', limit, 100).message, 'big.png: is larger than the 100-pixel limit');
  assert.equal(imageDecodeError('odd.png', new Error('something else\nlog line')).message, 'odd.png: cannot be decoded (something else)');
});

test('checkImageFiles: bad files in the order given, named by their path; progress; a bound on files at once; abort', async () => {
  const good = put('ok.png', await encode.png());
  const files = Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? { file: put(`bad${i}.jpg`, ''), path: `c/bad${i}.jpg` } : { file: good, path: `c/ok${i}.png` }));
  const progress: number[] = [];
  const bad = await checkImageFiles(files, { concurrency: 3, onProgress: (done, total) => progress.push(done * 100 + total) });
  assert.deepEqual(bad, [3, 10, 17, 24, 31, 38].map((i) => ({ file: `c/bad${i}.jpg`, reason: 'is empty (0 bytes)' })));
  assert.deepEqual(progress, Array.from({ length: 40 }, (_, i) => (i + 1) * 100 + 40));
  // at most `concurrency` files open at once: count the open descriptors of this process
  const fdDir = '/proc/self/fd';
  if (fs.existsSync(fdDir)) {
    const before = fs.readdirSync(fdDir).length;
    let most = 0;
    await checkImageFiles(files, { concurrency: 2, onProgress: () => (most = Math.max(most, fs.readdirSync(fdDir).length - before)) });
    assert.ok(most <= 2 + 2, `at most about 2 files open at once, saw ${most} more descriptors`);
  }
  const controller = new AbortController();
  const stopped = checkImageFiles(files, { concurrency: 2, signal: controller.signal, onProgress: (done) => done === 5 && controller.abort(new Error('stop')) });
  await assert.rejects(stopped, /stop/);
  assert.deepEqual(await checkImageFiles([]), []);
  await assert.rejects(checkImageFiles(files, { concurrency: 0 }), /Expected positive integer for concurrency but received 0/);
  await assert.rejects(checkImageFiles(files, { maxPixels: Number.NaN }), /Expected positive integer for maxPixels but received NaN/);
});

test("a macOS '._' metadata file beside the images gets a hint", async () => {
  const appleDouble = Buffer.concat([Buffer.from([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00]), Buffer.from('Mac OS X        '), Buffer.alloc(60)]);
  const bad = await checkImageFiles([{ file: put('._photo.jpg', appleDouble), path: 'cat/._photo.jpg' }]);
  assert.deepEqual(bad, [{ file: 'cat/._photo.jpg', reason: "is not an image (no format sharp reads, nor BMP, PPM or PGM) (a macOS '._' metadata file: delete them, e.g. with dot_clean)" }]);
});

test('an unreadable file is named (run as an unprivileged user when root)', async (t) => {
  const file = put('secret.jpg', await encode.jpeg());
  fs.chmodSync(file, 0o000);
  fs.chmodSync(temp.dir, 0o755);
  const script = `require('./src/data/image-check').checkImageFile(${JSON.stringify(file)}).then(() => console.log('passed'), (e) => console.log(e.message))`;
  const res = runUnprivileged(script);
  if (res.skip) return t.skip(res.skip);
  assert.equal(res.stdout.trim(), `${file}: cannot be read (permission denied)`);
});
