// The ImageNet recipe's per-image transforms as torchvision defines them, described by plain data
// (an ImagePipeline, JSON-serialisable: a checkpoint records the evaluation pipeline and
// inference applies exactly the same), and the geometry each step computes: RandomResizedCrop's
// box (torchvision's get_params), Resize's output size for an int size, CenterCrop's offsets.
// Pixels are handled in image-decode.ts; nothing here loads sharp or the addon.
import { checkBoolean, checkInteger, invalidArgument } from '../errors';
import { SeededRandom } from './random';

/** torchvision's ImageNet normalisation statistics (its pretrained weights expect them). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Resampling: bilinear, with the filter widened when reducing (PIL's antialiasing), as
 * torchvision's PIL path does. Recorded so a reader can tell what was used. */
export type ImageInterpolation = 'bilinear';

interface PipelineCommon {
  /** Output side S: images come out 3 x S x S. */
  size: number;
  mean: [number, number, number];
  std: [number, number, number];
  interpolation: ImageInterpolation;
}

/** RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip(flip), then ToTensor + Normalize. */
export interface TrainImagePipeline extends PipelineCommon {
  kind: 'train';
  /** Range of the crop's area as a share of the image's; torchvision's default (0.08, 1). */
  scale: [number, number];
  /** Range of the crop's width / height; torchvision's default (3/4, 4/3). */
  ratio: [number, number];
  /** Probability of a left-right mirror; 0.5. */
  flip: number;
}

/** Resize(resizeSize) (the shorter side; torchvision's int-size rule) + CenterCrop(size), then
 * ToTensor + Normalize. */
export interface EvalImagePipeline extends PipelineCommon {
  kind: 'eval';
  resizeSize: number;
  /** Let libjpeg decode at 1/2, 1/4 or 1/8 scale where the resize shrinks that much (faster on
   * large JPEGs; the pixels differ from a full decode, see the README). Default false. */
  jpegShrinkOnLoad: boolean;
}

export type ImagePipeline = TrainImagePipeline | EvalImagePipeline;

export interface NormalizeOptions {
  /** Default IMAGENET_MEAN. */
  mean?: readonly number[];
  /** Default IMAGENET_STD. */
  std?: readonly number[];
}

/** The ImageNet training transforms at `size` (224 for torchvision's recipe). */
export function imagenetTrainPipeline(
  size = 224,
  options: NormalizeOptions & { scale?: readonly number[]; ratio?: readonly number[]; flip?: number } = {},
): TrainImagePipeline {
  return checkImagePipeline({
    kind: 'train',
    size,
    scale: [...(options.scale ?? [0.08, 1])],
    ratio: [...(options.ratio ?? [3 / 4, 4 / 3])],
    flip: options.flip ?? 0.5,
    mean: [...(options.mean ?? IMAGENET_MEAN)],
    std: [...(options.std ?? IMAGENET_STD)],
    interpolation: 'bilinear',
  }) as TrainImagePipeline;
}

/** The ImageNet evaluation transforms: Resize(resizeSize) + CenterCrop(size); resizeSize defaults
 * to floor(size * 256 / 224) (256 for 224, as torchvision's V1 weights). */
export function imagenetEvalPipeline(
  size = 224,
  options: NormalizeOptions & { resizeSize?: number; jpegShrinkOnLoad?: boolean } = {},
): EvalImagePipeline {
  return checkImagePipeline({
    kind: 'eval',
    size,
    resizeSize: options.resizeSize ?? Math.floor((size * 256) / 224),
    jpegShrinkOnLoad: options.jpegShrinkOnLoad ?? false,
    mean: [...(options.mean ?? IMAGENET_MEAN)],
    std: [...(options.std ?? IMAGENET_STD)],
    interpolation: 'bilinear',
  }) as EvalImagePipeline;
}

function checkTriple(name: string, value: unknown, positive: boolean): [number, number, number] {
  const ok = Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!ok) throw invalidArgument(`3 finite numbers${positive ? ' above 0' : ''}`, name, value);
  return [value[0], value[1], value[2]];
}

function checkRange(name: string, value: unknown, min: number): [number, number] {
  const ok = Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isFinite(v) && v > min) && value[0] <= value[1];
  if (!ok) throw invalidArgument(`[low, high] with ${min} < low <= high`, name, value);
  return [value[0], value[1]];
}

/**
 * Checks a pipeline description (one made by the factories, or read back from a checkpoint) and
 * returns a clean copy; throws a TypeError naming the field otherwise.
 */
