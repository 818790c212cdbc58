// Decoders for the formats torchvision reads (through PIL) that sharp cannot: uncompressed BMP
// (24- and 32-bit, 8-bit palette) and binary PPM (P6) / PGM (P5) with maxval 255. Each gives
// interleaved RGB, which sharp takes as raw pixels for the rest of the pipeline; colours are
// what PIL's convert('RGB') gives (a 32-bit BMP's fourth byte ignored, grey replicated). Other
// variants are refused with RawImageError, whose message says which variant and what is read.
import { MAX_IMAGE_PIXELS } from '../io/image-limits';
import { isBmp, isPnm, pnmFields } from './image-headers';

/** Decoded pixels: width x height x 3 bytes, rows top to bottom. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

/** A file this module will not decode, and why (the loader names the file). */
export class RawImageError extends Error {}

const BMP_READ = 'uncompressed 24- and 32-bit and 8-bit palette BMP only';
const PNM_READ = 'binary PPM (P6) and PGM (P5) with maxval 255 only';

/** Whether `bytes` are a BMP or netpbm file (which sharp cannot read). */
export const isRawFormat = (bytes: Buffer) => isBmp(bytes) || isPnm(bytes);

/** Decodes a BMP or netpbm file (isRawFormat). */
export function decodeRawFormat(bytes: Buffer): RgbImage {
  return isBmp(bytes) ? decodeBmp(bytes) : decodePnm(bytes);
}

function checkPixels(width: number, height: number, format: string): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new RawImageError(`declares ${width} x ${height} pixels (${format}), more than the ${MAX_IMAGE_PIXELS.toLocaleString('en-US')}-pixel limit`);
  }
}

interface BmpLayout {
  width: number;
  height: number;
  topDown: boolean;
  depth: number;
  offset: number;
  /** BGR entries for 8-bit images. */
  palette: Buffer | null;
}

const BMP_COMPRESSION_NAMES: Record<number, string> = { 1: 'RLE8', 2: 'RLE4', 4: 'JPEG', 5: 'PNG', 6: 'alpha bitfields' };

/** 32-bit BI_BITFIELDS is read when its masks put B, G, R in bytes 0, 1, 2 (what writers use). */
function standardMasks(bytes: Buffer): boolean {
  return bytes.length >= 66 && bytes.readUInt32LE(54) === 0xff0000 && bytes.readUInt32LE(58) === 0xff00 && bytes.readUInt32LE(62) === 0xff;
}

function bmpLayout(bytes: Buffer): BmpLayout {
  if (bytes.length < 26) throw new RawImageError('is a truncated BMP file (its headers are cut short)');
  const info = bytes.readUInt32LE(14);
  const core = info === 12;
  if (!core && (info < 40 || bytes.length < 14 + info)) throw new RawImageError(`is a BMP file with a ${info}-byte info header, which is not read (${BMP_READ})`);
  const width = core ? bytes.readUInt16LE(18) : bytes.readInt32LE(18);
  const signedHeight = core ? bytes.readInt16LE(20) : bytes.readInt32LE(22);
  const depth = bytes.readUInt16LE(core ? 24 : 28);
  const compression = core ? 0 : bytes.readUInt32LE(30);
  if (width <= 0 || signedHeight === 0) throw new RawImageError(`is a corrupt BMP file: it declares ${width} x ${signedHeight} pixels`);
  const bitfields = compression === 3 && depth === 32 && standardMasks(bytes);
  if (compression !== 0 && !bitfields) {
    const name = BMP_COMPRESSION_NAMES[compression] ?? (compression === 3 ? `bitfields (${depth}-bit)` : `type ${compression}`);
    throw new RawImageError(`is a BMP file with ${name} compression, which is not decoded (${BMP_READ})`);
  }
  if (depth !== 8 && depth !== 24 && depth !== 32) throw new RawImageError(`is a ${depth}-bit BMP file, which is not decoded (${BMP_READ})`);
  const height = Math.abs(signedHeight);
  checkPixels(width, height, 'BMP');
  let palette: Buffer | null = null;
  if (depth === 8) {
    const entry = core ? 3 : 4;
    const used = core ? 0 : bytes.readUInt32LE(46);
    const count = Math.min(used === 0 ? 256 : used, 256);
    const start = 14 + info;
    if (bytes.length < start + count * entry) throw new RawImageError('is a truncated BMP file (its palette is cut short)');
    palette = Buffer.alloc(256 * 3); // entries past the palette's end read as black
    for (let i = 0; i < count; i++) bytes.copy(palette, 3 * i, start + entry * i, start + entry * i + 3);
  }
  return { width, height, topDown: signedHeight < 0, depth, offset: bytes.readUInt32LE(10), palette };
}

/** An uncompressed BMP as RGB. */
export function decodeBmp(bytes: Buffer): RgbImage {
  const { width, height, topDown, depth, offset, palette } = bmpLayout(bytes);
  const stride = Math.floor((depth * width + 31) / 32) * 4;
  if (offset + stride * height > bytes.length) {
    throw new RawImageError(`is truncated: its BMP header declares ${width} x ${height} pixels, which need ${offset + stride * height} bytes, and the file has ${bytes.length}`);
  }
  const out = Buffer.alloc(width * height * 3);
  const step = depth >> 3;
  for (let y = 0; y < height; y++) {
    const row = offset + stride * (topDown ? y : height - 1 - y);
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      const at = row + x * step;
      if (palette) {
        const p = 3 * bytes[at];
        out[o] = palette[p + 2];
        out[o + 1] = palette[p + 1];
        out[o + 2] = palette[p];
      } else {
        out[o] = bytes[at + 2];
        out[o + 1] = bytes[at + 1];
        out[o + 2] = bytes[at];
      }
    }
  }
  return { data: out, width, height };
}

const PNM_NAMES: Record<number, string> = { 1: 'PBM (P1, plain text)', 2: 'PGM (P2, plain text)', 3: 'PPM (P3, plain text)', 4: 'PBM (P4)' };

/** A binary PPM (P6) or PGM (P5) with maxval 255 as RGB. */
export function decodePnm(bytes: Buffer): RgbImage {
  const kind = bytes[1] - 0x30;
  if (kind !== 5 && kind !== 6) throw new RawImageError(`is a ${PNM_NAMES[kind]} file, which is not decoded (${PNM_READ})`);
  const format = kind === 5 ? 'PGM' : 'PPM';
  let fields;
  try {
    fields = pnmFields(bytes, 3);
  } catch (err) {
    throw new RawImageError((err as Error).message);
  }
  if (fields === null) throw new RawImageError(`is a truncated ${format} file: its header is cut short`);
  const [width, height, maxval] = fields.values;
  if (width < 1 || height < 1) throw new RawImageError(`is a corrupt ${format} file: it declares ${width} x ${height} pixels`);
  if (maxval !== 255) throw new RawImageError(`is a ${format} file with maxval ${maxval}, which is not decoded (${PNM_READ})`);
  checkPixels(width, height, format);
  const channels = kind === 5 ? 1 : 3;
  const need = fields.dataStart + width * height * channels;
  if (bytes.length < need) {
    throw new RawImageError(`is truncated: its ${format} header declares ${width} x ${height} pixels, which need ${need} bytes, and the file has ${bytes.length}`);
  }
  const pixels = bytes.subarray(fields.dataStart, need);
  if (channels === 3) return { data: Buffer.from(pixels), width, height };
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0, o = 0; i < pixels.length; i++, o += 3) out[o] = out[o + 1] = out[o + 2] = pixels[i];
  return { data: out, width, height };
}
