// Layers. Conv2d, BatchNorm2d and Linear wrap libtorch's own modules (same initialisation and
// kernels as PyTorch); the stateless ones are small TypeScript modules.
import { checkDevice, defaultDevice, type Device } from '../device';
import { checkBoolean, checkInteger, checkNumber, checkPair } from '../errors';
import { native, type NativeModule } from '../native';
import { Tensor, type FloatDtype, type MemoryFormat } from '../tensor';
import { adaptiveAvgPool2d, maxPool2d, type Pool2dArgs } from './functional';
import { Module } from './module';

type Pair = number | [number, number];

/** A Module backed by a libtorch module; its parameters and buffers are libtorch's tensors. */
abstract class NativeLayer extends Module {
  protected readonly native: NativeModule;

  protected constructor(nativeModule: NativeModule, device: Device | undefined) {
    super();
    this.native = nativeModule;
    const target = device === undefined ? defaultDevice() : checkDevice('device', device);
    if (target !== 'cpu') nativeModule.to(target);
    for (const [name, t] of nativeModule.namedParameters()) this.registerParameter(name, new Tensor(t));
    for (const [name, t] of nativeModule.namedBuffers()) this.registerBuffer(name, new Tensor(t));
  }

  forward(input: Tensor): Tensor {
    return new Tensor(this.native.forward(input.handle));
  }

  /** This layer's own parameter `name`, or null when the options left it out (bias: false). */
  protected ownParameter(name: string): Tensor | null {
    return this.namedParameters().find(([n]) => n === name)?.[1] ?? null;
  }

  protected override onTrainingChanged(training: boolean): void {
    this.native.train(training);
  }

  protected override relayOwnTensors(memoryFormat: MemoryFormat): void {
    this.native.toMemoryFormat(memoryFormat);
  }

  // libtorch moves parameters in place (set_data), so the registered handles follow.
  protected override moveOwnTensors(device: Device): void {
    this.native.to(device);
  }

  protected override convertOwnTensors(dtype: FloatDtype): void {
    this.native.to(null, dtype);
  }

  // The libtorch module holds its own references to the tensors: release them too.
  protected override disposeOwn(): void {
    super.disposeOwn();
    this.native.dispose();
  }
}

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  /** Default 1. */
  stride?: Pair;
  /** Symmetric zero padding; default 0. (Asymmetric padding: functional.pad before the conv.) */
  padding?: Pair;
  /** Default 1. */
  dilation?: Pair;
  /** Default 1; both channel counts must be divisible by it. */
  groups?: number;
  /** Default true. */
  bias?: boolean;
  /** Default: defaultDevice(). */
  device?: Device;
}

/** Conv2d's options once normalised: every pair spelled out. */
export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  bias: boolean;
}

export class Conv2d extends NativeLayer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dConfig;

  constructor(options: Conv2dOptions) {
    const o: Conv2dConfig = {
      inChannels: checkInteger('inChannels', options.inChannels, 1),
      outChannels: checkInteger('outChannels', options.outChannels, 1),
      kernelSize: checkPair('kernelSize', options.kernelSize, 1),
      stride: checkPair('stride', options.stride ?? 1, 1),
      padding: checkPair('padding', options.padding ?? 0, 0),
      dilation: checkPair('dilation', options.dilation ?? 1, 1),
      groups: checkInteger('groups', options.groups ?? 1, 1),
      bias: checkBoolean('bias', options.bias ?? true),
    };
    if (o.inChannels % o.groups !== 0 || o.outChannels % o.groups !== 0) {
      throw new RangeError(`Conv2d channels (in ${o.inChannels}, out ${o.outChannels}) must be divisible by groups (${o.groups})`);
    }
    super(new native.Conv2d(o), options.device);
    this.options = o;
    this.weight = this.ownParameter('weight')!;
    this.bias = this.ownParameter('bias');
  }
}

export interface BatchNorm2dOptions {
  numFeatures: number;
  /** Default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics; default 0.1; null = cumulative average. */
  momentum?: number | null;
  /** Learnable gamma (weight, init 1) and beta (bias, init 0); default true. */
  affine?: boolean;
  /** Keep running_mean / running_var / num_batches_tracked; default true. */
  trackRunningStats?: boolean;
  device?: Device;
}

export class BatchNorm2d extends NativeLayer {
  readonly options: Required<Omit<BatchNorm2dOptions, 'device'>>;

  constructor(options: BatchNorm2dOptions) {
    const momentum = options.momentum === undefined ? 0.1 : options.momentum;
    const o = {
      numFeatures: checkInteger('numFeatures', options.numFeatures, 1),
      eps: checkNumber('eps', options.eps ?? 1e-5, 0),
      momentum: momentum === null ? null : checkNumber('momentum', momentum, 0),
      affine: checkBoolean('affine', options.affine ?? true),
      trackRunningStats: checkBoolean('trackRunningStats', options.trackRunningStats ?? true),
    };
    super(new native.BatchNorm2d(o), options.device);
    this.options = o;
  }
}

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** Default true. */
  bias?: boolean;
  device?: Device;
}

export class Linear extends NativeLayer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Required<Omit<LinearOptions, 'device'>>;

  constructor(options: LinearOptions) {
    const o = {
      inFeatures: checkInteger('inFeatures', options.inFeatures, 1),
      outFeatures: checkInteger('outFeatures', options.outFeatures, 1),
      bias: checkBoolean('bias', options.bias ?? true),
    };
    super(new native.Linear(o), options.device);
    this.options = o;
    this.weight = this.ownParameter('weight')!;
    this.bias = this.ownParameter('bias');
  }
}

export class ReLU extends Module {
  /** inplace: overwrite the input (as torch.nn.ReLU(inplace=True)); default false. */
  constructor(readonly options: { inplace?: boolean } = {}) {
    super();
  }
  forward(input: Tensor): Tensor {
    return this.options.inplace ? input.relu_() : input.relu();
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly args: Pool2dArgs = {},
  ) {
    super();
  }
  forward(input: Tensor): Tensor {
    return maxPool2d(input, this.kernelSize, this.args);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(input: Tensor): Tensor {
    return adaptiveAvgPool2d(input, this.outputSize);
  }
}

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(input: Tensor): Tensor {
    return input.flatten(this.startDim, this.endDim);
  }
}

/** Runs its children in order; they are named '0', '1', ... as in torch.nn.Sequential. */
export class Sequential extends Module {
  readonly #layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.#layers = layers.map((layer, i) => this.registerModule(String(i), layer));
  }

  get length(): number {
    return this.#layers.length;
  }

  at(index: number): Module | undefined {
    return this.#layers.at(index);
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (const layer of this.#layers) x = layer.forward(x);
    return x;
  }
}