export function checkImagePipeline(value: unknown, name = 'pipeline'): ImagePipeline {
  if (typeof value !== 'object' || value === null) throw invalidArgument('an image pipeline (imagenetTrainPipeline() / imagenetEvalPipeline())', name, value);
  const p = value as Record<string, unknown>;
  const common: PipelineCommon = {
    size: checkInteger(`${name}.size`, p.size, 1, 4096),
    mean: checkTriple(`${name}.mean`, p.mean, false),
    std: checkTriple(`${name}.std`, p.std, true),
    interpolation: 'bilinear',
  };
  if (p.interpolation !== undefined && p.interpolation !== 'bilinear') throw invalidArgument("'bilinear'", `${name}.interpolation`, p.interpolation);
  if (p.kind === 'train') {
    const flip = p.flip ?? 0.5;
    if (typeof flip !== 'number' || !(flip >= 0 && flip <= 1)) throw invalidArgument('a probability from 0 to 1', `${name}.flip`, flip);
    const scale = checkRange(`${name}.scale`, p.scale, 0);
    if (scale[1] > 1) throw invalidArgument('[low, high] with 0 < low <= high <= 1', `${name}.scale`, p.scale);
    return { kind: 'train', ...common, scale, ratio: checkRange(`${name}.ratio`, p.ratio, 0), flip };
  }
  if (p.kind === 'eval') {
    const resizeSize = checkInteger(`${name}.resizeSize`, p.resizeSize, common.size, 8192);
    return { kind: 'eval', ...common, resizeSize, jpegShrinkOnLoad: checkBoolean(`${name}.jpegShrinkOnLoad`, p.jpegShrinkOnLoad ?? false) };
  }
  throw invalidArgument("'train' or 'eval'", `${name}.kind`, p.kind);
}

/** Python's round(): halves go to the even neighbour (torchvision's arithmetic uses it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A crop box in the source image: rows top..top+height, columns left..left+width. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * RandomResizedCrop's box for a width x height image, as torchvision's get_params: up to 10
 * draws of an area share (uniform on `scale`) and a log-uniform aspect ratio, w = round(sqrt(area
 * * ratio)), h = round(sqrt(area / ratio)); the first that fits is placed uniformly. Otherwise the
 * centred largest crop whose ratio is clamped into `ratio`.
 */
export function randomResizedCropBox(width: number, height: number, rng: SeededRandom, scale: readonly number[], ratio: readonly number[]): CropBox {
  const area = width * height;
  const logLow = Math.log(ratio[0]);
  const logHigh = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.next());
    const aspect = Math.exp(logLow + (logHigh - logLow) * rng.next());
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  return centralFallbackBox(width, height, ratio);
}

/** get_params' fallback: the whole image, its ratio clamped into `ratio` by cutting one side. */
export function centralFallbackBox(width: number, height: number, ratio: readonly number[]): CropBox {
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(ratio[0], ratio[1])) h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  else if (inRatio > Math.max(ratio[0], ratio[1])) w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Resize(size)'s output for an int size: the shorter side becomes `size`, the longer
 * int(size * long / short) (truncated, as torchvision's _compute_resized_output_size). */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** CenterCrop(size)'s box in a width x height image (at least size x size): offsets
 * int(round((dim - size) / 2)) with Python's rounding. */
export function centerCropBox(width: number, height: number, size: number): CropBox {
  return { top: roundHalfEven((height - size) / 2), left: roundHalfEven((width - size) / 2), height: size, width: size };
}

/** What the eval pipeline does to a width x height image: the resized size and the crop in it. */
export function evalGeometry(width: number, height: number, pipeline: EvalImagePipeline): { resized: { width: number; height: number }; crop: CropBox } {
  const resized = resizedSize(width, height, pipeline.resizeSize);
  return { resized, crop: centerCropBox(resized.width, resized.height, pipeline.size) };
}

/**
 * The generator of one image's augmentation: keyed by the seed, the epoch and the image's
 * position in the epoch's order, so the crop and flip of an image do not depend on which thread
 * decodes it, in which order, or how many threads there are.
 */
export function augmentationRandom(seed: number, epoch: number, position: number): SeededRandom {
  let h = Math.imul(epoch + 0x632be5ab, 0x9e3779b1) ^ position;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return new SeededRandom(seed, (h ^ (h >>> 16)) >>> 0);
}
