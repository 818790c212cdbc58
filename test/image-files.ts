// Real encoded images for the data set index tests: sharp writes JPEG, PNG, WebP and TIFF; BMP,
// PPM and PGM (which sharp does not write) are written here byte by byte.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

/** A gradient of w x h with `channels` channels (deterministic, so files differ by size). */
function pixels(w: number, h: number, channels: number): Buffer {
  const out = Buffer.alloc(w * h * channels);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = (i * (c + 3) + c * 40) & 255;
  return out;
}

const raw = (w: number, h: number, channels: 1 | 3 | 4) => sharp(pixels(w, h, channels), { raw: { width: w, height: h, channels } });

export const encode = {
  jpeg: (w = 16, h = 12, quality = 80) => raw(w, h, 3).jpeg({ quality }).toBuffer(),
  cmykJpeg: (w = 16, h = 12) => raw(w, h, 3).toColourspace('cmyk').jpeg().toBuffer(),
  png: (w = 16, h = 12) => raw(w, h, 3).png().toBuffer(),
  pngAlpha: (w = 16, h = 12) => raw(w, h, 4).png().toBuffer(),
  pngGray: (w = 16, h = 12) => raw(w, h, 1).toColourspace('b-w').png().toBuffer(),
  webp: (w = 16, h = 12) => raw(w, h, 3).webp().toBuffer(),
  tiff: (w = 16, h = 12) => raw(w, h, 3).tiff().toBuffer(),
  /** 24-bit uncompressed BMP (BITMAPINFOHEADER), rows bottom-up, padded to 4 bytes. */
  bmp: async (w = 16, h = 12) => {
    const row = Math.floor((24 * w + 31) / 32) * 4;
    const out = Buffer.alloc(54 + row * h);
    out.write('BM', 0, 'latin1');
    out.writeUInt32LE(out.length, 2);
    out.writeUInt32LE(54, 10);
    out.writeUInt32LE(40, 14);
    out.writeInt32LE(w, 18);
    out.writeInt32LE(h, 22);
    out.writeUInt16LE(1, 26);
    out.writeUInt16LE(24, 28);
    out.writeUInt32LE(row * h, 34);
    const rgb = pixels(w, h, 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[54 + (h - 1 - y) * row + 3 * x + c] = rgb[3 * (y * w + x) + 2 - c];
    return out;
  },
  /** Binary PPM (P6), with a comment in its header. */
  ppm: async (w = 16, h = 12) => Buffer.concat([Buffer.from(`P6\n# made by a test\n${w} ${h}\n255\n`, 'latin1'), pixels(w, h, 3)]),
  /** Binary PGM (P5), 16-bit samples. */
  pgm: async (w = 16, h = 12) => Buffer.concat([Buffer.from(`P5 ${w} ${h} 65535\n`, 'latin1'), pixels(w, h, 2)]),
};

/** An image whose format follows the file's extension (a tiny PNG for names sharp would not tell). */
export function imageFor(name: string, w?: number, h?: number): Promise<Buffer> {
  const ext = path.extname(name).toLowerCase();
  const byExt: Record<string, (w?: number, h?: number) => Promise<Buffer>> = {
    '.jpg': encode.jpeg,
    '.jpeg': encode.jpeg,
    '.png': encode.png,
    '.webp': encode.webp,
    '.tif': encode.tiff,
    '.tiff': encode.tiff,
    '.bmp': encode.bmp,
    '.ppm': encode.ppm,
    '.pgm': encode.pgm,
  };
  return (byExt[ext] ?? encode.png)(w, h);
}

/** A fresh temporary folder, removed by the returned function. */
export function tempFolder(prefix = 'rn-images-'): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `files` (relative path: content, or an image made for its extension) under `root`. */
export async function writeTree(root: string, files: Record<string, Buffer | string | null>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const at = path.join(root, rel);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.writeFileSync(at, content ?? (await imageFor(rel)));
  }
}

/**
 * Runs `script` (CommonJS, from the repository root, with tsx) as an unprivileged user when this
 * process is root (root reads any file, so permissions can only be tested as someone else).
 * `skip` says why it could not run there (the user cannot read this checkout, say).
 */
export function runUnprivileged(script: string): { stdout: string; skip?: string } {
  const root = path.resolve(__dirname, '..');
  const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000, ...as });
  const why = res.error?.message ?? res.stderr;
  if ((res.error || res.status !== 0) && /EACCES|permission denied|Cannot find module|ERR_MODULE_NOT_FOUND/i.test(why)) {
    return { stdout: '', skip: `the unprivileged user cannot run the test here: ${why.split('\n')[0]}` };
  }
  if (res.error || res.status !== 0) throw new Error(`the unprivileged run failed: ${why}`);
  return { stdout: res.stdout };
}
