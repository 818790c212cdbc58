// ResNet v1.5, laid out like torchvision's models/resnet.py so that state-dict keys, shapes and
// numbers are the same: BasicBlock / Bottleneck, makeLayer, ResNet, and factories.
// Facts and the tutorial's variants (stem, 'same' padding, init): ../shared/recipe.md.
import { noGrad } from '../autograd';
import { checkDevice, defaultDevice, type Device } from '../device';
import { checkBoolean, checkChoice, checkInteger } from '../errors';
import { pad as padTensor } from '../nn/functional';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Module } from '../nn/module';
import { maxPool2d } from '../nn/functional';
import { dispose, isFloatDtype, type FloatDtype, type Tensor } from '../tensor';
import { readWeights } from '../io/weights';
import { checkPretrainedArch } from '../io/pretrained';

import { INIT_KINDS, PADDING_MODES, STEM_KINDS, type InitKind, type PaddingMode, type StemKind } from './names';

export type { InitKind, PaddingMode, StemKind };

export interface ResNetOptions {
  /** Classifier outputs; default 1000. */
  numClasses?: number;
  /** Default 'imagenet'. */
  stem?: StemKind;
  /** Default 'torch'. */
  padding?: PaddingMode;
  /** Default 'torchvision'. */
  init?: InitKind;
  /** Start each residual branch's last BatchNorm at gamma 0 (torchvision's option); default false. */
  zeroInitResidual?: boolean;
  /** Default: defaultDevice(). */
  device?: Device;
}

export interface ResNetFactoryOptions extends ResNetOptions {
  /**
   * Start from these weights: a file (.pth / .pt, safetensors or MindSpore .ckpt) or the name of
   * torchvision's ImageNet weights ('resnet50.imagenet1k_v2', 'ResNet50_Weights.IMAGENET1K_V2':
   * PRETRAINED_WEIGHTS), taken from the cache or downloaded into it first. The model is built
   * with the checkpoint's head, loaded strictly, then given a fresh head when `numClasses`
   * differs: resnet50({ weights, numClasses: 10 }) is the tutorial's fine-tuning start.
   */
  weights?: string;
  /** A progress bar on stderr while named weights download (default true, as torchvision's). */
  progress?: boolean;
}

/**
 * MindSpore's 'same' padding for one spatial size: total = max((ceil(in/s)-1)*s + k - in, 0),
 * half before, the rest after.
 */
export function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** F.pad order (left, right, top, bottom) for 'same' padding of an NCHW input. */
function samePads(input: Tensor, kernel: number, stride: number): number[] {
  const [, , h, w] = input.shape;
  return [...samePadding(w, kernel, stride), ...samePadding(h, kernel, stride)];
}

/** A convolution whose padding is computed from the input size, as MindSpore's pad_mode='same'. */
class SameConv2d extends Conv2d {
  override forward(input: Tensor): Tensor {
    const [k] = this.options.kernelSize;
    const [s] = this.options.stride;
    const pads = samePads(input, k, s);
    if (pads.every((p) => p === 0)) return super.forward(input);
    const padded = padTensor(input, pads);
    const out = super.forward(padded);
    padded.dispose();
    return out;
  }
}

/** Max-pool with 'same' padding (padded with -inf, so padding never wins the max). */
class SameMaxPool2d extends Module {
  constructor(
    readonly kernel: number,
    readonly stride: number,
  ) {
    super();
  }
  forward(input: Tensor): Tensor {
    const padded = padTensor(input, samePads(input, this.kernel, this.stride), -Infinity);
    const out = maxPool2d(padded, this.kernel, { stride: this.stride });
    padded.dispose();
    return out;
  }
}

interface ConvSpec {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: PaddingMode;
  device: Device;
}

/** A bias-free k x k conv; symmetric padding k/2 ('torch') or computed per input ('same'). */
function conv(spec: ConvSpec): Conv2d {
  const options = {
    inChannels: spec.inChannels,
    outChannels: spec.outChannels,
    kernelSize: spec.kernel,
    stride: spec.stride,
    bias: false,
    device: spec.device,
  };
  // For stride 1 and odd k, 'same' is the symmetric k/2: only strided convs need the padded kind.
  if (spec.padding === 'same' && spec.stride > 1 && spec.kernel > 1) return new SameConv2d({ ...options, padding: 0 });
  return new Conv2d({ ...options, padding: Math.floor(spec.kernel / 2) });
}

