// The tutorial's training run: each epoch trains with momentum SGD and the cosine schedule,
// evaluates on the test split, prints the tutorial's lines, and keeps the best model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getNumThreads, manualSeed, setCudnnBenchmark, setTF32, setThreadNumThreads, type Device } from '../device';
import { CIFAR10_MEAN, CIFAR10_STD } from '../data/transforms';
import { crossEntropy } from '../nn/functional';
import { dispose, tidy, type Tensor } from '../tensor';
import { CHECKPOINT_FORMAT, saveCheckpointInBackground, type CheckpointMeta } from './checkpoint';
import { CurvesCallback } from '../plot/curves-callback';
import { TensorBoardCallback } from '../tensorboard/training-callback';
import { CallbackList, eventCallback, type TrainingCallback } from './callbacks';
import { checkTrainOptions, type TrainConfig, type TrainOptions } from './config';
import { evaluate } from './evaluate';
import { TrainingError } from './errors';
import type { TrainEvent } from './events';
import { LaggedLosses, type ReadLoss } from './loss-reader';
import { Precision } from './precision';
import { RunLog, type StepReport } from './run-log';
import { Owned, schedule, setUpData, setUpModel } from './setup';
import { stepRunnerFor } from './step-runner';
import { strategyFor } from './strategy';
import { prepareLogFolder, prepareRunFolder } from './run-folder';

export type { EpochSeconds, TrainEvent } from './events';
export { checkTrainOptions, OPTIMIZER_KINDS } from './config';
export type { TrainConfig, TrainOptions, OptimizerKind } from './config';

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

async function train(options: TrainConfig, hooks: TrainHooks, owned: Owned): Promise<TrainResult> {
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

  const { synthetic, trainSet, testSet, classNames, trainLoader, testLoader, imagesPerEpoch, dropLast } = setUpData(c, strategy, rankBatch, owned);
  // Before any model is built or step taken (after the data, whose errors come first).
  if (strategy.isMain) {
    prepareRunFolder(c.checkpointDir, [path.basename(bestFile), path.basename(lastFile)], { resume: c.resume, overwrite: c.overwrite });
    if (c.logDir) prepareLogFolder(c.logDir);
  }
  const stepsPerEpoch = Math.min(trainLoader.length, c.maxStepsPerEpoch ?? Infinity);
  const lrAt = schedule(c, stepsPerEpoch);
  const { model, optimizer, start } = setUpModel(c, precision, lrAt(0), owned);
  const startEpoch = start.epoch;
  let { step: globalStep, bestAccuracy } = start;
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
