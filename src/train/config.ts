// Every training option in one place: the TrainOptions users pass, their defaults and checks
// (normalize), the resolved TrainConfig a run works from, and the check of options together.
import { checkDevice, checkThreads, defaultDevice, type Device } from '../device';
import { checkBoolean, checkChoice, checkFiniteNumber, checkInteger, checkPath, invalidArgument } from '../errors';
import type { PaddingMode, StemKind, InitKind } from '../models/resnet';
import type { ProcessGroupOptions } from '../distributed/process-group';
import type { GradScalerOptions } from '../optim/grad-scaler';
import { ARCHITECTURES, MAX_CLASSES, MAX_EPOCHS, MAX_IMAGE_SIZE, type Arch } from './checkpoint';
import { TrainingError } from './errors';
import { Precision } from './precision';
import { checkStepRunnerOptions } from './step-runner';
import { checkStrategyOptions } from './strategy';

export interface TrainOptions {
  /** Default 'resnet50'. */
  arch?: Arch;
  /** CIFAR-10 folder; default: the built-in synthetic set (and the run says so). */
  data?: string;
  /** Images in the synthetic splits; default 10,000 / 2,000. */
  syntheticSize?: { train?: number; test?: number };
  /** Default 5. */
  epochs?: number;
  /** Default 256. */
  batchSize?: number;
  /** Batch size of the evaluation after each epoch (inference can take larger batches; the
   * accuracy does not depend on it). Default: the larger of batchSize and 256. */
  evalBatchSize?: number;
  /** Peak learning rate; default 1e-3. */
  lr?: number;
  /** Final learning rate; default 1e-5. */
  minLr?: number;
  /** 'tutorial' (cosine, constant per epoch; default), 'warmup-cosine' (per step), 'step' (x0.1 every epochs/3). */
  schedule?: 'tutorial' | 'warmup-cosine' | 'step';
  /** Warm-up steps for 'warmup-cosine'; default one epoch. */
  warmupSteps?: number;
  /** 'sgd' (momentum SGD, the tutorial's; default), 'adamw' or 'adam' (torch.optim's algorithms). */
  optimizer?: OptimizerKind;
  /** SGD's momentum; default 0.9. */
  momentum?: number;
  /** AdamW / Adam: decay rates of the gradient's mean and square; default [0.9, 0.999]. */
  betas?: [number, number];
  /** AdamW / Adam: added to the denominator; default 1e-8. */
  eps?: number;
  /** SGD and Adam: L2 penalty added to the gradient (default 0); AdamW: decoupled decay (default 0.01). */
  weightDecay?: number;
  /** Parameters that get no weight decay: 'norm' (BatchNorm weights and biases) and / or 'bias'
   * (every bias), as torchvision's reference `--norm-weight-decay 0` / `--bias-weight-decay 0`.
   * Default: none (every parameter decays). */
  noWeightDecayOn?: NoDecayKind[];
  /** Clip the gradients' total 2-norm to this before each update (after unscaling, with loss
   * scaling), as torch.nn.utils.clip_grad_norm_. Default: no clipping. */
  clipGradNorm?: number;
  /** Batches whose gradients make one optimizer step (each batch's loss divided by their number;
   * data-parallel ranks average gradients once per step). The schedule and every step count
   * (lines, events, maxStepsPerEpoch, checkpoints) count optimizer steps. Default 1. */
  accumulateSteps?: number;
  /** Keep an exponential moving average of the weights, as torchvision's reference script's
   * `--model-ema-decay`: the decay per update is adjusted to the images between updates
   * (1 - min(1, (1 - emaDecay) * batchSize * accumulateSteps * emaEvery / epochs)). Each epoch
   * evaluates it too, and saves it as <arch>-ema.safetensors. Default: no EMA. */
  emaDecay?: number;
  /** Optimizer steps between EMA updates; default 32 (the reference's --model-ema-steps). */
  emaEvery?: number;
  /** Default false. */
  nesterov?: boolean;
  /** Default 0. */
  labelSmoothing?: number;
  /** Default 10. */
  numClasses?: number;
  /** Default 32. */
  imageSize?: number;
  /** Default 'imagenet' (the tutorial's and torchvision's). */
  stem?: StemKind;
  /** Default 'torch'. */
  padding?: PaddingMode;
  /** Default 'torchvision'. */
  init?: InitKind;
  /** Pretrained weights to start from (the head is replaced when its size differs). */
  weights?: string;
  /** Seeds weights, data order and augmentation; default 0. */
  seed?: number;
  /** Default: defaultDevice(). */
  device?: Device;
  /** libtorch intra-op threads of the training thread (training and evaluation); other threads
   * are not affected. Default: the process's (setNumThreads, or libtorch's: one per core). */
  threads?: number;
  /** Default './BestCheckpoint'. A folder holding a previous run's checkpoints is refused unless
   * resuming or `overwrite`. */
  checkpointDir?: string;
  /** Replace the checkpoints of a previous run in checkpointDir; default false. */
  overwrite?: boolean;
  /** Keep <checkpointDir>/metrics.ndjson (each step and epoch) and redraw <checkpointDir>/curves.png
   * at the end of every epoch; default true. */
  curves?: boolean;
  /** Write TensorBoard event files of the run here (a folder per run, e.g. runs/<name>: run
   * `tensorboard --logdir runs`). A resumed run continues the same curves. Default: none. */
  logDir?: string;
  /** Resume from this checkpoint (written by a previous run: '<arch>-last.safetensors'). */
  resume?: string;
  /** Stop each epoch after this many steps (quick runs and tests); default: the whole epoch. */
  maxStepsPerEpoch?: number;
  /** Print a step line every this many steps; default 100. */
  logEvery?: number;
  /** How many steps later a step's loss is read (its line, event and NaN check come then), so
   * that reading it never waits for the GPU to finish the steps queued after it. 0 reads each
   * loss at once. Values are the same either way. Default 1. */
  lossReadLag?: number;
  /** Mixed precision (autocast) for forward and loss on the training device; default off. */
  amp?: 'bfloat16' | 'float16';
  /** Mixed precision the other way: convolutions and head stored and computed in this dtype,
   * BatchNorm in float32, loss in float32 (ResNet.toHalfPrecision). Not with amp. Default off. */
  half?: 'bfloat16' | 'float16';
  /** Dynamic loss scaling (GradScaler) so that small float16 gradients do not flush to zero:
   * steps whose gradients overflow are skipped and the scale lowered. Default: on with amp
   * 'float16', off otherwise; options (initScale, growthInterval...) turn it on. Not with cudaGraph
   * or a float16 half model. */
  lossScaling?: boolean | GradScalerOptions;
  /** cuDNN autotuning (CUDA; fixed shapes); default true. */
  cudnnBenchmark?: boolean;
  /** TensorFloat-32 on CUDA (Ampere+): 'convolutions' (default, PyTorch's own default: cuDNN
   * convolutions in TF32, matrix products in full float32), true (matrix products too) or false
   * (neither: full float32 everywhere, slower). */
  tf32?: boolean | 'convolutions';
  /** Channels-last (NHWC) weights and inputs; default false. */
  channelsLast?: boolean;
  /** Capture the training step as a CUDA graph after 3 eager steps and replay it (CUDA only;
   * the last partial batch runs eagerly). A non-finite loss is then seen after its update, not
   * before. Default false. */
  cudaGraph?: boolean;
  /** Keep the whole uint8 training and test sets on the training device and augment there,
   * instead of preparing batches on a CPU worker thread. Default false. */
  dataOnDevice?: boolean;
  /** Data-parallel training across processes (c10d, Gloo, CPU): true joins the group described by
   * the environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them), or pass
   * initProcessGroup's options. batchSize is the global batch, split evenly over the ranks; lines,
   * events and checkpoints come from rank 0; evaluation is shared. Default off. */
  distributed?: boolean | ProcessGroupOptions;
}

