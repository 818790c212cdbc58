// One image through an ImagePipeline with sharp (libvips): decoded, cropped and resized to
// S x S RGB bytes, as torchvision's PIL path makes them. Colours follow PIL's convert('RGB') (the
// loader torchvision's ImageFolder uses): embedded ICC profiles and EXIF orientation ignored,
// alpha dropped (not composited), palettes expanded, CMYK by PIL's formula, 16-bit greyscale
// clipped at 255 as PIL does. Where sharp's own path would differ (alpha would be premultiplied
// for the resize, CMYK converted through a profile, 16 bits rounded after the resize) the image
// is first decoded in full and converted here, then resized from those pixels.
import * as fs from 'node:fs';
import sharp from 'sharp';
import { ImageFileError } from '../error-classes';
import { kindOf, whyUnreachable } from '../io/files';
import { MAX_IMAGE_PIXELS } from '../io/image-limits';
import { imageDecodeError } from './image-check';
import { decodeRawFormat, isRawFormat, RawImageError } from './image-raw-formats';
import { pilResize } from './pil-resample';
import { plainHeader } from './image-sniff';
import { checkImagePipeline, evalGeometry, randomResizedCropBox, type CropBox, type EvalImagePipeline, type ImagePipeline, type TrainImagePipeline } from './image-transforms';
import type { SeededRandom } from './random';

// failOn 'error': a truncated or corrupt file fails (as in PIL); libjpeg's warnings (extraneous
// bytes before a marker...), which PIL ignores, do not.
const INPUT = { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error', ignoreIcc: true } as const;

/** What sharp decodes from: the encoded file as it is, or RGB pixels converted here. */
interface Source {
  input: Buffer;
  raw?: { width: number; height: number; channels: 3 };
  width: number;
  height: number;
}

/** The whole of a regular file; ImageFileError naming `name` when it is not one or cannot be read. */
export function readImageFile(file: string, name = file): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put in the file's place does not make the open wait for a writer
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new ImageFileError(name, whyUnreachable(err));
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new ImageFileError(name, `is ${kindOf(stat)}, not a regular file`);
    return fs.readFileSync(fd);
  } catch (err) {
    throw err instanceof ImageFileError ? err : new ImageFileError(name, `cannot be read (${whyUnreachable(err)})`);
  } finally {
    fs.closeSync(fd);
  }
}

/** An error decoding `name` as the loader reports it: an ImageFileError naming the file. */
export function decodeFailure(name: string, err: unknown): ImageFileError {
  if (err instanceof ImageFileError) return err;
  if (err instanceof RawImageError) return new ImageFileError(name, err.message);
  return imageDecodeError(name, err);
}