interface BlockContext {
  padding: PaddingMode;
  device: Device;
}

/** The residual block interface makeLayer builds from. */
export interface BlockType {
  readonly expansion: number;
  new (inplanes: number, planes: number, stride: number, downsample: Sequential | null, ctx: BlockContext): ResidualBlock;
}

export abstract class ResidualBlock extends Module {
  /** The BatchNorm closing the residual branch (zeroInitResidual sets its gamma to 0). */
  abstract readonly lastBn: BatchNorm2d;
  protected abstract readonly downsample: Sequential | null;
  protected abstract branch(x: Tensor): Tensor;

  forward(x: Tensor): Tensor {
    const identity = this.downsample ? this.downsample.forward(x) : x;
    // As torchvision: out += identity; relu(out) in place (the branch output is ours to reuse).
    const out = this.branch(x).add_(identity).relu_();
    if (identity !== x) identity.dispose();
    return out;
  }
}

/** Two 3x3 convs (ResNet18/34); expansion 1. */
export class BasicBlock extends ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  protected readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, ctx: BlockContext) {
    super();
    const { padding, device } = ctx;
    this.conv1 = this.registerModule('conv1', conv({ inChannels: inplanes, outChannels: planes, kernel: 3, stride, padding, device }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d({ numFeatures: planes, device }));
    this.conv2 = this.registerModule('conv2', conv({ inChannels: planes, outChannels: planes, kernel: 3, stride: 1, padding, device }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d({ numFeatures: planes, device }));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }

  get lastBn(): BatchNorm2d {
    return this.bn2;
  }

  protected branch(x: Tensor): Tensor {
    return chain(x, [this.conv1, this.bn1, relu, this.conv2, this.bn2]);
  }
}

/** 1x1 -> 3x3 (carrying the stride, v1.5) -> 1x1 to 4x channels (ResNet50/101/152). */
export class Bottleneck extends ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  protected readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, ctx: BlockContext) {
    super();
    const { padding, device } = ctx;
    const width = planes;
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', conv({ inChannels: inplanes, outChannels: width, kernel: 1, stride: 1, padding, device }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d({ numFeatures: width, device }));
    this.conv2 = this.registerModule('conv2', conv({ inChannels: width, outChannels: width, kernel: 3, stride, padding, device }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d({ numFeatures: width, device }));
    this.conv3 = this.registerModule('conv3', conv({ inChannels: width, outChannels: out, kernel: 1, stride: 1, padding, device }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d({ numFeatures: out, device }));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }

  get lastBn(): BatchNorm2d {
    return this.bn3;
  }

  protected branch(x: Tensor): Tensor {
    return chain(x, [this.conv1, this.bn1, relu, this.conv2, this.bn2, relu, this.conv3, this.bn3]);
  }
}

// torchvision's ReLU(inplace=True): applied to BatchNorm outputs, which backward does not need.
const relu = new ReLU({ inplace: true });

/** Runs `x` through `layers`, disposing each intermediate (not `x`, not the result). */
function chain(x: Tensor, layers: Module[]): Tensor {
  let h = x;
  for (const layer of layers) {
    const next = layer.forward(h);
    if (h !== x && next !== h) h.dispose();
    h = next;
  }
  return h;
}

/**
 * One stage: `blocks` blocks of `planes`, the first with `stride` and, when the shape changes,
 * a down-sample (1x1 conv with the stride, then BatchNorm) on the identity path.
 */
export function makeLayer(
  block: BlockType,
  inplanes: number,
  planes: number,
  blocks: number,
  stride: number,
  ctx: BlockContext,
): { layer: Sequential; outplanes: number } {
  const outplanes = planes * block.expansion;
  let downsample: Sequential | null = null;
  if (stride !== 1 || inplanes !== outplanes) {
    downsample = new Sequential(
      conv({ inChannels: inplanes, outChannels: outplanes, kernel: 1, stride, padding: ctx.padding, device: ctx.device }),
      new BatchNorm2d({ numFeatures: outplanes, device: ctx.device }),
    );
  }
  const layers: Module[] = [new block(inplanes, planes, stride, downsample, ctx)];
  for (let i = 1; i < blocks; i++) layers.push(new block(outplanes, planes, 1, null, ctx));
  return { layer: new Sequential(...layers), outplanes };
}

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: Module | null;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool = new AdaptiveAvgPool2d(1);
  #fc: Linear;
  readonly options: Required<Omit<ResNetOptions, 'device'>> & { device: Device };
  readonly block: BlockType;

