// The tutorial's training run, in phases: set-up (data, run folder, model, optimizer, resumed
// state, callbacks), then per epoch the steps (epoch.ts), the evaluation, the checkpoints (a
// callback, checkpointing.ts) and the epoch's event; the tutorial's lines throughout.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getNumThreads, manualSeed, setCudnnBenchmark, setTF32, setThreadNumThreads } from '../device';
import type { BatchSource } from '../data/batch-source';
import type { ResNet } from '../models/resnet';
import { crossEntropy } from '../nn/functional';
import type { Tensor } from '../tensor';
import { CurvesCallback } from '../plot/curves-callback';
import { TensorBoardCallback } from '../tensorboard/training-callback';
import { CallbackList, eventCallback, type InputOfRun, type TrainingCallback } from './callbacks';
import { CheckpointCallback, checkpointFiles } from './checkpointing';
import { checkTrainOptions, TRAIN_OPTIONS, type TrainConfig, type TrainOptions } from './config';
import { EpochTrainer } from './epoch';
import { evaluate } from './evaluate';
import { TrainingError } from './errors';
import type { TrainEvent } from './events';
import { Precision } from './precision';
import { RunLog } from './run-log';
import { Owned, checkResumedInput, readResumable, schedule, setUpModel } from './setup';
import { setUpData } from './run-data';
import type { RunConfig, RunData } from './data-parts';
import { stepRunnerFor, type StepRunner } from './step-runner';
import { strategyFor, type Strategy } from './strategy';
import type { WeightsEma } from './weights-ema';
import { prepareLogFolder, prepareRunFolder } from './run-folder';

export type { EpochSeconds, TrainEvent } from './events';
export { checkTrainOptions, OPTIMIZER_KINDS } from './config';
export type { TrainConfig, TrainOptions, OptimizerKind } from './config';

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

/** Runs the training. Resolves with the best accuracy and where the checkpoints are. */
export async function runTraining(options: TrainOptions = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  return runCheckedTraining(checkTrainOptions(options), hooks);
}

/** runTraining for options already checked (checkTrainOptions' output). */
export async function runCheckedTraining(c: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const owned = new Owned();
  try {
    return await train(c, hooks, owned);
  } finally {
    // The model, optimizer, data and loaders this run made go now, not at some garbage collection
    // (a service that trains again and again stays flat).
    owned.freeAll();
  }
}

/** What a run is made of, once set up: the parts each phase uses. */
interface Run {
  c: RunConfig;
  strategy: Strategy;
  precision: Precision;
  model: ResNet;
  ema: WeightsEma | null;
  start: { epoch: number; step: number; bestAccuracy: number };
  classNames: string[];
  stepsPerEpoch: number;
  testLoader: BatchSource;
  checkpoints: CheckpointCallback;
  callbacks: CallbackList;
  log: RunLog;
  epochs: EpochTrainer;
  runner: StepRunner;
  /** Lines about the data to print before the first step. */
  notes: string[];
  /** The model's input, as its checkpoints record it. */
  input: InputOfRun;
}

async function train(options: TrainConfig, hooks: TrainHooks, owned: Owned): Promise<TrainResult> {
  // One process or data-parallel ranks (joined first, so that a rank that cannot start is known
  // to the others at once; joining can be stopped like a step, and says every 10 s which ranks it
  // waits for). A rank asked to train on 'cuda' trains on its own GPU, and every part uses that one.
  const strategy = owned.add(strategyFor(options.distributed, options.device, { signal: hooks.signal, onWaiting: hooks.onLine }));
  const run = await setUpRun({ ...options, device: strategy.device }, strategy, hooks, owned);
  const { c, log, checkpoints, start } = run;
  let bestAccuracy = start.bestAccuracy;
  const losses: number[] = [];
  const accuracies: number[] = [];
  const restoreCudaSwitches = setCudaSwitches(c);
  run.callbacks.attach({ model: run.model, classNames: run.classNames, config: { ...c }, input: run.input });
  try {
    for (const note of run.notes) log.line(note);
    await log.start({ config: { ...c }, stepsPerEpoch: run.stepsPerEpoch, synthetic: c.data === undefined, startEpoch: start.epoch, startStep: start.step, bestAccuracy: bestAccuracy < 0 ? null : bestAccuracy });
    run.model.train();
    for (let epoch = start.epoch; epoch < c.epochs; epoch++) {
      const { averageLoss, accuracy } = await trainEpoch(run, epoch, bestAccuracy);
      bestAccuracy = Math.max(bestAccuracy, accuracy);
      losses.push(averageLoss);
      accuracies.push(accuracy);
    }
    await checkpoints.settle();
  } catch (err) {
    const error = strategy.explainFailure(err);
    // (the checkpoint callback hears the end first: the files named in the message are complete)
    await log.abandon({ status: hooks.signal?.aborted ? 'cancelled' : 'failed', error }).catch(() => {});
    throw error;
  } finally {
    run.epochs.dispose();
    run.runner.dispose();
    restoreCudaSwitches();
  }
  const { best, last } = checkpoints.files;
  await log.finish(bestAccuracy, best, fs.existsSync(best), run.epochs.globalStep);
  return { bestAccuracy, bestCheckpoint: best, lastCheckpoint: last, epochs: c.epochs, steps: run.epochs.globalStep, losses, accuracies };
}

