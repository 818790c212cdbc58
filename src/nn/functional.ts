// Stateless network ops, named as in torch.nn.functional.
import { checkPair } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';

type Pair = number | [number, number];

export function relu(input: Tensor): Tensor {
  return input.relu();
}

export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return new Tensor(native.ops.linear(input.handle, weight.handle, bias?.handle ?? null));
}

export interface Conv2dArgs {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, args: Conv2dArgs = {}): Tensor {
  return new Tensor(
    native.ops.conv2d(
      input.handle,
      weight.handle,
      bias?.handle ?? null,
      checkPair('stride', args.stride ?? 1, 1),
      checkPair('padding', args.padding ?? 0, 0),
      checkPair('dilation', args.dilation ?? 1, 1),
      args.groups ?? 1,
    ),
  );
}

export interface BatchNormArgs {
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Use batch statistics (and update the running ones) instead of the running ones. */
  training?: boolean;
  /** Weight of the new batch in the running statistics (PyTorch's convention). */
  momentum?: number;
  eps?: number;
}

export function batchNorm(input: Tensor, args: BatchNormArgs = {}): Tensor {
  return new Tensor(
    native.ops.batchNorm(
      input.handle,
      args.runningMean?.handle ?? null,
      args.runningVar?.handle ?? null,
      args.weight?.handle ?? null,
      args.bias?.handle ?? null,
      args.training ?? false,
      args.momentum ?? 0.1,
      args.eps ?? 1e-5,
    ),
  );
}

export interface Pool2dArgs {
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

export function maxPool2d(input: Tensor, kernelSize: Pair, args: Pool2dArgs & { dilation?: Pair } = {}): Tensor {
  const kernel = checkPair('kernelSize', kernelSize, 1);
  return new Tensor(
    native.ops.maxPool2d(
      input.handle,
      kernel,
      checkPair('stride', args.stride ?? kernel, 1),
      checkPair('padding', args.padding ?? 0, 0),
      checkPair('dilation', args.dilation ?? 1, 1),
      args.ceilMode ?? false,
    ),
  );
}

export function avgPool2d(input: Tensor, kernelSize: Pair, args: Pool2dArgs & { countIncludePad?: boolean } = {}): Tensor {
  const kernel = checkPair('kernelSize', kernelSize, 1);
  return new Tensor(
    native.ops.avgPool2d(
      input.handle,
      kernel,
      checkPair('stride', args.stride ?? kernel, 1),
      checkPair('padding', args.padding ?? 0, 0),
      args.ceilMode ?? false,
      args.countIncludePad ?? true,
    ),
  );
}

export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return new Tensor(native.ops.adaptiveAvgPool2d(input.handle, checkPair('outputSize', outputSize, 1)));
}

/**
 * Constant padding as F.pad: `pad` lists (before, after) pairs starting from the last
 * dimension, so [left, right, top, bottom] pads width then height, and may be asymmetric.
 */
/** input[indices...] with advanced indexing; null keeps a dimension whole (torch's x[b, :, r, c]). */
export function index(input: Tensor, indices: (Tensor | null)[]): Tensor {
  return new Tensor(native.ops.index(input.handle, indices.map((t) => (t === null ? null : t.handle))));
}

/** Bilinear resize of NCHW `input` to `size` (torch's interpolate(mode='bilinear', align_corners)). */
export function upsampleBilinear2d(input: Tensor, size: [number, number], alignCorners = false): Tensor {
  return new Tensor(native.ops.upsampleBilinear2d(input.handle, size, alignCorners));
}

export function pad(input: Tensor, padding: number[], value = 0): Tensor {
  return new Tensor(native.ops.pad(input.handle, padding, value));
}

export function softmax(input: Tensor, dim: number): Tensor {
  return input.softmax(dim);
}

export function logSoftmax(input: Tensor, dim: number): Tensor {
  return input.logSoftmax(dim);
}

export interface CrossEntropyArgs {
  /** Mix the one-hot target with the uniform distribution by this much (0 = off). */
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/** Softmax cross-entropy of logits [N, C] against int64 class indices [N]. */
export function crossEntropy(logits: Tensor, target: Tensor, args: CrossEntropyArgs = {}): Tensor {
  const smoothing = args.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`labelSmoothing must be in [0, 1], got ${smoothing}`);
  return new Tensor(native.ops.crossEntropy(logits.handle, target.handle, smoothing, args.reduction ?? 'mean'));
}
