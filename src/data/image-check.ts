// A fast check of every image of a data set before training: the file is a readable regular file
// with bytes in it, its header (sharp's metadata reads only the header; BMP and netpbm are read
// here) declares a size within the pixel limit, and uncompressed BMP / PPM / PGM pixels are all
// there. A header cannot show that a JPEG or PNG was cut short at the end: `decode: true` decodes
// every image instead, and the training pipeline names such a file with imageDecodeError.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import sharp from 'sharp';
import { ImageFileError } from '../error-classes';
import { checkInteger } from '../errors';
import { kindOf, whyUnreachable } from '../io/files';
import { MAX_IMAGE_PIXELS } from '../io/image-limits';
import { isBmp, isPnm, parseBmpHeader, parsePnmHeader, type ImageHeader } from './image-headers';
export type { ImageHeader };

/** A file left out of a data set, and why. */
export interface BadFile {
  /** As the data set names it (relative to its root or manifest folder). */
  file: string;
  reason: string;
}

export interface ImageCheckOptions {
  /** The most pixels (width x height) an image may declare; default MAX_IMAGE_PIXELS (100 M). */
  maxPixels?: number;
  /** Decode every image in full (finds truncated JPEG / PNG data; much slower). Default false. */
  decode?: boolean;
  /** Files checked at once (the check waits on I/O); default 16. */
  concurrency?: number;
  /** Called as files are checked (after each one). */
  onProgress?: (checked: number, total: number) => void;
  /** Stops the check (it rejects with the signal's reason). */
  signal?: AbortSignal;
}

const HEAD_BYTES = 4096;
const sharpReads = new Set(['jpeg', 'png', 'webp', 'tiff', 'gif', 'heif', 'svg', 'jp2', 'jxl']);

/** The first line of an error (sharp repeats libvips' log lines after it). */
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();

/** Why `file` cannot be opened, telling a broken link from a missing file. */
async function whyNotThere(file: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    const target = await fsp.readlink(file).catch(() => null);
    if (target !== null) return `is a broken symbolic link (to ${target})`;
  }
  return whyUnreachable(err);
}

type Fail = (reason: string) => ImageFileError;

/** The file's size and first bytes; `fail`s when it is no readable regular file with bytes in it. */
async function readHead(file: string, fail: Fail): Promise<{ size: number; head: Buffer }> {
  const stat = await fsp.stat(file).catch(async (err) => Promise.reject(fail(await whyNotThere(file, err))));
  if (!stat.isFile()) throw fail(`is ${kindOf(stat)}, not a regular file`);
  if (stat.size === 0) throw fail('is empty (0 bytes)');
  // O_NONBLOCK: should the file become a FIFO meanwhile, opening it does not wait for a writer
  const handle = await fsp.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK).catch((err) => Promise.reject(fail(whyUnreachable(err))));
  try {
    const head = Buffer.alloc(Math.min(HEAD_BYTES, stat.size));
    const { bytesRead } = await handle.read(head, 0, head.length, 0).catch((err) => Promise.reject(fail(`cannot be read (${whyUnreachable(err)})`)));
    return { size: stat.size, head: head.subarray(0, bytesRead) };
  } finally {
    await handle.close();
  }
}

/** What sharp reads in `input`'s header (a file, or the first bytes of one). */
async function sharpMetadata(input: string | Buffer): Promise<ImageHeader> {
  const { format, width, height } = await sharp(input, { limitInputPixels: false }).metadata();
  if (!width || !height) throw new Error(`no size in its ${format} header`);
  return { format, width, height };
}

/** What sharp says the header holds; `fail`s when it reads no image there. The first bytes,
 * already read, usually hold the header (2-3 times faster than opening the file again); where
 * they do not (a long EXIF block, a TIFF directory at the end) the file is read. */
async function sharpHeader(file: string, head: Buffer, size: number, fail: Fail): Promise<ImageHeader> {
  let error: unknown;
  for (const input of head.length < size ? [head, file] : [head]) {
    try {
      return await sharpMetadata(input);
    } catch (err) {
      error = err;
    }
  }
  const message = firstLine(error).replace(/^Input buffer/, 'Input file'); // (the first bytes were the whole file)
  if (/unsupported image format/i.test(message)) throw fail('is not an image (no format sharp reads, nor BMP, PPM or PGM)');
  throw fail(`cannot be read as an image (${message})`);
}