/** The run's parts, in the order their errors should come: the resumed checkpoint, the data,
 * then the run folder, then the model, optimizer and resumed state; the callbacks (checkpoints
 * first) and the log. */
async function setUpRun(c: TrainConfig, strategy: Strategy, hooks: TrainHooks, owned: Owned): Promise<Run> {
  const rankBatch = strategy.rankBatch(c.batchSize);
  const precision = owned.add(new Precision(c));
  if (c.threads) setThreadNumThreads(c.threads);
  manualSeed(c.seed);
  // A resumed run continues the same run: its checkpoint is checked before anything is built,
  // and its classes, split and input size are the data's.
  const saved = c.resume ? readResumable(c.resume, c) : null;
  const data = await setUpData(c, strategy, rankBatch, owned, saved?.meta ?? null);
  const rc = data.config;
  if (saved) checkResumedInput(saved, rc);
  prepareFolders(rc, strategy);
  // Steps are optimizer steps: with accumulation, each takes accumulateSteps batches.
  const batchesPerEpoch = Math.min(data.trainLoader.length, (c.maxStepsPerEpoch ?? Infinity) * c.accumulateSteps);
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / c.accumulateSteps);
  const lrAt = schedule(c, stepsPerEpoch);
  const { model, optimizer, ema, start } = setUpModel(rc, saved, precision, owned);
  const describe = () => ({ ...modelCard(rc), ...data.card, config: TRAIN_OPTIONS.checkpointConfig(c), lossScale: precision.stateDict() });
  const checkpoints = new CheckpointCallback({ dir: c.checkpointDir, arch: c.arch, model, optimizer, ema, describe, onWritten: (e) => log.checkpoint(e) });
  // Checkpoints first, then the caller's events, the run's own curves (and TensorBoard files), then the caller's callbacks.
  const callbacks = new CallbackList([checkpoints, ...runCallbacks(c, hooks)]);
  // Lines, events and checkpoints come from the main rank only.
  const log = new RunLog({ speaks: strategy.isMain, onLine: hooks.onLine, callbacks, epochs: c.epochs, logEvery: c.logEvery });
  const stepModule = strategy.wrap(model);
  const forwardLoss = (x: Tensor, y: Tensor): Tensor =>
    precision.forward(() => crossEntropy(stepModule.forward(x).to('float32'), y, { labelSmoothing: c.labelSmoothing }));
  const runner = stepRunnerFor(c, forwardLoss, optimizer, precision, (fn) => strategy.withoutGradSync(fn));
  const epochs = new EpochTrainer(
    { ...c, ...data, stepsPerEpoch, batchesPerEpoch, lrAt, optimizer, runner, precision, strategy, log, signal: hooks.signal, checkHealth: () => checkpoints.throwIfFailed(), whatIsKept: () => checkpoints.whatIsKept(), afterStep: ema ? (i, step) => ema.afterStep(i, step) : undefined },
    start.step,
  );
  const notes = [...runNotes(rc, strategy, data), ...(ema ? [emaNote(c, ema)] : [])];
  const input = { imageSize: rc.imageSize, mean: data.card.mean, std: data.card.std, evalTransform: data.card.evalTransform, data: data.card.data };
  return { c: rc, input, strategy, precision, model, ema, start, classNames: data.card.classNames, stepsPerEpoch, testLoader: data.testLoader, checkpoints, callbacks, log, epochs, runner, notes };
}

/** The checkpoint folder (and TensorBoard's), checked before any model is built or step taken
 * (after the data, whose errors come first); main rank only. */