/** false, or the GradScaler's options. */
function lossScalingOption(value: TrainOptions['lossScaling'], amp: TrainOptions['amp']): false | GradScalerOptions {
  if (value === undefined) return amp === 'float16' ? {} : false;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  return checkBoolean('lossScaling', value) ? {} : false;
}

function distributedOption(value: TrainOptions['distributed']): ProcessGroupOptions | null {
  if (value === undefined || value === false) return null;
  if (value === true) return {};
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  throw invalidArgument('a boolean or process-group options', 'distributed', value);
}

function tf32Option(value: TrainOptions['tf32']): boolean | 'convolutions' {
  if (value === undefined || value === 'convolutions') return 'convolutions';
  if (typeof value !== 'boolean') throw invalidArgument("true, false or 'convolutions'", 'tf32', value);
  return value;
}

export const OPTIMIZER_KINDS = ['sgd', 'adamw', 'adam'] as const;
export const NO_DECAY_KINDS = ['norm', 'bias'] as const;
export type NoDecayKind = (typeof NO_DECAY_KINDS)[number];

function noDecayOption(value: TrainOptions['noWeightDecayOn']): NoDecayKind[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => (NO_DECAY_KINDS as readonly unknown[]).includes(v))) {
    throw invalidArgument(`a list of ${NO_DECAY_KINDS.map((k) => `'${k}'`).join(' and / or ')}`, 'noWeightDecayOn', value);
  }
  return [...new Set(value)];
}
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

