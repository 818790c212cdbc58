// The tutorial's training run: each epoch trains with momentum SGD and the cosine schedule,
// evaluates on the test split, prints the tutorial's lines, and keeps the best model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkDevice, checkThreads, defaultDevice, getNumThreads, manualSeed, setCudnnBenchmark, setTF32, setThreadNumThreads, type Device } from '../device';
import { checkBoolean, checkChoice, checkFiniteNumber, checkInteger, checkPath, invalidArgument } from '../errors';
import { loadCifar10, type ImageDataset } from '../data/cifar10';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { CIFAR10_MEAN, CIFAR10_STD, testTransforms, trainTransforms } from '../data/transforms';
import type { PaddingMode, ResNet, StemKind, InitKind } from '../models/resnet';
import type { ProcessGroupOptions } from '../distributed/process-group';
import { crossEntropy } from '../nn/functional';
import { cosineDecaySchedule, stepDecaySchedule, warmupCosineSchedule, type LrSchedule } from '../optim/lr';
import type { GradScalerOptions } from '../optim/grad-scaler';
import { SGD } from '../optim/sgd';
import { Adam, AdamW } from '../optim/adamw';
import type { Optimizer } from '../optim/optimizer';
import { dispose, tidy, type Tensor } from '../tensor';
import { ARCHITECTURES, CHECKPOINT_FORMAT, MAX_CLASSES, MAX_EPOCHS, MAX_IMAGE_SIZE, readCheckpoint, saveCheckpointInBackground, type Arch, type CheckpointMeta, type LoadedCheckpoint } from './checkpoint';
import { CurvesCallback } from '../plot/curves-callback';
import { TensorBoardCallback } from '../tensorboard/training-callback';
import { CallbackList, eventCallback, type TrainingCallback } from './callbacks';
import { evaluate } from './evaluate';
import { TrainingError } from './errors';
import type { TrainEvent } from './events';
export type { EpochSeconds, TrainEvent } from './events';
import { LaggedLosses, type ReadLoss } from './loss-reader';
import { Precision } from './precision';
import { RunLog, type StepReport } from './run-log';
import { checkStepRunnerOptions, stepRunnerFor } from './step-runner';
import { checkStrategyOptions, strategyFor } from './strategy';
import { prepareLogFolder, prepareRunFolder } from './run-folder';

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

/** Moves batch tensors to the training device: from page-locked memory without waiting for the
 * GPU (a plain host-to-device copy waits for the stream to drain, every step). */
function deviceCopy(device: Device): (t: Tensor) => Tensor {
  if (device === 'cpu') return (t) => t;
  return (t) => (t.device !== 'cpu' ? t : tidy(() => t.pinMemory().to({ device, nonBlocking: true })));
}

/** The checkpoint writes of one epoch at a time, in the background: a new epoch's files start
 * only once the previous ones are complete; a failed write stops the run at the next step. */
class BackgroundCheckpoints {
  readonly #write: (epoch: number, accuracy: number, best: boolean) => Promise<void>;
  #pending: Promise<void> = Promise.resolve();
  #failure: Error | null = null;
  started = false;

  constructor(write: (epoch: number, accuracy: number, best: boolean) => Promise<void>) {
    this.#write = write;
  }