/** PIL's cmyk2rgb: r = (255 - k) - (c * (255 - k)) / 255 with its rounding (MULDIV255). */
function cmykToRgb(cmyk: Buffer, pixels: number): Buffer {
  const out = Buffer.alloc(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const nk = 255 - cmyk[4 * p + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[4 * p + c] * nk + 128;
      out[3 * p + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return out;
}

/** `channels`-band bytes as RGB: one band replicated, a fourth dropped. */
function asRgb(data: Buffer, pixels: number, channels: number): Buffer {
  if (channels === 3) return data;
  const out = Buffer.alloc(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const at = p * channels;
    out[3 * p] = data[at];
    out[3 * p + 1] = data[channels >= 3 ? at + 1 : at];
    out[3 * p + 2] = data[channels >= 3 ? at + 2 : at];
  }
  return out;
}

/** The full image converted to RGB as PIL's convert('RGB') converts it (the uncommon kinds). */
async function convertInFull(bytes: Buffer, meta: sharp.Metadata): Promise<Buffer> {
  const pixels = meta.width! * meta.height!;
  if (meta.space === 'cmyk') {
    // the CMYK values themselves (no ICC transform to sRGB), then PIL's naive formula
    const { data, info } = await sharp(bytes, INPUT).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`CMYK image decoded to ${info.channels} bands`);
    return cmykToRgb(data, pixels);
  }
  if (meta.space === 'grey16' && !meta.hasAlpha) {
    // PIL reads it as 'I;16' and converts by clipping at 255 (not by taking the high byte)
    const { data, info } = await sharp(bytes, INPUT).pipelineColourspace('grey16').toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const values = new Uint16Array(data.buffer, data.byteOffset, pixels * info.channels);
    const grey = Buffer.alloc(pixels);
    for (let p = 0; p < pixels; p++) grey[p] = Math.min(values[p * info.channels], 255);
    return asRgb(grey, pixels, 1);
  }
  // alpha removed before any resampling (sharp would premultiply it); 16 bits to their high byte
  const { data, info } = await sharp(bytes, INPUT).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return asRgb(data, pixels, info.channels);
}

/** Reads what `bytes` are and makes them a Source (converting the kinds sharp's path would not
 * treat as PIL does). Throws on files that are no image or cannot be decoded. */
export async function openImage(bytes: Buffer): Promise<Source> {
  if (isRawFormat(bytes)) {
    const { data, width, height } = decodeRawFormat(bytes);
    return { input: data, raw: { width, height, channels: 3 }, width, height };
  }
  const plain = plainHeader(bytes);
  if (plain) {
    if (plain.width * plain.height > MAX_IMAGE_PIXELS) throw new Error('Input image exceeds pixel limit');
    return { input: bytes, width: plain.width, height: plain.height };
  }
  const meta = await sharp(bytes, INPUT).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width * height > MAX_IMAGE_PIXELS) throw new Error('Input image exceeds pixel limit');
  if (width < 1 || height < 1) throw new Error(`no size in its ${meta.format} header`);
  const eightBit = meta.depth === 'uchar' && !meta.hasAlpha;
  if (eightBit && meta.channels === 3 && meta.space === 'srgb') return { input: bytes, width, height };
  if (eightBit && meta.channels === 1 && meta.space === 'b-w') return { input: bytes, width, height };
  const rgb = await convertInFull(bytes, meta);
  return { input: rgb, raw: { width, height, channels: 3 }, width, height };
}

function pipelineStart(source: Source): sharp.Sharp {
  return source.raw ? sharp(source.input, { raw: source.raw, limitInputPixels: MAX_IMAGE_PIXELS }) : sharp(source.input, INPUT);
}

/** RGB bytes out of sharp (HWC), whatever bands it gave. */
async function finish(image: sharp.Sharp): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { data: asRgb(data, info.width * info.height, info.channels), width: info.width, height: info.height };
}

/** The whole image as RGB bytes (HWC), as PIL's convert('RGB') gives it. */
export async function decodeRgb(bytes: Buffer): Promise<{ data: Uint8Array; width: number; height: number }> {
  return finish(pipelineStart(await openImage(bytes)));
}

/**
 * The train pipeline's crop of `source`, resized to S x S (RandomResizedCrop's pixels). Axes
 * the crop shrinks along are reduced by libvips (as Pillow reduces, within a level inside the
 * crop); axes it enlarges along by pilResize, which is Pillow's own arithmetic. Pillow shrinks
 * before it enlarges too, so the passes come in its order.
 */
export async function cropAndResize(source: Source, box: CropBox, size: number): Promise<Uint8Array> {
  const shrunkW = Math.min(box.width, size);
  const shrunkH = Math.min(box.height, size);
  let image = pipelineStart(source).extract({ left: box.left, top: box.top, width: box.width, height: box.height });
  if (shrunkW < box.width || shrunkH < box.height) image = image.resize(shrunkW, shrunkH, { fit: 'fill', kernel: 'linear' });
  const { data } = await finish(image);
  return shrunkW === size && shrunkH === size ? data : pilResize(data, shrunkW, shrunkH, size, size);
}

/**
 * The eval pipeline's pixels: the whole image resized (shorter side resizeSize), then the centre
 * S x S. A shrink is libvips' (the extract of the whole image first keeps sharp from shrinking
 * JPEGs on load, unless jpegShrinkOnLoad); an enlargement (a small image) is pilResize's, of the
 * crop's pixels only.
 */
