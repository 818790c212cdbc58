// The tutorial's training run: each epoch trains with momentum SGD and the cosine schedule,
// evaluates on the test split, prints the tutorial's lines, and keeps the best model.
import * as path from 'node:path';
import { autocast } from '../autograd';
import { checkDevice, defaultDevice, manualSeed, setAllowTF32, setCudnnBenchmark, setNumThreads, type Device } from '../device';
import { checkBoolean, checkChoice, checkInteger, checkNumber } from '../errors';
import { loadCifar10, type ImageDataset } from '../data/cifar10';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { CIFAR10_MEAN, CIFAR10_STD, testTransforms, trainTransforms } from '../data/transforms';
import type { PaddingMode, ResNet, StemKind, InitKind } from '../models/resnet';
import { crossEntropy } from '../nn/functional';
import { cosineDecayLr, stepDecayLr, warmupCosineLr } from '../optim/lr';
import { GradScaler, type GradScalerOptions } from '../optim/grad-scaler';
import { SGD } from '../optim/sgd';
import { dispose, tidy, type Tensor } from '../tensor';
import { ARCHITECTURES, CHECKPOINT_FORMAT, readCheckpoint, saveCheckpoint, type Arch, type CheckpointMeta } from './checkpoint';
import { evaluate } from './evaluate';
import { GraphedTrainStep } from './graphed-step';

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
  /** Peak learning rate; default 1e-3. */
  lr?: number;
  /** Final learning rate; default 1e-5. */
  minLr?: number;
  /** 'tutorial' (cosine, constant per epoch; default), 'warmup-cosine' (per step), 'step' (x0.1 every epochs/3). */
  schedule?: 'tutorial' | 'warmup-cosine' | 'step';
  /** Warm-up steps for 'warmup-cosine'; default one epoch. */
  warmupSteps?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 0. */
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
  /** libtorch intra-op threads; default: libtorch's. */
  threads?: number;
  /** Default './BestCheckpoint'. */
  checkpointDir?: string;
  /** Resume from this checkpoint (written by a previous run: '<arch>-last.safetensors'). */
  resume?: string;
  /** Stop each epoch after this many steps (quick runs and tests); default: the whole epoch. */
  maxStepsPerEpoch?: number;
  /** Print a step line every this many steps; default 100. */
  logEvery?: number;
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
  /** TensorFloat-32 matrix products (CUDA, Ampere+); default false. */
  tf32?: boolean;
  /** Channels-last (NHWC) weights and inputs; default false. */
  channelsLast?: boolean;
  /** Capture the training step as a CUDA graph after 3 eager steps and replay it (CUDA only;
   * the last partial batch runs eagerly). A non-finite loss is then seen after its update, not
   * before. Default false. */
  cudaGraph?: boolean;
  /** Keep the whole uint8 training and test sets on the training device and augment there,
   * instead of preparing batches on a CPU worker thread. Default false. */
  dataOnDevice?: boolean;
}

export type TrainEvent =
  | { type: 'start'; config: Record<string, unknown>; stepsPerEpoch: number; synthetic: boolean; startEpoch: number }
  | { type: 'step'; epoch: number; epochs: number; step: number; stepsPerEpoch: number; globalStep: number; loss: number; lr: number; imagesPerSecond: number; etaSeconds: number }
  | { type: 'epoch'; epoch: number; epochs: number; averageLoss: number; accuracy: number; perClassAccuracy: number[]; lr: number; skippedSteps: number; lossScale: number | null }
  | { type: 'checkpoint'; kind: 'best' | 'last'; file: string; epoch: number; accuracy: number }
  | { type: 'done'; bestAccuracy: number; bestCheckpoint: string; epochs: number; steps: number };

