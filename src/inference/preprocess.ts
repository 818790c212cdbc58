// Turning user images into model input: any format sharp reads (or raw RGB/RGBA pixels) as the
// model's checkpoint says it was evaluated: resized (cover, centre) to its input size (CIFAR-10
// and the synthetic set), or the ImageNet recipe's Resize(resizeSize) + CenterCrop (own images,
// the very pixels the training's evaluation saw); as uint8 CHW, then rescaled and normalised.
import sharp from 'sharp';
import { noGrad } from '../autograd';
import type { Device } from '../device';
import { Tensor, fromBytes, tensor } from '../tensor';
import { MAX_IMAGE_PIXELS } from '../io/image-limits';
import { decodeForEval } from '../data/image-decode';
import { imagenetEvalPipeline } from '../data/image-transforms';

/** An encoded image (JPEG, PNG, WebP, ...) or raw interleaved pixels. */
export type ImageInput = Uint8Array | { data: Uint8Array; width: number; height: number; channels?: 3 | 4 };

/** The largest image decoded (width x height); see io/image-limits.ts. */
export { MAX_IMAGE_PIXELS };

/** The most pixels one request's images may hold together: as many as one image may. A request
 * of many small files each declaring a huge image would otherwise be decoded in full. */
export const MAX_REQUEST_PIXELS = MAX_IMAGE_PIXELS;

/**
 * Decodes the encoded images of one request to size x size CHW: first their sizes are read from
 * their headers and the total is held to MAX_REQUEST_PIXELS, then each is decoded. Errors start
 * with `label(i)` and say 'pixel limit' when the images are too large.
 */
export async function decodeImages(files: Uint8Array[], size: number, label: (i: number) => string, resizeSize?: number): Promise<Uint8Array[]> {
  // (one image is held to the same bound by imageToChw itself: no header pass for it)
  const sizes =
    files.length < 2
      ? []
      : await Promise.all(
          // (an unreadable header counts nothing here: decoding it fails below, naming it)
          files.map((f) => sharp(f, { limitInputPixels: false }).metadata().then(({ width = 0, height = 0 }) => width * height, () => 0)),
        );
  let total = 0;
  for (let i = 0; i < sizes.length; i++) {
    total += sizes[i];
    if (total > MAX_REQUEST_PIXELS) {
      throw new Error(`${label(i)}: the images up to this one hold ${total.toLocaleString('en-US')} pixels together, more than the ${MAX_REQUEST_PIXELS.toLocaleString('en-US')}-pixel limit of one request`);
    }
  }
  return Promise.all(
    files.map((f, i) =>
      imageToChw(f, size, resizeSize).catch((err: Error) => {
        throw new Error(`${label(i)}: ${err.message}`);
      }),
    ),
  );
}

/** Decodes one image to size x size RGB, returned as CHW bytes: resized (cover, centre), or with
 * `resizeSize` (a checkpoint's evalTransform) through the evaluation pipeline its model was trained with. */
export async function imageToChw(input: ImageInput, size: number, resizeSize?: number): Promise<Uint8Array> {
  if (resizeSize !== undefined) return evalPipelineChw(input, size, resizeSize);
  const image =
    input instanceof Uint8Array
      ? sharp(input, { limitInputPixels: MAX_IMAGE_PIXELS })
      : sharp(Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength), {
          raw: { width: input.width, height: input.height, channels: input.channels ?? 3 },
        });
  let hwc: Buffer;
  try {
    hwc = await image.removeAlpha().resize(size, size, { fit: 'cover' }).raw().toBuffer();
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) {
      const { width, height } = await sharp(input instanceof Uint8Array ? input : Buffer.alloc(0), { limitInputPixels: false }).metadata().catch(() => ({ width: undefined, height: undefined }));
      throw new Error(`cannot read image: ${width ?? '?'} x ${height ?? '?'} pixels is more than the ${MAX_IMAGE_PIXELS.toLocaleString('en-US')}-pixel limit`);
    }
    throw new Error(`cannot read image: ${message}`);
  }
  const plane = size * size;
  const chw = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    chw[p] = hwc[3 * p];
    chw[plane + p] = hwc[3 * p + 1];
    chw[2 * plane + p] = hwc[3 * p + 2];
  }
  return chw;
}

/** The evaluation pipeline's pixels (data/image-decode.ts, as the training's loader makes them);
 * raw pixels are handed to it as a lossless PNG. */
async function evalPipelineChw(input: ImageInput, size: number, resizeSize: number): Promise<Uint8Array> {
  const bytes =
    input instanceof Uint8Array
      ? input
      : await sharp(Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength), { raw: { width: input.width, height: input.height, channels: input.channels ?? 3 } })
          .png({ compressionLevel: 0 })
          .toBuffer();
  try {
    return await decodeForEval(bytes, imagenetEvalPipeline(size, { resizeSize }), 'image');
  } catch (err) {
    const message = (err as Error).message.replace(/^image: /, '');
    throw new Error(`cannot read image: ${message}`);
  }
}

/** CHW images one after another in one buffer (what normalizeChw takes). */
export function concatChw(images: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(images.reduce((n, img) => n + img.length, 0));
  let offset = 0;
  for (const img of images) {
    all.set(img, offset);
    offset += img.length;
  }
  return all;
}

/** Stacks CHW images into a normalised float32 batch [N, 3, size, size]. */
export function normalizeBatch(images: Uint8Array[], size: number, mean: number[], std: number[], device: Device): Tensor {
  return normalizeChw(concatChw(images), images.length, size, mean, std, device);
}

/** `count` CHW images already in one buffer, as a normalised float32 batch [count, 3, size, size]. */
export function normalizeChw(all: Uint8Array, count: number, size: number, mean: number[], std: number[], device: Device): Tensor {
  return noGrad(() => {
    const raw = fromBytes(all, [count, 3, size, size], 'uint8', device);
    const m = tensor(mean, [1, 3, 1, 1], { device });
    const s = tensor(std, [1, 3, 1, 1], { device });
    const out = raw.to('float32').mul(1 / 255).sub(m).div(s);
    for (const t of [raw, m, s]) t.dispose();
    return out;
  });
}