export async function resizeAndCenterCrop(source: Source, pipeline: EvalImagePipeline): Promise<Uint8Array> {
  const { width, height } = source;
  const { resized, crop } = evalGeometry(width, height, pipeline);
  if (resized.width > width || resized.height > height) {
    const { data } = await finish(pipelineStart(source));
    return pilResize(data, width, height, resized.width, resized.height, crop);
  }
  let image = pipelineStart(source);
  if (!pipeline.jpegShrinkOnLoad) image = image.extract({ left: 0, top: 0, width, height });
  if (resized.width !== width || resized.height !== height) image = image.resize(resized.width, resized.height, { fit: 'fill', kernel: 'linear' });
  image = image.extract({ left: crop.left, top: crop.top, width: crop.width, height: crop.height });
  return (await finish(image)).data;
}

/** One image through `pipeline`: S x S x 3 bytes (HWC) and whether to mirror it. A train
 * pipeline draws its crop and then its flip from `rng`. */
export async function decodeImage(bytes: Buffer, pipeline: ImagePipeline, rng: SeededRandom | null): Promise<{ hwc: Uint8Array; flip: boolean }> {
  const source = await openImage(bytes);
  if (pipeline.kind === 'eval') return { hwc: await resizeAndCenterCrop(source, pipeline), flip: false };
  if (!rng) throw new TypeError('decodeImage: a train pipeline needs its generator');
  const train: TrainImagePipeline = pipeline;
  const box = randomResizedCropBox(source.width, source.height, rng, train.scale, train.ratio);
  const flip = rng.next() < train.flip;
  return { hwc: await cropAndResize(source, box, train.size), flip };
}

/** HWC bytes of a size x size image into CHW bytes at `out[offset...]`, mirrored if `flip`. */
export function hwcToChw(hwc: Uint8Array, size: number, flip: boolean, out: Uint8Array, offset = 0): void {
  const plane = size * size;
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const src = 3 * (row + (flip ? size - 1 - x : x));
      const dst = offset + row + x;
      out[dst] = hwc[src];
      out[dst + plane] = hwc[src + 1];
      out[dst + 2 * plane] = hwc[src + 2];
    }
  }
}

/** ToTensor + Normalize of each byte value, per channel, in float32 as torch computes it:
 * (v / 255 - mean) / std, each step rounded to float32. */
export function normalizeTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let v = 0; v < 256; v++) table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  }
  return table;
}

/** hwcToChw into floats, normalised through `table` (normalizeTable). */
export function hwcToNormalizedChw(hwc: Uint8Array, size: number, flip: boolean, table: Float32Array, out: Float32Array, offset = 0): void {
  const plane = size * size;
  const step = flip ? -3 : 3;
  for (let y = 0; y < size; y++) {
    let dst = offset + y * size;
    const end = dst + size;
    // (the source walked backwards along a row to mirror it: no branch in the loop)
    for (let src = 3 * (y * size + (flip ? size - 1 : 0)); dst < end; dst++, src += step) {
      out[dst] = table[hwc[src]];
      out[dst + plane] = table[256 + hwc[src + 1]];
      out[dst + 2 * plane] = table[512 + hwc[src + 2]];
    }
  }
}

/**
 * An image (encoded bytes, or a file) through an eval pipeline: 3 x S x S bytes (CHW), the
 * pixels the loader gives the same image, for inference to normalise with the pipeline's mean
 * and std. Errors are ImageFileErrors naming `name` (default the file, or 'image').
 */
export async function decodeForEval(input: Uint8Array | string, pipeline: EvalImagePipeline, name?: string): Promise<Uint8Array> {
  const checked = checkImagePipeline(pipeline);
  if (checked.kind !== 'eval') throw new TypeError("decodeForEval: the pipeline must be an eval pipeline (imagenetEvalPipeline()), not 'train'");
  const label = name ?? (typeof input === 'string' ? input : 'image');
  try {
    const bytes = typeof input === 'string' ? readImageFile(input, label) : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const { hwc } = await decodeImage(bytes, checked, null);
    const chw = new Uint8Array(3 * checked.size * checked.size);
    hwcToChw(hwc, checked.size, false, chw);
    return chw;
  } catch (err) {
    throw decodeFailure(label, err);
  }
}