/** The error a training pipeline throws for an image that fails to decode: names the file and
 * says whether it is too large, cut short or corrupt. */
export function imageDecodeError(file: string, err: unknown, maxPixels = MAX_IMAGE_PIXELS): ImageFileError {
  const message = firstLine(err);
  if (/pixel limit/i.test(message)) return new ImageFileError(file, `is larger than the ${maxPixels.toLocaleString('en-US')}-pixel limit`);
  if (/premature end|truncat|unexpected end|end of file|read error|short read/i.test(message)) {
    return new ImageFileError(file, `is truncated or corrupt: decoding it failed (${message})`);
  }
  return new ImageFileError(file, `cannot be decoded (${message})`);
}

/** The header of `file`, checked against the pixel limit and (where it tells) the file's size. */
async function header(file: string, maxPixels: number, fail: Fail): Promise<ImageHeader> {
  const { size, head } = await readHead(file, fail);
  let found: ImageHeader;
  try {
    found = isBmp(head) ? parseBmpHeader(head, size) : isPnm(head) ? parsePnmHeader(head, size) : await sharpHeader(file, head, size, fail);
  } catch (err) {
    throw err instanceof ImageFileError ? err : fail((err as Error).message);
  }
  if (found.width * found.height > maxPixels) {
    throw fail(`declares ${found.width} x ${found.height} pixels (${found.format}), more than the ${maxPixels.toLocaleString('en-US')}-pixel limit`);
  }
  if (found.minBytes !== undefined && size < found.minBytes) {
    throw fail(`is truncated: its ${found.format.toUpperCase()} header declares ${found.width} x ${found.height} pixels, which need ${found.minBytes} bytes, and the file has ${size}`);
  }
  return found;
}

/**
 * Checks one image: throws ImageFileError naming it (`name`, default `file`) when it is missing,
 * unreadable, not a regular file, empty, not an image, over the pixel limit or (from its header)
 * truncated; with `decode`, also when decoding it fails.
 */
export async function checkImageFile(file: string, options: { maxPixels?: number; decode?: boolean; name?: string } = {}): Promise<ImageHeader> {
  const maxPixels = checkInteger('maxPixels', options.maxPixels ?? MAX_IMAGE_PIXELS, 1);
  const name = options.name ?? file;
  const found = await header(file, maxPixels, (reason) => new ImageFileError(name, reason));
  if (options.decode && sharpReads.has(found.format)) {
    // every pixel goes through the decoder; shrunk to 8 x 8 as it comes, the image is never held
    await sharp(file, { limitInputPixels: maxPixels })
      .resize(8, 8, { fit: 'fill' })
      .raw()
      .toBuffer()
      .catch((err) => Promise.reject(imageDecodeError(name, err, maxPixels)));
  }
  return found;
}

// macOS leaves '._name' files (AppleDouble metadata) beside copied images; ImageFolder lists them
const appleDoubleHint = (file: string, reason: string) =>
  /(^|\/)\._[^/]*$/.test(file) && reason.startsWith('is not an image') ? " (a macOS '._' metadata file: delete them, e.g. with dot_clean)" : '';

/**
 * Checks `files` (at most `concurrency` at once) and returns the bad ones in the order given,
 * each named by its `path`. Never throws for a bad file; rejects only when `signal` aborts.
 */
export async function checkImageFiles(files: readonly { file: string; path: string }[], options: ImageCheckOptions = {}): Promise<BadFile[]> {
  const concurrency = checkInteger('concurrency', options.concurrency ?? 16, 1);
  const maxPixels = checkInteger('maxPixels', options.maxPixels ?? MAX_IMAGE_PIXELS, 1);
  const reasons: (string | undefined)[] = new Array(files.length);
  let next = 0;
  let checked = 0;
  const worker = async () => {
    while (next < files.length) {
      options.signal?.throwIfAborted();
      const i = next++;
      try {
        await checkImageFile(files[i].file, { maxPixels, decode: options.decode, name: files[i].path });
      } catch (err) {
        reasons[i] = err instanceof ImageFileError ? err.reason + appleDoubleHint(files[i].path, err.reason) : `cannot be checked (${firstLine(err)})`;
      }
      options.onProgress?.(++checked, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  const bad: BadFile[] = [];
  reasons.forEach((reason, i) => reason !== undefined && bad.push({ file: files[i].path, reason }));
  return bad;
}
