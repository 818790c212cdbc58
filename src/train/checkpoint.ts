// This project's checkpoint: a safetensors file (readable by any safetensors tool, loadable by
// loadWeights) holding the model's state dict under torchvision's keys, optionally the optimizer's
// momentum buffers under 'optimizer.momentum_buffer.<key>', and what is needed to rebuild and
// resume in the metadata. Written atomically.
import * as fs from 'node:fs';
import { type Device } from '../device';
import { detectWeightsFormat } from '../io/weights';
import { CHECKPOINT_FORMAT, OPTIMIZER_PREFIX, readSafetensorsFile, saveSafetensors, saveSafetensorsInBackground } from '../io/safetensors';
import { CheckpointError } from '../io/torch-pth';
import { resnet18, resnet34, resnet50, resnet101, resnet152, type PaddingMode, type ResNet, type StemKind } from '../models/resnet';
import type { GradScalerState } from '../optim/grad-scaler';
import type { Optimizer } from '../optim/optimizer';
import { dispose, type Tensor } from '../tensor';
import { PADDING_MODES, STEM_KINDS, type Arch } from '../models/names';
import type { SplitDescription } from '../data/split';
import { MAX_CLASSES, MAX_EPOCHS, MAX_IMAGE_SIZE } from './options';

export { CHECKPOINT_FORMAT };

export const ARCHITECTURES: Record<Arch, typeof resnet50> = { resnet18, resnet34, resnet50, resnet101, resnet152 };
export type { Arch };

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  arch: Arch;
  numClasses: number;
  stem: StemKind;
  padding: PaddingMode;
  imageSize: number;
  mean: number[];
  std: number[];
  classNames: string[];
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** Accuracy of this model on the test split, when evaluated. */
  accuracy: number | null;
  bestAccuracy: number | null;
  /** The training configuration, for resuming. */
  config: Record<string, unknown>;
  /** 'last' (weights and optimizer state, to resume from), 'best' (weights only) or 'ema' (the
   * weights' moving average, its accuracy that of the average). */
  role?: 'best' | 'last' | 'ema';
  /** The loss scaler's state when the run used loss scaling. */
  lossScale?: GradScalerState;
  /** How images are prepared for this model (own images: the ImageNet recipe's evaluation,
   * Resize(resizeSize) of the shorter side, then CenterCrop(imageSize)). Absent: a plain resize to
   * imageSize (CIFAR-10 and the synthetic set). */
  evalTransform?: { resizeSize: number };
  /** Where the data came from (own images): its format, path and split, and the files left out. */
  data?: { format: string; source: string; split: SplitDescription; skipped: { file: string; reason: string }[]; skippedCount: number };
}

/** The checkpoint key prefix of a weights EMA's state (its averaged weights and update count). */
export const EMA_PREFIX = 'ema.';

/** What a checkpoint keeps besides the model: the optimizer's state (a '-last' file) and the
 * state of the weights EMA, if the run keeps one. */
export interface TrainingState {
  optimizer?: Optimizer;
  ema?: Record<string, Tensor>;
}

function checkpointTensors(model: ResNet, state: Optimizer | TrainingState = {}): Record<string, Tensor> {
  const { optimizer, ema }: TrainingState = 'step' in state ? { optimizer: state } : state;
  const tensors: Record<string, Tensor> = { ...model.stateDict() };
  if (optimizer) {
    for (const [key, t] of Object.entries(optimizer.stateDict())) tensors[OPTIMIZER_PREFIX + optimizer.checkpointPrefix + key] = t;
  }
  for (const [key, t] of Object.entries(ema ?? {})) tensors[EMA_PREFIX + key] = t;
  return tensors;
}

/** Writes a checkpoint atomically; `state`: the optimizer (whose state it keeps) or TrainingState. */
export function saveCheckpoint(file: string, model: ResNet, meta: CheckpointMeta, state?: Optimizer | TrainingState): void {
  saveSafetensors(file, checkpointTensors(model, state), { [CHECKPOINT_FORMAT]: JSON.stringify(meta) });
}

/** saveCheckpoint that only copies the state now and writes it while training goes on; the file
 * is replaced, whole, when the promise resolves. */
export function saveCheckpointInBackground(file: string, model: ResNet, meta: CheckpointMeta, state?: Optimizer | TrainingState): Promise<void> {
  return saveSafetensorsInBackground(file, checkpointTensors(model, state), { [CHECKPOINT_FORMAT]: JSON.stringify(meta) });
}

const own = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

export { MAX_CLASSES, MAX_IMAGE_SIZE, MAX_EPOCHS };

/**
 * The one check of checkpoint metadata, for every reader (eval, predict, visualize, Classifier,
 * resume): each field present, of its type and in its range, else an error naming the file and
 * the field. Keys chosen by the file are looked up as own properties only.
 */