function prepareFolders(c: TrainConfig, strategy: Strategy): void {
  if (!strategy.isMain) return;
  const files = checkpointFiles(c.checkpointDir, c.arch);
  prepareRunFolder(c.checkpointDir, Object.values(files).map((f) => path.basename(f)), { resume: c.resume, overwrite: c.overwrite });
  // (an overwritten run's average must not stay behind to be taken for this run's)
  if (c.overwrite && c.emaDecay === undefined) fs.rmSync(files.ema, { force: true });
  if (c.logDir) prepareLogFolder(c.logDir);
}

/** The callbacks a run gets besides its checkpoints: the caller's events, the run's own curves
 * (and TensorBoard files) as its options say, then the caller's callbacks. */
function runCallbacks(c: TrainConfig, hooks: TrainHooks): TrainingCallback[] {
  return [
    ...(hooks.onEvent ? [eventCallback(hooks.onEvent)] : []),
    ...(c.curves ? [new CurvesCallback(c.checkpointDir)] : []),
    ...(c.logDir ? [new TensorBoardCallback(c.logDir)] : []),
    ...(hooks.callbacks ?? []),
  ];
}

/** What every checkpoint of the run says about its model. */
function modelCard(c: RunConfig) {
  const { arch, numClasses, stem, padding, imageSize } = c;
  return { arch, numClasses, stem, padding, imageSize };
}

/** What the run says about itself and its data before the first step. */
function runNotes(c: RunConfig, strategy: Strategy, data: RunData): string[] {
  const notes: string[] = [];
  if (c.momentum >= 1) notes.push(`Warning: momentum ${c.momentum} is 1 or more: the updates grow without bound (the usual range is 0 to 0.99).`);
  const spread = strategy.describe(c.batchSize, data.imagesPerEpoch, data.trainSize);
  if (spread) notes.push(spread);
  if (data.dropLast) notes.push(`The last batch of each epoch would hold 1 image, which BatchNorm cannot train on: it is left out (${data.imagesPerEpoch - 1} images an epoch${strategy.worldSize > 1 ? ' on each rank' : ''}).`);
  return [...notes, ...data.notes];
}

/** What the EMA's decay per update is (the option's value is the reference's, adjusted). */
function emaNote(c: TrainConfig, ema: WeightsEma): string {
  return `Weights EMA: decay ${ema.decay.toPrecision(6)} per update, every ${c.emaEvery} steps (emaDecay ${c.emaDecay} adjusted to the images between updates, as torchvision's reference script does); saved as ${c.arch}-ema.safetensors`;
}

/** One epoch: its steps, the evaluation, its summary lines, the checkpoints, its event. */
async function trainEpoch(run: Run, epoch: number, bestBefore: number): Promise<{ averageLoss: number; accuracy: number }> {
  const { log, strategy } = run;
  const t0 = performance.now();
  const trained = await run.epochs.run(epoch);
  let t = performance.now();
  const evaluation = await evaluate(run.model, run.testLoader, strategy.evaluateOptions());
  const emaAccuracy = run.ema ? (await evaluate(run.ema.model, run.testLoader, strategy.evaluateOptions())).accuracy : null;
  const evalSeconds = (performance.now() - t) / 1000;
  const { accuracy } = evaluation;
  const lossScale = run.precision.lossScale;
  log.epochSummary(epoch + 1, trained.averageLoss, accuracy, trained.skippedSteps, trained.steps, lossScale, emaAccuracy);
  t = performance.now();
  const improved = accuracy > bestBefore;
  await log.validationEnd({ epoch: epoch + 1, step: run.epochs.globalStep, accuracy, improved, bestAccuracy: Math.max(bestBefore, accuracy), emaAccuracy });
  const checkpointSeconds = (performance.now() - t) / 1000;
  await log.epochEvent({
    epoch: epoch + 1,
    averageLoss: trained.averageLoss,
    accuracy,
    perClassAccuracy: evaluation.perClass,
    emaAccuracy,
    lr: run.epochs.optimizerLr,
    skippedSteps: trained.skippedSteps,
    lossScale,
    seconds: { ...trained.seconds, eval: evalSeconds, checkpoint: checkpointSeconds, total: (performance.now() - t0) / 1000 },
    intraOpThreads: getNumThreads(),
  });
  return { averageLoss: trained.averageLoss, accuracy };
}

/** cuDNN autotuning and TF32 are process-wide switches in libtorch: set only for a CUDA run;
 * returns what puts them back. */
function setCudaSwitches(c: TrainConfig): () => void {
  if (c.device === 'cpu') return () => {};
  const benchmark = setCudnnBenchmark(c.cudnnBenchmark);
  const tf32 = setTF32({ matmul: c.tf32 === true, convolutions: c.tf32 !== false });
  return () => {
    setCudnnBenchmark(benchmark);
    setTF32(tf32);
  };
}
