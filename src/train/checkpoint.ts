// This project's checkpoint: a safetensors file (readable by any safetensors tool, loadable by
// loadWeights) holding the model's state dict under torchvision's keys, optionally the optimizer's
// momentum buffers under 'optimizer.momentum_buffer.<key>', and what is needed to rebuild and
// resume in the metadata. Written atomically.
import { type Device } from '../device';
import { CHECKPOINT_FORMAT, OPTIMIZER_PREFIX, readSafetensorsFile, saveSafetensors, saveSafetensorsInBackground } from '../io/safetensors';
import { CheckpointError } from '../io/torch-pth';
import { resnet18, resnet34, resnet50, resnet101, resnet152, type PaddingMode, type ResNet, type StemKind } from '../models/resnet';
import type { GradScalerState } from '../optim/grad-scaler';
import type { SGD } from '../optim/sgd';
import { dispose, type Tensor } from '../tensor';

export { CHECKPOINT_FORMAT };

export const ARCHITECTURES = { resnet18, resnet34, resnet50, resnet101, resnet152 } as const;
export type Arch = keyof typeof ARCHITECTURES;

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
  /** 'last' (weights and optimizer state, to resume from) or 'best' (weights only). */
  role?: 'best' | 'last';
  /** The loss scaler's state when the run used loss scaling. */
  lossScale?: GradScalerState;
}

function checkpointTensors(model: ResNet, optimizer?: SGD): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = { ...model.stateDict() };
  if (optimizer) {
    for (const [key, t] of Object.entries(optimizer.stateDict())) tensors[OPTIMIZER_PREFIX + key] = t;
  }
  return tensors;
}

export function saveCheckpoint(file: string, model: ResNet, meta: CheckpointMeta, optimizer?: SGD): void {
  saveSafetensors(file, checkpointTensors(model, optimizer), { [CHECKPOINT_FORMAT]: JSON.stringify(meta) });
}

/** saveCheckpoint that only copies the state now and writes it while training goes on; the file
 * is replaced, whole, when the promise resolves. */
export function saveCheckpointInBackground(file: string, model: ResNet, meta: CheckpointMeta, optimizer?: SGD): Promise<void> {
  return saveSafetensorsInBackground(file, checkpointTensors(model, optimizer), { [CHECKPOINT_FORMAT]: JSON.stringify(meta) });
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  model: Record<string, Tensor>;
  optimizer: Record<string, Tensor>;
}

export function readCheckpoint(file: string): LoadedCheckpoint {
  let content;
  try {
    content = readSafetensorsFile(file);
  } catch (err) {
    throw new CheckpointError(`Cannot read checkpoint ${file}: ${(err as Error).message}`);
  }
  const raw = content.metadata[CHECKPOINT_FORMAT];
  if (!raw) {
    dispose(content.tensors);
    throw new CheckpointError(`${file} is not a resnet-native checkpoint (no '${CHECKPOINT_FORMAT}' metadata); load plain weights with loadWeights()`);
  }
  const meta = JSON.parse(raw) as CheckpointMeta;
  const model: Record<string, Tensor> = {};
  const optimizer: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(content.tensors)) {
    if (key.startsWith(OPTIMIZER_PREFIX)) optimizer[key.slice(OPTIMIZER_PREFIX.length)] = t;
    else model[key] = t;
  }
  return { meta, model, optimizer };
}

/** The model a checkpoint describes, with its weights, in eval mode. */
export function modelFromCheckpoint(file: string, device?: Device): { model: ResNet; meta: CheckpointMeta } {
  const { meta, model: weights, optimizer } = readCheckpoint(file);
  try {
    const factory = ARCHITECTURES[meta.arch];
    if (!factory) throw new CheckpointError(`${file}: unknown architecture '${meta.arch}'`);
    const model = factory({ numClasses: meta.numClasses, stem: meta.stem, padding: meta.padding, device });
    try {
      model.loadStateDict(weights);
    } catch (err) {
      if (err instanceof Error) err.message = `${file}: ${err.message}`;
      throw err;
    }
    return { model: model.eval(), meta };
  } finally {
    dispose(weights);
    dispose(optimizer);
  }
}