  constructor(block: BlockType, layers: [number, number, number, number], options: ResNetOptions = {}) {
    super();
    const o = normalizeOptions(options);
    this.options = o;
    this.block = block;
    const ctx: BlockContext = { padding: o.padding, device: o.device };
    if (o.stem === 'imagenet') {
      this.conv1 = this.registerModule('conv1', conv({ inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: o.padding, device: o.device }));
    } else {
      this.conv1 = this.registerModule('conv1', conv({ inChannels: 3, outChannels: 64, kernel: 3, stride: 1, padding: o.padding, device: o.device }));
    }
    this.bn1 = this.registerModule('bn1', new BatchNorm2d({ numFeatures: 64, device: o.device }));
    this.maxpool =
      o.stem === 'cifar' ? null : o.padding === 'same' ? new SameMaxPool2d(3, 2) : new MaxPool2d(3, { stride: 2, padding: 1 });
    let inplanes = 64;
    const stages: Sequential[] = [];
    [64, 128, 256, 512].forEach((planes, i) => {
      const { layer, outplanes } = makeLayer(block, inplanes, planes, layers[i], i === 0 ? 1 : 2, ctx);
      stages.push(this.registerModule(`layer${i + 1}`, layer));
      inplanes = outplanes;
    });
    [this.layer1, this.layer2, this.layer3, this.layer4] = stages;
    this.#fc = this.registerModule('fc', new Linear({ inFeatures: 512 * block.expansion, outFeatures: o.numClasses, device: o.device }));
    this.#initialize();
  }

  get fc(): Linear {
    return this.#fc;
  }

  #initialize(): void {
    const { init, zeroInitResidual } = this.options;
    noGrad(() => {
      for (const [path, m] of this.namedModules()) {
        if (m instanceof Conv2d) {
          if (init === 'torchvision') {
            // kaiming_normal_(mode='fan_out', nonlinearity='relu')
            const [out, , kh, kw] = m.weight.shape;
            m.weight.normal_(0, Math.sqrt(2 / (out * kh * kw)));
          } else {
            m.weight.normal_(0, 0.02);
          }
        } else if (m instanceof BatchNorm2d) {
          const { weight, bias } = m.stateDict();
          const downsampleBn = path.endsWith('downsample.1');
          if (init === 'tutorial' && downsampleBn) weight.normal_(1, 0.02);
          else weight.fill_(1);
          bias.zero_();
        }
      }
      if (zeroInitResidual) {
        for (const [, m] of this.namedModules()) {
          if (m instanceof ResidualBlock) m.lastBn.stateDict().weight.zero_();
        }
      }
    });
  }

  /** Floating-point inputs are cast to the dtype of the weights (float32, or toHalfPrecision()'s). */
  forward(x: Tensor): Tensor {
    const dtype = this.conv1.weight.dtype;
    const input = x.dtype === dtype || !isFloatDtype(x.dtype) ? x : x.to(dtype);
    const stages: Module[] = [this.conv1, this.bn1, relu];
    if (this.maxpool) stages.push(this.maxpool);
    stages.push(this.layer1, this.layer2, this.layer3, this.layer4, this.avgpool);
    const pooled = chain(input, stages);
    if (input !== x) input.dispose();
    const flat = pooled.flatten(1);
    const logits = this.#fc.forward(flat);
    pooled.dispose();
    flat.dispose();
    return logits;
  }

  /**
   * Half precision with float32 normalisation: convolutions and the head in `dtype`, BatchNorm
   * weights and running statistics left in float32 (never rounded through `dtype`, unlike
   * PyTorch's `model.half()` followed by `bn.float()`). An alternative to autocast for
   * mixed-precision training. In place.
   */
  toHalfPrecision(dtype: 'float16' | 'bfloat16' = 'float16'): this {
    checkChoice('dtype', dtype, ['float16', 'bfloat16'] as const, 'float16');
    return this.toDtype(dtype, (m) => !(m instanceof BatchNorm2d));
  }

  /** A new, freshly initialised classifier with `numClasses` outputs (as the tutorial does). */
  replaceHead(numClasses: number): Linear {
    checkInteger('numClasses', numClasses, 1);
    const old = this.#fc;
    const fresh = new Linear({ inFeatures: old.options.inFeatures, outFeatures: numClasses, device: this.options.device });
    if (old.weight.dtype !== 'float32') fresh.toDtype(old.weight.dtype as FloatDtype);
    this.replaceModule('fc', fresh);
    this.#fc = fresh;
    (this.options as { numClasses: number }).numClasses = numClasses;
    for (const p of old.parameters()) p.dispose();
    return fresh;
  }

  /**
   * Stops gradients for every parameter whose key starts with one of `prefixes`
   * (all of them when none are given); `unfreeze` undoes it. Returns the keys changed.
   */
  freeze(prefixes: string[] = ['']): string[] {
    return this.#setTrainable(prefixes, false);
  }

  unfreeze(prefixes: string[] = ['']): string[] {
    return this.#setTrainable(prefixes, true);
  }

  #setTrainable(prefixes: string[], on: boolean): string[] {
    const changed: string[] = [];
    for (const [key, p] of this.namedParameters()) {
      if (prefixes.some((prefix) => key.startsWith(prefix))) {
        p.requiresGrad = on;
        changed.push(key);
      }
    }
    return changed;
  }
}