export interface TrainHooks {
  /** The tutorial's log lines. */
  onLine?: (line: string) => void;
  onEvent?: (event: TrainEvent) => void;
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

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

const pad3 = (n: number) => String(n).padStart(3, ' ');

/** The tutorial's step line. */
export function stepLine(epoch: number, epochs: number, step: number, steps: number, loss: number): string {
  return `Epoch: [${pad3(epoch)}/${pad3(epochs)}], Steps: [${pad3(step)}/${pad3(steps)}], Train Loss: [${loss.toFixed(3)}]`;
}

/** The tutorial's epoch summary line. */
export function epochLine(epoch: number, epochs: number, averageLoss: number, accuracy: number): string {
  return `Epoch: [${pad3(epoch)}/${pad3(epochs)}], Average Train Loss: [${averageLoss.toFixed(3)}], Accuracy: [${accuracy.toFixed(3)}]`;
}

/** The tutorial's closing line. */
export function finalLine(bestAccuracy: number, file: string): string {
  return `End of validation the best Accuracy is:  ${bestAccuracy.toFixed(3)}, save the best ckpt file in ${file}`;
}

/** false, or the GradScaler's options. */
function lossScalingOption(value: TrainOptions['lossScaling'], amp: TrainOptions['amp']): false | GradScalerOptions {
  if (value === undefined) return amp === 'float16' ? {} : false;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  return checkBoolean('lossScaling', value) ? {} : false;
}

function normalize(options: TrainOptions) {
  const epochs = checkInteger('epochs', options.epochs ?? 5, 1);
  return {
    arch: checkChoice('arch', options.arch, Object.keys(ARCHITECTURES) as Arch[], 'resnet50'),
    data: options.data,
    syntheticSize: { train: options.syntheticSize?.train ?? 10_000, test: options.syntheticSize?.test ?? 2_000 },
    epochs,
    batchSize: checkInteger('batchSize', options.batchSize ?? 256, 1),
    lr: checkNumber('lr', options.lr ?? 1e-3, 0),
    minLr: checkNumber('minLr', options.minLr ?? 1e-5, 0),
    schedule: checkChoice('schedule', options.schedule, ['tutorial', 'warmup-cosine', 'step'] as const, 'tutorial'),
    warmupSteps: options.warmupSteps,
    momentum: checkNumber('momentum', options.momentum ?? 0.9, 0),
    weightDecay: checkNumber('weightDecay', options.weightDecay ?? 0, 0),
    nesterov: checkBoolean('nesterov', options.nesterov ?? false),
    labelSmoothing: checkNumber('labelSmoothing', options.labelSmoothing ?? 0, 0),
    numClasses: checkInteger('numClasses', options.numClasses ?? 10, 1),
    imageSize: checkInteger('imageSize', options.imageSize ?? 32, 1),
    stem: checkChoice('stem', options.stem, ['imagenet', 'cifar'] as const, 'imagenet'),
    padding: checkChoice('padding', options.padding, ['torch', 'same'] as const, 'torch'),
    init: checkChoice('init', options.init, ['torchvision', 'tutorial'] as const, 'torchvision'),
    weights: options.weights,
    seed: checkInteger('seed', options.seed ?? 0, 0),
    device: options.device === undefined ? defaultDevice() : checkDevice('device', options.device),
    threads: options.threads === undefined ? undefined : checkInteger('threads', options.threads, 1),
    checkpointDir: options.checkpointDir ?? './BestCheckpoint',
    resume: options.resume,
    maxStepsPerEpoch: options.maxStepsPerEpoch === undefined ? undefined : checkInteger('maxStepsPerEpoch', options.maxStepsPerEpoch, 1),
    logEvery: checkInteger('logEvery', options.logEvery ?? 100, 1),
    amp: options.amp === undefined ? undefined : checkChoice('amp', options.amp, ['bfloat16', 'float16'] as const, 'bfloat16'),
    half: options.half === undefined ? undefined : checkChoice('half', options.half, ['bfloat16', 'float16'] as const, 'bfloat16'),
    lossScaling: lossScalingOption(options.lossScaling, options.amp),
    cudnnBenchmark: checkBoolean('cudnnBenchmark', options.cudnnBenchmark ?? true),
    tf32: checkBoolean('tf32', options.tf32 ?? false),
    channelsLast: checkBoolean('channelsLast', options.channelsLast ?? false),
    cudaGraph: checkBoolean('cudaGraph', options.cudaGraph ?? false),
    dataOnDevice: checkBoolean('dataOnDevice', options.dataOnDevice ?? false),
  };
}

function schedule(c: ReturnType<typeof normalize>, stepsPerEpoch: number): number[] {
  const total = stepsPerEpoch * c.epochs;
  if (c.schedule === 'warmup-cosine') return warmupCosineLr(c.minLr, c.lr, total, c.warmupSteps ?? stepsPerEpoch);
  if (c.schedule === 'step') return stepDecayLr(c.lr, 0.1, Math.max(1, Math.round(c.epochs / 3)), total, stepsPerEpoch);
  return cosineDecayLr(c.minLr, c.lr, total, stepsPerEpoch, c.epochs);
}

/** Runs the training. Resolves with the best accuracy and where the checkpoints are. */
export async function runTraining(options: TrainOptions = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  const c = normalize(options);
  if (c.amp && c.half) throw new TrainingError('amp (autocast) and half (a half-precision model) are alternatives: pick one');
  if (c.lossScaling && c.cudaGraph) {
    throw new TrainingError("loss scaling decides on the CPU whether each step is applied, which a CUDA graph cannot: use amp 'bfloat16' (no loss scaling needed) with cudaGraph, or lossScaling: false");
  }
  if (c.lossScaling && c.half === 'float16') {
    throw new TrainingError("loss scaling needs gradients wider than float16, and a half 'float16' model has float16 gradients: use amp 'float16' (a float32 model), or lossScaling: false");
  }
  if (c.cudaGraph && c.device === 'cpu') throw new TrainingError("cudaGraph needs a CUDA device, and the device is 'cpu'");
  const scaler = c.lossScaling ? new GradScaler(c.lossScaling) : null;
  const line = hooks.onLine ?? ((l: string) => console.log(l));
  const emit = hooks.onEvent ?? (() => {});
  if (c.threads) setNumThreads(c.threads);
  setCudnnBenchmark(c.cudnnBenchmark);
  setAllowTF32(c.tf32);
  const forwardLoss = (x: Tensor, y: Tensor): Tensor => {
    const compute = () => crossEntropy(model.forward(x).to('float32'), y, { labelSmoothing: c.labelSmoothing });
    if (!c.amp) return compute();
    return autocast(compute, { deviceType: c.device === 'cpu' ? 'cpu' : 'cuda', dtype: c.amp });
  };
  manualSeed(c.seed);

  const synthetic = c.data === undefined;
  const load = (split: 'train' | 'test'): ImageDataset =>
    synthetic ? syntheticDataset(split, { size: c.syntheticSize[split], seed: c.seed }) : loadCifar10(c.data!, split);
  const trainSet = load('train');
  const testSet = load('test');
  const pipeline = { imageSize: c.imageSize };
  const dataDevice = c.dataOnDevice ? c.device : 'cpu';
  const trainLoader = new DataLoader(trainSet, { batchSize: c.batchSize, seed: c.seed, transform: trainTransforms(pipeline), device: dataDevice });
  const testLoader = new DataLoader(testSet, { batchSize: c.batchSize, seed: c.seed + 1, transform: testTransforms(pipeline), device: dataDevice });
  const stepsPerEpoch = Math.min(trainLoader.length, c.maxStepsPerEpoch ?? Infinity);
  const lrs = schedule(c, stepsPerEpoch);

  const model: ResNet = ARCHITECTURES[c.arch]({
    numClasses: c.numClasses,
    stem: c.stem,
    padding: c.padding,
    init: c.init,
    weights: c.weights,
    device: c.device,
  });
  if (c.half) model.toHalfPrecision(c.half);
  if (c.channelsLast) model.toMemoryFormat('channels_last');
  const optimizer = new SGD(model.namedParameters(), {
    lr: lrs[0],
    momentum: c.momentum,
    weightDecay: c.weightDecay,
    nesterov: c.nesterov,
    capturable: c.cudaGraph,
  });

  let startEpoch = 0;
  let globalStep = 0;
  let bestAccuracy = -1;
  if (c.resume) {
    const saved = readCheckpoint(c.resume);
    try {
      model.loadStateDict(saved.model);
      optimizer.loadStateDict(saved.optimizer);
      if (scaler && saved.meta.lossScale) scaler.loadStateDict(saved.meta.lossScale);
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

  const bestFile = path.join(c.checkpointDir, `${c.arch}-best.safetensors`);
  const lastFile = path.join(c.checkpointDir, `${c.arch}-last.safetensors`);
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
    classNames: trainSet.classNames,
    epoch,
    step: globalStep,
    accuracy,
    bestAccuracy: Math.max(bestAccuracy, accuracy ?? -1),
    config: { ...c, resume: undefined },
    lossScale: scaler ? scaler.stateDict() : undefined,
  });

  emit({ type: 'start', config: { ...c }, stepsPerEpoch, synthetic, startEpoch });
  if (synthetic) line(`Training on the built-in SYNTHETIC dataset (${trainSet.size} train / ${testSet.size} test images): pass --data DIR for CIFAR-10.`);
  const losses: number[] = [];
  const accuracies: number[] = [];
  const graphed = c.cudaGraph ? new GraphedTrainStep(forwardLoss, optimizer, c.device) : null;
  try {
    model.train();
    for (let epoch = startEpoch; epoch < c.epochs; epoch++) {
      let lossSum = 0;
      let steps = 0;
      let skippedSteps = 0;
      const t0 = performance.now();
      let images = 0;
      for await (const batch of trainLoader.prefetch(epoch)) {
        if (batch.index >= stepsPerEpoch) {
          dispose(batch);
          break;
        }
        if (hooks.signal?.aborted) {
          dispose(batch);
          throw new TrainingError(`training cancelled at epoch ${epoch + 1}, step ${batch.index + 1}; the last checkpoint is ${lastFile}`);
        }
        const lr = lrs[globalStep] ?? lrs[lrs.length - 1];
        optimizer.lr = lr;
        const onDevice = c.device === 'cpu' ? batch.images : batch.images.to(c.device);
        const x = c.channelsLast ? onDevice.contiguous('channels_last') : onDevice;
        const y = c.device === 'cpu' ? batch.labels : batch.labels.to(c.device);
        const loss = graphed ? graphed.step(x, y) : tidy(() => {
          const value = forwardLoss(x, y);
          const item = value.item();
          if (!Number.isFinite(item)) return item; // checked below, before any update
          if (scaler) {
            scaler.scale(value).backward();
            if (!scaler.step(optimizer)) skippedSteps += 1;
            scaler.update();
          } else {
            value.backward();
            optimizer.step();
          }
          optimizer.zeroGrad();
          return item;
        });
        images += batch.images.shape[0];
        dispose([batch, onDevice, x, y]);
        const step = batch.index + 1;
        if (!Number.isFinite(loss)) {
          const when = graphed ? 'after its update (the step is one CUDA graph)' : 'before the update';
          throw new TrainingError(`loss became ${loss} at epoch ${epoch + 1}, step ${step}: training stopped ${when}; the last good checkpoint is ${lastFile}`);
        }
        globalStep += 1;
        lossSum += loss;
        steps += 1;
        const seconds = (performance.now() - t0) / 1000;
        const imagesPerSecond = images / seconds;
        emit({
          type: 'step',
          epoch: epoch + 1,
          epochs: c.epochs,
          step,
          stepsPerEpoch,
          globalStep,
          loss,
          lr,
          imagesPerSecond,
          etaSeconds: ((stepsPerEpoch - step) * seconds) / step,
        });
        if (step === 1 || step % c.logEvery === 0 || step === stepsPerEpoch) line(stepLine(epoch + 1, c.epochs, step, stepsPerEpoch, loss));
      }
      const evaluation = await evaluate(model, testLoader);
      const averageLoss = lossSum / Math.max(steps, 1);
      losses.push(averageLoss);
      accuracies.push(evaluation.accuracy);
      line('-'.repeat(50));
      line(epochLine(epoch + 1, c.epochs, averageLoss, evaluation.accuracy));
      const lossScale = scaler ? scaler.getScale() : null;
      if (skippedSteps > 0) line(`${skippedSteps} of ${steps} steps skipped: float16 gradients overflowed (loss scale now ${lossScale})`);
      line('-'.repeat(50));
      emit({
        type: 'epoch',
        epoch: epoch + 1,
        epochs: c.epochs,
        averageLoss,
        accuracy: evaluation.accuracy,
        perClassAccuracy: evaluation.perClass,
        lr: optimizer.lr,
        skippedSteps,
        lossScale,
      });
      if (evaluation.accuracy > bestAccuracy) {
        saveCheckpoint(bestFile, model, meta(epoch + 1, evaluation.accuracy));
        bestAccuracy = evaluation.accuracy;
        emit({ type: 'checkpoint', kind: 'best', file: bestFile, epoch: epoch + 1, accuracy: evaluation.accuracy });
      }
      saveCheckpoint(lastFile, model, meta(epoch + 1, evaluation.accuracy), optimizer);
      emit({ type: 'checkpoint', kind: 'last', file: lastFile, epoch: epoch + 1, accuracy: evaluation.accuracy });
    }
  } finally {
    graphed?.dispose();
    scaler?.dispose();
  }
  line('='.repeat(80));
  line(finalLine(bestAccuracy, bestFile));
  emit({ type: 'done', bestAccuracy, bestCheckpoint: bestFile, epochs: c.epochs, steps: globalStep });
  return { bestAccuracy, bestCheckpoint: bestFile, lastCheckpoint: lastFile, epochs: c.epochs, steps: globalStep, losses, accuracies };
}