  /** Waits until the previous epoch's files are complete, then copies the state (synchronously,
   * in `write`) and starts writing it; resolves once the copy is taken. */
  async write(epoch: number, accuracy: number, best: boolean): Promise<void> {
    await this.settle();
    this.started = true;
    const writing = this.#write(epoch, accuracy, best);
    writing.catch((err: Error) => (this.#failure ??= err));
    this.#pending = writing;
  }

  throwIfFailed(): void {
    if (this.#failure) throw new TrainingError(`writing a checkpoint failed: ${this.#failure.message}`);
  }

  /** Resolves when every write is complete; rejects with the first failure. */
  async settle(): Promise<void> {
    await this.#pending.catch(() => {});
    this.throwIfFailed();
  }
}

export interface TrainHooks {
  /** The tutorial's log lines. */
  onLine?: (line: string) => void;
  onEvent?: (event: TrainEvent) => void;
  /** Code that watches the run (after onEvent, in order), with the model at hand; main rank only. */
  callbacks?: TrainingCallback[];
  /** Checked at step boundaries: when aborted, the run stops (its last checkpoint is kept). */
  signal?: Pick<AbortSignal, 'aborted'>;
}

export interface TrainResult {
  bestAccuracy: number;
  bestCheckpoint: string;
  lastCheckpoint: string;
  epochs: number;
  steps: number;
  losses: number[];
  accuracies: number[];
}

export { TrainingError };

export { stepLine, epochLine, finalLine } from './run-log';

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
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

/** The largest batch a run may ask for (each image of a batch is a tensor row in memory). */
const MAX_BATCH = 1_000_000;

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

function schedule(c: ReturnType<typeof normalize>, stepsPerEpoch: number): LrSchedule {
  const total = stepsPerEpoch * c.epochs;
  if (c.schedule === 'warmup-cosine') return warmupCosineSchedule(c.minLr, c.lr, total, c.warmupSteps ?? stepsPerEpoch);
  if (c.schedule === 'step') return stepDecaySchedule(c.lr, 0.1, Math.max(1, Math.round(c.epochs / 3)), stepsPerEpoch);
  return cosineDecaySchedule(c.minLr, c.lr, stepsPerEpoch, c.epochs);
}

/** The checkpoint to resume from, refused (naming the field) when it cannot continue this run:
 * no optimizer state (a -best file), another model or input than this run's, or no epochs left. */
function readResumable(file: string, c: ReturnType<typeof normalize>): LoadedCheckpoint {
  const saved = readCheckpoint(file);
  const refuse = (why: string): never => {
    dispose(saved.model);
    dispose(saved.optimizer);
    throw new TrainingError(`cannot resume from ${file}: ${why}`);
  };
  // (files written before 'role' existed: a -best file is the one without momentum buffers)
  const best = saved.meta.role === 'best' || (saved.meta.role === undefined && Object.keys(saved.optimizer).length === 0);
  if (best && keepsState(c)) {
    refuse("it holds no optimizer state (a '-best' checkpoint has only the weights): resume from the run's '-last' checkpoint, which keeps the optimizer's state");
  }
  const trainedWith = (saved.meta.config.optimizer as string | undefined) ?? 'sgd';
  if (trainedWith !== c.optimizer) refuse(`it was trained with optimizer ${JSON.stringify(trainedWith)} and this run has ${JSON.stringify(c.optimizer)}: pass the same --optimizer`);
  for (const key of ['arch', 'numClasses', 'stem', 'padding', 'imageSize'] as const) {
    if (saved.meta[key] !== c[key]) {
      refuse(`it was trained with ${key} ${JSON.stringify(saved.meta[key])} and this run has ${JSON.stringify(c[key])}: a resumed run keeps its model and input (pass the same ${key})`);
    }
  }
  const { epoch, step } = saved.meta;
  if (!Number.isSafeInteger(epoch) || epoch < 0) refuse(`its epoch ${JSON.stringify(epoch)} is not a number of completed epochs`);
  if (!Number.isSafeInteger(step) || step < 0) refuse(`its step ${JSON.stringify(step)} is not a number of steps`);
  if (epoch >= c.epochs) refuse(`it has already trained ${epoch} of ${c.epochs} epochs: pass epochs (--epochs) above ${epoch} to train more`);
  return saved;
}

/** The run's optimizer, as its options say. */
function optimizerFor(c: ReturnType<typeof normalize>, params: [string, Tensor][], lr: number): Optimizer {
  if (c.optimizer === 'sgd') return new SGD(params, { lr, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov, capturable: c.cudaGraph });
  const Kind = c.optimizer === 'adamw' ? AdamW : Adam;
  return new Kind(params, { lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay });
}

/** Whether the run's optimizer keeps state across steps (SGD without momentum keeps none). */
function keepsState(c: { optimizer: OptimizerKind; momentum: number }): boolean {
  return c.optimizer !== 'sgd' || c.momentum > 0;
}

/** The optimizer's own keys of a checkpoint's optimizer state; another optimizer's is refused. */
function ownState(state: Record<string, Tensor>, optimizer: Optimizer): Record<string, Tensor> {
  const own: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(state)) {
    if (!key.startsWith(optimizer.checkpointPrefix)) throw new Error(`its optimizer state ('${key}') is not ${optimizer.kind}'s`);
    own[key.slice(optimizer.checkpointPrefix.length)] = t;
  }
  return own;
}

/** After a step every trained parameter of a ResNet has its optimizer state: a checkpoint with
 * some (or, unless `noneIsFine`, all) missing is damaged, and resuming from it would restart
 * those parameters' momentum in silence. */
function checkStateComplete(model: ResNet, optimizer: Optimizer, noneIsFine: boolean): void {
  const trained = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const held = new Set(optimizer.statefulParameters());
  const missing = trained.filter(([name]) => !held.has(name)).map(([name]) => name);
  if (missing.length === 0 || (noneIsFine && held.size === 0)) return;
  const shown = missing.slice(0, 3).map((n) => `'${n}'`).join(', ');
  throw new TrainingError(
    `optimizer state lacks the ${optimizer.kind === 'sgd' ? 'momentum buffer' : 'moments'} of ${shown}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} ` +
      `(it has ${trained.length - missing.length} of ${trained.length}): the checkpoint is damaged`,
  );
}

/**
 * Every option checked, each alone (type, range) and together (conflicts), without starting
 * anything: train() and the CLI call it before a worker thread starts, so that bad usage is
 * reported as such. Returns the options with their defaults.
 */
export function checkTrainOptions(options: TrainOptions = {}): ReturnType<typeof normalize> {
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

/** Runs the training. Resolves with the best accuracy and where the checkpoints are. */
export async function runTraining(options: TrainOptions = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  const c = checkTrainOptions(options);
  const owned = new Owned();
  try {
    return await train(c, hooks, owned);
  } finally {
    // The model, optimizer, data and loaders this run made go now, not at some garbage collection
    // (a service that trains again and again stays flat).
    owned.freeAll();
  }
}

/** What a run made, freed when it ends (last made, first freed). */
class Owned {
  #free: (() => void)[] = [];

  add<T extends { dispose(): void }>(item: T): T {
    this.#free.push(() => item.dispose());
    return item;
  }

  addDataset<T extends ImageDataset>(dataset: T): T {
    this.#free.push(() => dispose([dataset.images, dataset.labels]));
    return dataset;
  }

  freeAll(): void {
    for (const free of this.#free.reverse()) free();
    this.#free = [];
  }
}

async function train(options: ReturnType<typeof checkTrainOptions>, hooks: TrainHooks, owned: Owned): Promise<TrainResult> {
  // One process or data-parallel ranks (joined first, so that a rank that cannot start is known
  // to the others at once); float32, autocast, loss scaling or a half model.
  // (joining can be stopped like a step, and says every 10 s which ranks it waits for)
  const strategy = owned.add(strategyFor(options.distributed, options.device, { signal: hooks.signal, onWaiting: hooks.onLine }));
  // A rank asked to train on 'cuda' trains on its own GPU, and every part below uses that one.
  const c = { ...options, device: strategy.device };
  const bestFile = path.join(c.checkpointDir, `${c.arch}-best.safetensors`);
  const lastFile = path.join(c.checkpointDir, `${c.arch}-last.safetensors`);
  const rankBatch = strategy.rankBatch(c.batchSize);
  const precision = owned.add(new Precision(c));
  // Lines, events and checkpoints come from the main rank only.
  // the caller's events, the run's own curves (and TensorBoard files), then the caller's callbacks
  const ownCallbacks = [...(c.curves ? [new CurvesCallback(c.checkpointDir)] : []), ...(c.logDir ? [new TensorBoardCallback(c.logDir)] : [])];
  const callbacks = new CallbackList([...(hooks.onEvent ? [eventCallback(hooks.onEvent)] : []), ...ownCallbacks, ...(hooks.callbacks ?? [])]);
  const log = new RunLog({ speaks: strategy.isMain, onLine: hooks.onLine, callbacks, epochs: c.epochs, logEvery: c.logEvery });
  const line = (text: string) => log.line(text);
  if (c.momentum >= 1) line(`Warning: momentum ${c.momentum} is 1 or more: the updates grow without bound (the usual range is 0 to 0.99).`);
  if (c.threads) setThreadNumThreads(c.threads);
  const forwardLoss = (x: Tensor, y: Tensor): Tensor =>
    precision.forward(() => crossEntropy(stepModule.forward(x).to('float32'), y, { labelSmoothing: c.labelSmoothing }));
  manualSeed(c.seed);

  const synthetic = c.data === undefined;
  const load = (split: 'train' | 'test'): ImageDataset =>
    synthetic ? syntheticDataset(split, { size: c.syntheticSize[split], seed: c.seed }) : loadCifar10(c.data!, split);
  const trainSet = owned.addDataset(load('train'));
  const testSet = owned.addDataset(load('test'));
  const largestLabel = trainSet.labelArray.reduce((a, b) => Math.max(a, b), 0);
  if (largestLabel >= c.numClasses) {
    throw new TrainingError(`the training data has labels up to ${largestLabel} (${trainSet.classNames.length} classes) but numClasses is ${c.numClasses}: pass numClasses (--num-classes) ${largestLabel + 1} or more`);
  }
  // One name per output: the data's names, then 'class N' for outputs the data does not use.
  const classNames = Array.from({ length: c.numClasses }, (_, i) => trainSet.classNames[i] ?? `class ${i}`);
  // Before any model is built or step taken (after the data, whose errors come first).
  if (strategy.isMain) {
    prepareRunFolder(c.checkpointDir, [path.basename(bestFile), path.basename(lastFile)], { resume: c.resume, overwrite: c.overwrite });
    if (c.logDir) prepareLogFolder(c.logDir);
  }
  const pipeline = { imageSize: c.imageSize };
  const dataDevice = c.dataOnDevice ? c.device : 'cpu';
  // Data-parallel ranks each read their own shard in batches of their share of the global batch,
  // with augmentation keyed by rank so that no two ranks draw the same crops.
  const sampler = strategy.trainSampler(trainSet.size, c.seed);
  const imagesPerEpoch = sampler?.size ?? trainSet.size;
  // A last batch of one image cannot train BatchNorm: such a batch is left out (and the run says so).
  const dropLast = imagesPerEpoch % rankBatch === 1;
  const trainLoader = owned.add(
    new DataLoader(trainSet, {
      batchSize: rankBatch,
      seed: strategy.augmentationSeed(c.seed),
      sampler,
      transform: trainTransforms(pipeline),
      device: dataDevice,
      dropLast,
    }),
  );
  const testLoader = owned.add(
    new DataLoader(testSet, { batchSize: c.evalBatchSize, seed: c.seed + 1, sampler: strategy.testSampler(testSet.size), transform: testTransforms(pipeline), device: dataDevice }),
  );
  const stepsPerEpoch = Math.min(trainLoader.length, c.maxStepsPerEpoch ?? Infinity);
  const lrAt = schedule(c, stepsPerEpoch);

  // A resumed run continues the same run: its checkpoint is checked before any model is built.
  const saved = c.resume ? readResumable(c.resume, c) : null;
  const model: ResNet = owned.add(
    ARCHITECTURES[c.arch]({
      numClasses: c.numClasses,
      stem: c.stem,
      padding: c.padding,
      init: c.init,
      weights: c.weights,
      device: c.device,
    }),
  );
  precision.prepareModel(model);
  if (c.channelsLast) model.toMemoryFormat('channels_last');
  const optimizer = owned.add(optimizerFor(c, model.namedParameters(), lrAt(0)));

  let startEpoch = 0;
  let globalStep = 0;
  let bestAccuracy = -1;
  if (saved) {
    try {
      model.loadStateDict(saved.model);
      optimizer.loadStateDict(ownState(saved.optimizer, optimizer));
      // (with loss scaling every step so far may have been skipped, leaving no state at all)
      if (saved.meta.step > 0 && keepsState(c)) checkStateComplete(model, optimizer, saved.meta.lossScale !== undefined);
      precision.loadStateDict(saved.meta.lossScale);
    } catch (err) {
      throw new TrainingError(`cannot resume from ${c.resume}: ${(err as Error).message}`);
    } finally {
      dispose(saved.model);
      dispose(saved.optimizer);
    }
    startEpoch = saved.meta.epoch;
    globalStep = saved.meta.step;
    bestAccuracy = saved.meta.bestAccuracy ?? -1;
  }
  const stepModule = strategy.wrap(model);

  const meta = (epoch: number, accuracy: number | null): CheckpointMeta => ({
    format: CHECKPOINT_FORMAT,
    version: 1,
    arch: c.arch,
    numClasses: c.numClasses,
    stem: c.stem,
    padding: c.padding,
    imageSize: c.imageSize,
    mean: [...CIFAR10_MEAN],
    std: [...CIFAR10_STD],
    classNames,
    epoch,
    step: globalStep,
    accuracy,
    bestAccuracy: Math.max(bestAccuracy, accuracy ?? -1),
    config: { ...c, resume: undefined },
    lossScale: precision.stateDict(),
  });

  const spread = strategy.describe(c.batchSize, imagesPerEpoch, trainSet.size);
  if (spread) line(spread);
  if (dropLast) line(`The last batch of each epoch would hold 1 image, which BatchNorm cannot train on: it is left out (${imagesPerEpoch - 1} images an epoch${strategy.worldSize > 1 ? ' on each rank' : ''}).`);
  if (synthetic) line(`Training on the built-in SYNTHETIC dataset (${trainSet.size} train / ${testSet.size} test images): pass --data DIR for CIFAR-10.`);
  const losses: number[] = [];
  const accuracies: number[] = [];
  const runner = stepRunnerFor(c, forwardLoss, optimizer, precision);
  const pendingLosses = new LaggedLosses<StepReport>(c.lossReadLag);
  const toDevice = deviceCopy(c.device);
  // Name only what exists: before the first epoch ends there is no checkpoint of this run.
  // Each epoch's checkpoints are copied at its end and written while the next epoch trains.
  const checkpoints = new BackgroundCheckpoints(async (epoch, accuracy, best) => {
    // Both files' bytes are copied here, before the first await.
    const writes = [saveCheckpointInBackground(lastFile, model, { ...meta(epoch, accuracy), role: 'last' }, optimizer)];
    if (best) writes.push(saveCheckpointInBackground(bestFile, model, { ...meta(epoch, accuracy), role: 'best' }));
    await Promise.all(writes);
    if (best) log.checkpoint({ kind: 'best', file: bestFile, epoch, accuracy });
    log.checkpoint({ kind: 'last', file: lastFile, epoch, accuracy });
  });
  const lastGood = () => (checkpoints.started || fs.existsSync(lastFile) ? `the last good checkpoint is ${lastFile}` : 'no checkpoint was written');
  // cuDNN autotuning and TF32 are process-wide switches in libtorch: set only for a CUDA run,
  // and put back when it ends.
  const cudaSwitches = c.device === 'cpu' ? null : { benchmark: setCudnnBenchmark(c.cudnnBenchmark), tf32: setTF32({ matmul: c.tf32 === true, convolutions: c.tf32 !== false }) };
  callbacks.attach({ model, classNames, config: { ...c } });
  try {
    await log.start({ config: { ...c }, stepsPerEpoch, synthetic, startEpoch, startStep: globalStep, bestAccuracy: bestAccuracy < 0 ? null : bestAccuracy });
    model.train();
    for (let epoch = startEpoch; epoch < c.epochs; epoch++) {
      let lossSum = 0;
      let steps = 0;
      const skippedBefore = runner.skippedSteps;
      let images = 0;
      const seconds = { data: 0, step: 0, eval: 0, checkpoint: 0 };
      const t0 = performance.now();
      // A step's loss is read `lossReadLag` steps later (LaggedLosses): its line, event and NaN check come then.
      const report = ({ context: s, value: loss, lossScale }: ReadLoss<StepReport>) => {
        if (!Number.isFinite(loss)) {
          throw new TrainingError(`loss became ${loss} at epoch ${s.epoch}, step ${s.step}: training stopped; ${lastGood()}`);
        }
        lossSum += loss;
        steps += 1;
        log.step(s, loss, lossScale, stepsPerEpoch, (performance.now() - t0) / 1000);
      };
      const batches = trainLoader.prefetch(epoch);
      try {
        for (;;) {
          let t = performance.now();
          const next = await batches.next();
          seconds.data += (performance.now() - t) / 1000;
          if (next.done) break;
          const batch = next.value;
          if (batch.index >= stepsPerEpoch) {
            dispose(batch);
            break;
          }
          checkpoints.throwIfFailed();
          if (strategy.agreeToStop(hooks.signal?.aborted === true)) {
            dispose(batch);
            for (const read of pendingLosses.flush()) report(read);
            throw new TrainingError(`training cancelled at epoch ${epoch + 1}, step ${batch.index + 1}; ${lastGood()}`);
          }
          t = performance.now();
          const lr = lrAt(globalStep);
          optimizer.lr = lr;
          const onDevice = toDevice(batch.images);
          const x = c.channelsLast ? onDevice.contiguous('channels_last') : onDevice;
          const y = toDevice(batch.labels);
          const loss = runner.step(x, y);
          strategy.reduceLoss(loss);
          images += batch.images.shape[0] * strategy.worldSize;
          globalStep += 1;
          pendingLosses.push({ epoch: epoch + 1, step: batch.index + 1, globalStep, lr, images }, loss, precision.lossScaleTensor());
          dispose([batch, onDevice, x, y]);
          for (const read of pendingLosses.ready()) report(read);
          seconds.step += (performance.now() - t) / 1000;
        }
      } finally {
        await batches.return(undefined);
      }
      let t = performance.now();
      for (const read of pendingLosses.flush()) report(read);
      seconds.step += (performance.now() - t) / 1000;
      t = performance.now();
      const evaluation = await evaluate(model, testLoader, strategy.evaluateOptions());
      seconds.eval = (performance.now() - t) / 1000;
      const averageLoss = lossSum / Math.max(steps, 1);
      losses.push(averageLoss);
      accuracies.push(evaluation.accuracy);
      const lossScale = precision.lossScale;
      const skippedSteps = runner.skippedSteps - skippedBefore;
      log.epochSummary(epoch + 1, averageLoss, evaluation.accuracy, skippedSteps, steps, lossScale);
      t = performance.now();
      if (strategy.isMain) await checkpoints.write(epoch + 1, evaluation.accuracy, evaluation.accuracy > bestAccuracy);
      bestAccuracy = Math.max(bestAccuracy, evaluation.accuracy);
      seconds.checkpoint = (performance.now() - t) / 1000;
      await log.epochEvent({
        epoch: epoch + 1,
        averageLoss,
        accuracy: evaluation.accuracy,
        perClassAccuracy: evaluation.perClass,
        lr: optimizer.lr,
        skippedSteps,
        lossScale,
        seconds: { ...seconds, total: (performance.now() - t0) / 1000 },
        intraOpThreads: getNumThreads(),
      });
    }
    await checkpoints.settle();
  } catch (err) {
    // The files named in the message are complete before the caller hears of it.
    await checkpoints.settle().catch(() => {});
    const error = strategy.explainFailure(err);
    await log.abandon({ status: hooks.signal?.aborted ? 'cancelled' : 'failed', error }).catch(() => {});
    throw error;
  } finally {
    pendingLosses.dispose();
    runner.dispose();
    if (cudaSwitches) {
      setCudnnBenchmark(cudaSwitches.benchmark);
      setTF32(cudaSwitches.tf32);
    }
  }
  await log.finish(bestAccuracy, bestFile, fs.existsSync(bestFile), globalStep);
  return { bestAccuracy, bestCheckpoint: bestFile, lastCheckpoint: lastFile, epochs: c.epochs, steps: globalStep, losses, accuracies };
}