function normalizeOptions(options: ResNetOptions): Required<Omit<ResNetOptions, 'device'>> & { device: Device } {
  return {
    numClasses: checkInteger('numClasses', options.numClasses ?? 1000, 1),
    stem: checkChoice('stem', options.stem, STEM_KINDS, 'imagenet'),
    padding: checkChoice('padding', options.padding, PADDING_MODES, 'torch'),
    init: checkChoice('init', options.init, INIT_KINDS, 'torchvision'),
    zeroInitResidual: checkBoolean('zeroInitResidual', options.zeroInitResidual ?? false),
    device: options.device === undefined ? defaultDevice() : checkDevice('device', options.device),
  };
}

function build(arch: string, block: BlockType, layers: [number, number, number, number], options: ResNetFactoryOptions): ResNet {
  const { weights, progress, ...rest } = options;
  if (weights === undefined) return new ResNet(block, layers, rest);
  checkPretrainedArch(weights, arch);
  const { tensors } = readWeights(weights, { progress });
  try {
    const headClasses = tensors['fc.weight']?.shape[0] ?? rest.numClasses ?? 1000;
    const model = new ResNet(block, layers, { ...rest, numClasses: headClasses });
    try {
      model.loadStateDict(tensors);
    } catch (err) {
      if (err instanceof Error) err.message = `${weights}: ${err.message}`;
      throw err;
    }
    if (rest.numClasses !== undefined && rest.numClasses !== headClasses) model.replaceHead(rest.numClasses);
    return model;
  } finally {
    dispose(tensors);
  }
}

export const resnet18 = (options: ResNetFactoryOptions = {}): ResNet => build('resnet18', BasicBlock, [2, 2, 2, 2], options);
export const resnet34 = (options: ResNetFactoryOptions = {}): ResNet => build('resnet34', BasicBlock, [3, 4, 6, 3], options);
export const resnet50 = (options: ResNetFactoryOptions = {}): ResNet => build('resnet50', Bottleneck, [3, 4, 6, 3], options);
export const resnet101 = (options: ResNetFactoryOptions = {}): ResNet => build('resnet101', Bottleneck, [3, 4, 23, 3], options);
export const resnet152 = (options: ResNetFactoryOptions = {}): ResNet => build('resnet152', Bottleneck, [3, 8, 36, 3], options);
