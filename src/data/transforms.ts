// The tutorial's transforms, applied to whole batches with native tensor ops (no per-pixel
// JavaScript). A transform takes a batch [B, C, H, W] and the batch's seeded generator.
import { Tensor, arange, tensor, tidy } from '../tensor';
import { index, upsampleBilinear2d } from '../nn/functional';
import type { SeededRandom } from './random';

export type BatchTransform = (images: Tensor, rng: SeededRandom) => Tensor;

/** The tutorial's normalisation statistics. */
export const CIFAR10_MEAN: [number, number, number] = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD: [number, number, number] = [0.2023, 0.1994, 0.201];

/** x[b, :, rows[b], cols[b]] for index tensors rows [B, H', 1] and cols [B, 1, W'], back in NCHW. */
function gatherWindows(x: Tensor, rows: Tensor, cols: Tensor): Tensor {
  const b = arange(x.shape[0], undefined, 1, { device: x.device }).reshape([-1, 1, 1]);
  // Advanced indices split by a slice put the indexed dims first: [B, H', W', C].
  const nhwc = index(x, [b, null, rows, cols]);
  return nhwc.permute([0, 3, 1, 2]);
}

function indexTensor(values: Int32Array, shape: number[], device: Tensor['device']): Tensor {
  return tensor(values, shape, { device }).to('int64');
}

/** RandomCrop(size) with `padding` zero pixels on each side first. */
export function randomCrop(size = 32, padding = 4): BatchTransform {
  return (x, rng) =>
    tidy(() => {
      const [batch, , h, w] = x.shape;
      const padded = padding > 0 ? x.pad(padding) : x;
      const maxY = h + 2 * padding - size;
      const maxX = w + 2 * padding - size;
      if (maxY < 0 || maxX < 0) throw new RangeError(`randomCrop(${size}) is larger than the padded ${h + 2 * padding}x${w + 2 * padding} image`);
      const rows = new Int32Array(batch * size);
      const cols = new Int32Array(batch * size);
      for (let i = 0; i < batch; i++) {
        const dy = rng.int(maxY + 1);
        const dx = rng.int(maxX + 1);
        for (let k = 0; k < size; k++) {
          rows[i * size + k] = dy + k;
          cols[i * size + k] = dx + k;
        }
      }
      return gatherWindows(padded, indexTensor(rows, [batch, size, 1], x.device), indexTensor(cols, [batch, 1, size], x.device));
    });
}

/** Mirrors each image left-right with probability p. */
export function randomHorizontalFlip(p = 0.5): BatchTransform {
  return (x, rng) =>
    tidy(() => {
      const [batch, , h, w] = x.shape;
      const cols = new Int32Array(batch * w);
      for (let i = 0; i < batch; i++) {
        const flip = rng.next() < p;
        for (let k = 0; k < w; k++) cols[i * w + k] = flip ? w - 1 - k : k;
      }
      const rows = arange(h, undefined, 1, { device: x.device }).reshape([1, h, 1]);
      return gatherWindows(x, rows, indexTensor(cols, [batch, 1, w], x.device));
    });
}

/** Bilinear resize to size x size (identity when already that size). Outputs float32 otherwise. */
export function resize(size = 32): BatchTransform {
  return (x) => {
    const [, , h, w] = x.shape;
    if (h === size && w === size) return x;
    return tidy(() => upsampleBilinear2d(x.to('float32'), [size, size], false));
  };
}

/** Multiplies by `scale` (1/255: bytes to [0, 1]); outputs float32. */
export function rescale(scale = 1 / 255): BatchTransform {
  return (x) => tidy(() => x.to('float32').mul(scale));
}

/** (x - mean) / std per channel. */
export function normalize(mean: number[] = CIFAR10_MEAN, std: number[] = CIFAR10_STD): BatchTransform {
  return (x) =>
    tidy(() => {
      const c = mean.length;
      const m = tensor(mean, [1, c, 1, 1], { device: x.device });
      const s = tensor(std, [1, c, 1, 1], { device: x.device });
      return x.to('float32').sub(m).div(s);
    });
}

/** Applies transforms in order, disposing the intermediates (never the input). */
export function compose(...transforms: BatchTransform[]): BatchTransform {
  return (x, rng) => {
    let current = x;
    for (const t of transforms) {
      const next = t(current, rng);
      if (current !== x && next !== current) current.dispose();
      current = next;
    }
    return current === x ? x.clone() : current;
  };
}

export interface PipelineOptions {
  /** Default 32. */
  imageSize?: number;
  mean?: number[];
  std?: number[];
}

/** A declarative description of a standard pipeline, so another thread can rebuild it. */
export interface PipelineSpec extends PipelineOptions {
  kind: 'train' | 'test';
}

/** A transform that carries its PipelineSpec (made by trainTransforms / testTransforms). */
export type SpecifiedTransform = BatchTransform & { spec: PipelineSpec };

/** Builds the standard pipeline a spec describes. */
export function fromSpec(spec: PipelineSpec): SpecifiedTransform {
  const { kind, ...options } = spec;
  const steps =
    kind === 'train'
      ? [randomCrop(32, 4), randomHorizontalFlip(0.5), resize(options.imageSize ?? 32), rescale(), normalize(options.mean, options.std)]
      : [resize(options.imageSize ?? 32), rescale(), normalize(options.mean, options.std)];
  return Object.assign(compose(...steps), { spec });
}

/** The tutorial's training transforms: RandomCrop 32 pad 4, flip 0.5, Resize, Rescale, Normalize. */
export function trainTransforms(options: PipelineOptions = {}): SpecifiedTransform {
  return fromSpec({ kind: 'train', ...options });
}

/** The tutorial's test transforms: Resize, Rescale, Normalize. */
export function testTransforms(options: PipelineOptions = {}): SpecifiedTransform {
  return fromSpec({ kind: 'test', ...options });
}
