// A run's set-up: what it owns (freed when it ends), its learning-rate schedule, its optimizer,
// and the checkpoint it resumes from (checked against this run's options and model).
import { dispose, type Tensor } from '../tensor';
import type { ResNet } from '../models/resnet';
import { cosineDecaySchedule, stepDecaySchedule, warmupCosineSchedule, type LrSchedule } from '../optim/lr';
import { SGD } from '../optim/sgd';
import { Adam, AdamW } from '../optim/adamw';
import type { Optimizer } from '../optim/optimizer';
import { parameterGroups } from '../optim/decay-groups';
import type { OptimizerParams, ParamGroup } from '../optim/param-groups';
import { ARCHITECTURES, readCheckpoint, type LoadedCheckpoint } from './checkpoint';
import type { OptimizerKind, TrainConfig } from './config';
import { TrainingError } from './errors';
import type { Precision } from './precision';
import type { RunConfig } from './data-parts';
import type { ImageDataset } from '../data/cifar10';
import { WeightsEma } from './weights-ema';

/** What a run made, freed when it ends (last made, first freed). */
export class Owned {
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

export function schedule(c: TrainConfig, stepsPerEpoch: number): LrSchedule {
  const total = stepsPerEpoch * c.epochs;
  if (c.schedule === 'warmup-cosine') return warmupCosineSchedule(c.minLr, c.lr, total, c.warmupSteps ?? stepsPerEpoch);
  if (c.schedule === 'step') return stepDecaySchedule(c.lr, 0.1, Math.max(1, Math.round(c.epochs / 3)), stepsPerEpoch);
  return cosineDecaySchedule(c.minLr, c.lr, stepsPerEpoch, c.epochs);
}

/** The checkpoint to resume from, refused (naming the field) when it cannot continue this run:
 * no optimizer state (a -best file), another optimizer or model than this run's, or no epochs
 * left (its input is checked once the data is known: checkResumedInput). */
export function readResumable(file: string, c: TrainConfig): LoadedCheckpoint {
  const saved = readCheckpoint(file);
  const refuse = (why: string): never => {
    dispose([saved.model, saved.optimizer, saved.ema]);
    throw new TrainingError(`cannot resume from ${file}: ${why}`);
  };
  // (files written before 'role' existed: a -best file is the one without momentum buffers)
  const { role } = saved.meta;
  const weightsOnly = role === 'best' || role === 'ema' || (role === undefined && Object.keys(saved.optimizer).length === 0);
  if (weightsOnly && keepsState(c)) {
    refuse(`it holds no optimizer state (a '-${role ?? 'best'}' checkpoint has only the weights): resume from the run's '-last' checkpoint, which keeps the optimizer's state`);
  }
  const trainedWith = (saved.meta.config.optimizer as string | undefined) ?? 'sgd';
  if (trainedWith !== c.optimizer) refuse(`it was trained with optimizer ${JSON.stringify(trainedWith)} and this run has ${JSON.stringify(c.optimizer)}: pass the same --optimizer`);
  for (const key of ['arch', 'stem', 'padding'] as const) {
    if (saved.meta[key] !== c[key]) refuse(differs(key, saved.meta[key], c[key]));
  }
  const { epoch, step } = saved.meta;
  if (!Number.isSafeInteger(epoch) || epoch < 0) refuse(`its epoch ${JSON.stringify(epoch)} is not a number of completed epochs`);
  if (!Number.isSafeInteger(step) || step < 0) refuse(`its step ${JSON.stringify(step)} is not a number of steps`);
  if (epoch >= c.epochs) refuse(`it has already trained ${epoch} of ${c.epochs} epochs: pass epochs (--epochs) above ${epoch} to train more`);
  return saved;
}

/** The head's parameters (the classifier a fine-tuning run replaces): 'fc.weight', 'fc.bias'. */
const isHead = (name: string) => name.startsWith('fc.');

/** The run's parameter groups: one, or (noWeightDecayOn) the reference script's groups without
 * weight decay on normalisation layers and / or biases; with headLr each is split into the
 * backbone's part and the head's, which gets headLr (scheduled as the rest: see param-groups.ts). */
function parameterGroupsFor(c: TrainConfig, model: ResNet): OptimizerParams {
  const decay = c.noWeightDecayOn.length === 0 ? null : parameterGroups(model, { weightDecay: c.weightDecay, noWeightDecayOn: c.noWeightDecayOn });
  if (c.headLr === undefined) return decay ?? model.namedParameters();
  const groups: ParamGroup[] = decay ?? [{ params: model.namedParameters() }];
  return groups.flatMap((g) => [
    { ...g, params: g.params.filter(([name]) => !isHead(name)) },
    { ...g, params: g.params.filter(([name]) => isHead(name)), lr: c.headLr },
  ]).filter((g) => g.params.length > 0);
}

const differs = (key: string, saved: unknown, now: unknown) =>
  `it was trained with ${key} ${JSON.stringify(saved)} and this run has ${JSON.stringify(now)}: a resumed run keeps its model and input (pass the same ${key})`;

/** The resumed checkpoint's class count and input size against this run's (which default to them). */
export function checkResumedInput(saved: LoadedCheckpoint, rc: RunConfig): void {
  for (const key of ['numClasses', 'imageSize'] as const) {
    if (saved.meta[key] !== rc[key]) {
      dispose([saved.model, saved.optimizer, saved.ema]);
      throw new TrainingError(`cannot resume from ${rc.resume}: ${differs(key, saved.meta[key], rc[key])}`);
    }
  }
}

/** The run's optimizer, as its options say, over parameterGroupsFor's groups. `lr` is the base
 * rate the groups' own rates are relative to (the schedule sets each step's). */
export function optimizerFor(c: TrainConfig, model: ResNet, lr = c.lr): Optimizer {
  const params = parameterGroupsFor(c, model);
  if (c.optimizer === 'sgd') return new SGD(params, { lr, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov, capturable: c.cudaGraph });
  const Kind = c.optimizer === 'adamw' ? AdamW : Adam;
  return new Kind(params, { lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay });
}

/** Whether the run's optimizer keeps state across steps (SGD without momentum keeps none). */
export function keepsState(c: { optimizer: OptimizerKind; momentum: number }): boolean {
  return c.optimizer !== 'sgd' || c.momentum > 0;
}

/** The optimizer's own keys of a checkpoint's optimizer state; another optimizer's is refused. */
export function ownState(state: Record<string, Tensor>, optimizer: Optimizer): Record<string, Tensor> {
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
export function checkStateComplete(model: ResNet, optimizer: Optimizer, noneIsFine: boolean): void {
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

/** A model of the run's architecture, prepared for its precision and memory format. */
function buildModel(c: RunConfig, precision: Precision, weights: string | undefined): ResNet {
  const model = ARCHITECTURES[c.arch]({ numClasses: c.numClasses, stem: c.stem, padding: c.padding, init: c.init, weights, device: c.device });
  precision.prepareModel(model);
  if (c.channelsLast) model.toMemoryFormat('channels_last');
  return model;
}

/** The run's model, optimizer and weights EMA (if it keeps one), fresh or (resuming) with the
 * checkpoint's weights and state, and where the run starts: epochs and steps done, the best
 * accuracy so far (-1: none). */
export function setUpModel(c: RunConfig, saved: LoadedCheckpoint | null, precision: Precision, owned: Owned) {
  const model = owned.add(buildModel(c, precision, c.weights));
  // Fine-tuning the head alone: the backbone keeps its (pretrained) weights; BatchNorm's running
  // statistics still follow the new data in training mode, as in PyTorch with requires_grad off.
  if (c.freeze === 'backbone') model.freeze(model.namedParameters().map(([name]) => name).filter((name) => !isHead(name)));
  const optimizer = owned.add(optimizerFor(c, model));
  const ema = c.emaDecay === undefined ? null : owned.add(new WeightsEma(c, model, buildModel(c, precision, undefined)));
  const start = { epoch: 0, step: 0, bestAccuracy: -1 };
  if (saved) {
    try {
      model.loadStateDict(saved.model);
      optimizer.loadStateDict(ownState(saved.optimizer, optimizer));
      // (with loss scaling every step so far may have been skipped, leaving no state at all)
      if (saved.meta.step > 0 && keepsState(c)) checkStateComplete(model, optimizer, saved.meta.lossScale !== undefined);
      precision.loadStateDict(saved.meta.lossScale);
      if (ema) loadEmaState(ema, saved.ema);
    } catch (err) {
      throw new TrainingError(`cannot resume from ${c.resume}: ${(err as Error).message}`);
    } finally {
      dispose([saved.model, saved.optimizer, saved.ema]);
    }
    Object.assign(start, { epoch: saved.meta.epoch, step: saved.meta.step, bestAccuracy: saved.meta.bestAccuracy ?? -1 });
  }
  return { model, optimizer, ema, start };
}

/** A resumed run with an EMA continues the checkpoint's (a run that kept none cannot be given one
 * half-way: its average would not be the one a whole run computes). */
function loadEmaState(ema: WeightsEma, state: Record<string, Tensor>): void {
  if (Object.keys(state).length === 0) {
    throw new Error('it holds no weights EMA (the run it continues kept none): resume without emaDecay (--ema-decay), or start a new run with it');
  }
  ema.loadStateDict(state);
}