/** The largest batch a run may ask for (each image of a batch is a tensor row in memory). */
const MAX_BATCH = 1_000_000;
/** The most batches one optimizer step may accumulate. */
const MAX_ACCUMULATE = 65_536;

function checkBelowOne(name: string, value: unknown): number {
  const v = checkFiniteNumber(name, value, 0, 1);
  if (v === 1) throw invalidArgument('a number from 0 to below 1', name, value);
  return v;
}

function checkPositive(name: string, value: unknown): number {
  const v = checkFiniteNumber(name, value, 0);
  if (v === 0) throw invalidArgument('a number above 0', name, value);
  return v;
}

function betasOption(value: TrainOptions['betas']): [number, number] {
  if (value === undefined) return [0.9, 0.999];
  if (!Array.isArray(value) || value.length !== 2 || !value.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
    throw invalidArgument('two numbers from 0 to below 1', 'betas', value);
  }
  return [value[0], value[1]];
}

function normalize(options: TrainOptions) {
  const epochs = checkInteger('epochs', options.epochs ?? 5, 1, MAX_EPOCHS);
  const optimizer = checkChoice('optimizer', options.optimizer, OPTIMIZER_KINDS, 'sgd');
  return {
    arch: checkChoice('arch', options.arch, Object.keys(ARCHITECTURES) as Arch[], 'resnet50'),
    data: options.data,
    syntheticSize: { train: options.syntheticSize?.train ?? 10_000, test: options.syntheticSize?.test ?? 2_000 },
    epochs,
    batchSize: checkInteger('batchSize', options.batchSize ?? 256, 1, MAX_BATCH),
    evalBatchSize: checkInteger('evalBatchSize', options.evalBatchSize ?? Math.max(options.batchSize ?? 256, 256), 1, MAX_BATCH),
    lr: checkFiniteNumber('lr', options.lr ?? 1e-3, 0),
    minLr: checkFiniteNumber('minLr', options.minLr ?? 1e-5, 0),
    schedule: checkChoice('schedule', options.schedule, ['tutorial', 'warmup-cosine', 'step'] as const, 'tutorial'),
    warmupSteps: options.warmupSteps === undefined ? undefined : checkInteger('warmupSteps', options.warmupSteps, 0),
    optimizer,
    momentum: checkFiniteNumber('momentum', options.momentum ?? 0.9, 0),
    betas: betasOption(options.betas),
    eps: checkFiniteNumber('eps', options.eps ?? 1e-8, 0),
    weightDecay: checkFiniteNumber('weightDecay', options.weightDecay ?? (optimizer === 'adamw' ? 0.01 : 0), 0),
    noWeightDecayOn: noDecayOption(options.noWeightDecayOn),
    clipGradNorm: options.clipGradNorm === undefined ? null : checkPositive('clipGradNorm', options.clipGradNorm),
    accumulateSteps: checkInteger('accumulateSteps', options.accumulateSteps ?? 1, 1, MAX_ACCUMULATE),
    emaDecay: options.emaDecay === undefined ? null : checkBelowOne('emaDecay', options.emaDecay),
    emaEvery: checkInteger('emaEvery', options.emaEvery ?? 32, 1),
    nesterov: checkBoolean('nesterov', options.nesterov ?? false),
    labelSmoothing: checkFiniteNumber('labelSmoothing', options.labelSmoothing ?? 0, 0, 1),
    numClasses: checkInteger('numClasses', options.numClasses ?? 10, 1, MAX_CLASSES),
    imageSize: checkInteger('imageSize', options.imageSize ?? 32, 1, MAX_IMAGE_SIZE),
    stem: checkChoice('stem', options.stem, ['imagenet', 'cifar'] as const, 'imagenet'),
    padding: checkChoice('padding', options.padding, ['torch', 'same'] as const, 'torch'),
    init: checkChoice('init', options.init, ['torchvision', 'tutorial'] as const, 'torchvision'),
    weights: options.weights,
    seed: checkInteger('seed', options.seed ?? 0, 0),
    device: options.device === undefined ? defaultDevice() : checkDevice('device', options.device),
    threads: options.threads === undefined ? undefined : checkThreads('threads', options.threads),
    checkpointDir: options.checkpointDir ?? './BestCheckpoint',
    overwrite: checkBoolean('overwrite', options.overwrite ?? false),
    curves: checkBoolean('curves', options.curves ?? true),
    logDir: options.logDir === undefined ? undefined : checkPath('logDir', options.logDir),
    resume: options.resume,
    maxStepsPerEpoch: options.maxStepsPerEpoch === undefined ? undefined : checkInteger('maxStepsPerEpoch', options.maxStepsPerEpoch, 1),
    logEvery: checkInteger('logEvery', options.logEvery ?? 100, 1),
    lossReadLag: checkInteger('lossReadLag', options.lossReadLag ?? 1, 0, 1000),
    amp: options.amp === undefined ? undefined : checkChoice('amp', options.amp, ['bfloat16', 'float16'] as const, 'bfloat16'),
    half: options.half === undefined ? undefined : checkChoice('half', options.half, ['bfloat16', 'float16'] as const, 'bfloat16'),
    lossScaling: lossScalingOption(options.lossScaling, options.amp),
    cudnnBenchmark: checkBoolean('cudnnBenchmark', options.cudnnBenchmark ?? true),
    tf32: tf32Option(options.tf32),
    channelsLast: checkBoolean('channelsLast', options.channelsLast ?? false),
    cudaGraph: checkBoolean('cudaGraph', options.cudaGraph ?? false),
    dataOnDevice: checkBoolean('dataOnDevice', options.dataOnDevice ?? false),
    distributed: distributedOption(options.distributed),
  };
}

/** A run's options, resolved: every default filled in, every value checked. */
export type TrainConfig = ReturnType<typeof normalize>;

/**
 * Every option checked, each alone (type, range) and together (conflicts), without starting
 * anything: train() and the CLI call it before a worker thread starts, so that bad usage is
 * reported as such. Returns the options with their defaults.
 */
export function checkTrainOptions(options: TrainOptions = {}): TrainConfig {
  const c = normalize(options);
  // Each part checks its own conflicts.
  Precision.check(c);
  checkStepRunnerOptions(c);
  checkStrategyOptions(c);
  if (c.optimizer !== 'sgd' && c.cudaGraph) throw new TrainingError(`cudaGraph (--cuda-graph) needs a capturable optimizer: SGD, not ${c.optimizer}`);
  if (c.optimizer !== 'sgd' && c.nesterov) throw new TrainingError(`nesterov (--nesterov) is SGD's, and the optimizer is ${c.optimizer}`);
  if (c.batchSize === 1) throw new TrainingError('batchSize 1 cannot train: BatchNorm needs more than one value per channel in training mode; use 2 or more');
  return c;
}