export function validateCheckpointMeta(value: unknown, file: string): CheckpointMeta {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new CheckpointError(`${file}: metadata field '${field}' must be ${expected}, found ${JSON.stringify(got) ?? String(got)}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('(metadata)', 'an object', value);
  const m = value as Record<string, unknown>;
  const get = (field: string) => (own(m, field) ? m[field] : undefined);
  const int = (field: string, min: number, max: number) => {
    const v = get(field);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) bad(field, `an integer from ${min} to ${max}`, v);
    return v as number;
  };
  const arch = get('arch');
  if (typeof arch !== 'string' || !own(ARCHITECTURES, arch)) bad('arch', `one of ${Object.keys(ARCHITECTURES).join(', ')}`, arch);
  const numClasses = int('numClasses', 1, MAX_CLASSES);
  for (const [field, allowed] of [['stem', STEM_KINDS], ['padding', PADDING_MODES]] as const) {
    if (!(allowed as readonly unknown[]).includes(get(field))) bad(field, allowed.map((a) => `'${a}'`).join(' or '), get(field));
  }
  int('imageSize', 1, MAX_IMAGE_SIZE);
  for (const field of ['mean', 'std']) {
    const v = get(field);
    const ok = Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (field === 'mean' || x > 0));
    if (!ok) bad(field, field === 'std' ? 'three positive numbers' : 'three finite numbers', v);
  }
  const names = get('classNames');
  if (!Array.isArray(names) || names.length !== numClasses || !names.every((n) => typeof n === 'string' && n.length > 0)) {
    bad('classNames', `${numClasses} non-empty names (numClasses)`, names);
  }
  const seen = new Set<string>();
  const twice = (names as string[]).find((n) => seen.size === seen.add(n).size);
  if (twice !== undefined) throw new CheckpointError(`${file}: metadata field 'classNames' must be ${numClasses} distinct names: '${twice}' appears more than once`);
  int('epoch', 0, MAX_EPOCHS);
  int('step', 0, Number.MAX_SAFE_INTEGER);
  for (const field of ['accuracy', 'bestAccuracy']) {
    const v = get(field);
    if (v !== null && v !== undefined && !(typeof v === 'number' && v >= -1 && v <= 1)) bad(field, 'null or an accuracy (0 to 1)', v);
  }
  const config = get('config');
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) bad('config', 'an object', config);
  const role = get('role');
  if (role !== undefined && role !== 'best' && role !== 'last' && role !== 'ema') bad('role', "'best', 'last' or 'ema'", role);
  const evalTransform = get('evalTransform') as Record<string, unknown> | undefined;
  if (evalTransform !== undefined) {
    const r = evalTransform?.resizeSize;
    if (typeof evalTransform !== 'object' || evalTransform === null || !Number.isSafeInteger(r) || (r as number) < (get('imageSize') as number) || (r as number) > MAX_IMAGE_SIZE * 2) {
      bad('evalTransform', `{ resizeSize: an integer from imageSize to ${MAX_IMAGE_SIZE * 2} }`, evalTransform);
    }
  }
  const scale = get('lossScale') as Record<string, unknown> | undefined;
  if (scale !== undefined && !(typeof scale === 'object' && scale !== null && typeof scale.scale === 'number' && scale.scale > 0 && typeof scale.growthTracker === 'number')) {
    bad('lossScale', '{ scale > 0, growthTracker }', scale);
  }
  return { ...(m as unknown as CheckpointMeta), config: (config ?? {}) as Record<string, unknown> };
}

/** 'PyTorch .pth' / 'MindSpore .ckpt' when the file is one of those, by content. */
function otherWeightsFormat(file: string): string | null {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const head = Buffer.alloc(16);
      const n = fs.readSync(fd, head, 0, 16, 0);
      const format = detectWeightsFormat(head.subarray(0, n), fs.fstatSync(fd).size);
      return format === 'pytorch' ? 'PyTorch .pth' : format === 'mindspore' ? 'MindSpore .ckpt' : null;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  model: Record<string, Tensor>;
  optimizer: Record<string, Tensor>;
  /** The weights EMA's state (empty when the run kept none). */
  ema: Record<string, Tensor>;
}

export function readCheckpoint(file: string): LoadedCheckpoint {
  let content;
  try {
    content = readSafetensorsFile(file);
  } catch (err) {
    const other = otherWeightsFormat(file);
    if (other) {
      throw new CheckpointError(
        `${file} is a ${other} weights file, not a checkpoint written by train (safetensors with resnet-native metadata): ` +
          'start a training from it with --weights (API: weights / loadWeights), then use the checkpoint that run writes',
      );
    }
    throw new CheckpointError(`Cannot read checkpoint ${file}: ${(err as Error).message}`);
  }
  const raw = content.metadata[CHECKPOINT_FORMAT];
  if (!raw) {
    dispose(content.tensors);
    throw new CheckpointError(`${file} is not a resnet-native checkpoint (no '${CHECKPOINT_FORMAT}' metadata); load plain weights with loadWeights()`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    dispose(content.tensors);
    throw new CheckpointError(`${file}: its '${CHECKPOINT_FORMAT}' metadata is not JSON: ${(err as Error).message}`);
  }
  let meta: CheckpointMeta;
  try {
    meta = validateCheckpointMeta(parsed, file);
  } catch (err) {
    dispose(content.tensors);
    throw err;
  }
  const model: Record<string, Tensor> = {};
  const optimizer: Record<string, Tensor> = {};
  const ema: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(content.tensors)) {
    if (key.startsWith(OPTIMIZER_PREFIX)) optimizer[key.slice(OPTIMIZER_PREFIX.length)] = t;
    else if (key.startsWith(EMA_PREFIX)) ema[key.slice(EMA_PREFIX.length)] = t;
    else model[key] = t;
  }
  return { meta, model, optimizer, ema };
}

/** The model a checkpoint describes, with its weights, in eval mode. */
export function modelFromCheckpoint(file: string, device?: Device): { model: ResNet; meta: CheckpointMeta } {
  const { meta, model: weights, optimizer, ema } = readCheckpoint(file);
  try {
    const factory = ARCHITECTURES[meta.arch];
    const model = factory({ numClasses: meta.numClasses, stem: meta.stem, padding: meta.padding, device });
    try {
      model.loadStateDict(weights);
    } catch (err) {
      if (err instanceof Error) err.message = `${file}: ${err.message}`;
      throw err;
    }
    return { model: model.eval(), meta };
  } finally {
    dispose([weights, optimizer, ema]);
  }
}
