// Weights files in any supported format, picked by content: PyTorch .pth/.pt (torch.save zip),
// safetensors, MindSpore .ckpt. Saving writes safetensors, atomically.
import * as fs from 'node:fs';
import { readRegularFile, regularFileSize } from './files';
import type { LoadStateDictOptions, LoadStateDictResult, Module } from '../nn/module';
import { dispose, type Tensor } from '../tensor';
import { looksLikeMindspore, readMindsporeCheckpoint } from './mindspore';
import { CHECKPOINT_FORMAT, OPTIMIZER_PREFIX, looksLikeSafetensors, readSafetensorsFile, saveSafetensors } from './safetensors';
import { CheckpointError, looksLikeTorchCheckpoint, torchStateDict } from './torch-pth';
import { resolveWeightsFile } from './pretrained';

export type WeightsFormat = 'pytorch' | 'safetensors' | 'mindspore';

/** The format of a file from its first bytes (`head`) and its size; null when unknown. */
export function detectWeightsFormat(head: Uint8Array, total = head.length): WeightsFormat | null {
  if (looksLikeTorchCheckpoint(head)) return 'pytorch';
  if (looksLikeSafetensors(head, total)) return 'safetensors';
  if (head.length === total && looksLikeMindspore(head)) return 'mindspore';
  return null;
}

function readFile(file: string): Buffer {
  try {
    return readRegularFile(file, 'weights file', (m) => new CheckpointError(m));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(`Cannot read weights file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readHead(file: string): { head: Buffer; total: number } {
  try {
    const total = regularFileSize(file, 'weights file', (m) => new CheckpointError(m));
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const head = Buffer.alloc(Math.min(total, 16));
      fs.readSync(fd, head, 0, head.length, 0);
      return { head, total };
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(`Cannot read weights file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The state dict in a torch.save file (a torchvision .pth, or a training checkpoint holding one). */
export function loadTorchvisionStateDict(file: string): Record<string, Tensor> {
  return torchStateDict(readFile(file), file);
}

export interface ReadWeightsOptions {
  /** Show a progress bar on stderr while pretrained weights download (default true). */
  progress?: boolean;
}

/**
 * The state dict in `source` (torchvision key names), whatever its format. `source` is a file, or
 * the name of pretrained weights ('resnet50.imagenet1k_v2', see PRETRAINED_WEIGHTS): taken from
 * the cache, or downloaded into it first (the call waits).
 */
export function readWeights(source: string, options: ReadWeightsOptions = {}): { format: WeightsFormat; tensors: Record<string, Tensor> } {
  const file = resolveWeightsFile(source, options);
  const { head, total } = readHead(file);
  if (detectWeightsFormat(head, total) === 'safetensors') {
    const { tensors, metadata } = readSafetensorsFile(file);
    // A resnet-native training checkpoint also holds optimizer state: the weights are the rest.
    if (metadata[CHECKPOINT_FORMAT]) {
      for (const key of Object.keys(tensors)) {
        if (key.startsWith(OPTIMIZER_PREFIX)) {
          tensors[key].dispose();
          delete tensors[key];
        }
      }
    }
    return { format: 'safetensors', tensors };
  }
  const bytes = readFile(file);
  switch (detectWeightsFormat(bytes)) {
    case 'pytorch':
      return { format: 'pytorch', tensors: torchStateDict(bytes, file) };
    case 'mindspore':
      return { format: 'mindspore', tensors: readMindsporeCheckpoint(bytes, file) };
    default:
      throw new CheckpointError(
        `${file} is not a recognised weights file (expected a PyTorch .pth/.pt, a safetensors or a MindSpore .ckpt file)`,
      );
  }
}

export type LoadWeightsOptions = LoadStateDictOptions & ReadWeightsOptions;

/**
 * Loads `file` (or pretrained weights by name, as readWeights) into `model`. With `strict`
 * (default) every key must match and nothing is loaded otherwise; `skip: ['fc.']` leaves a new
 * head alone.
 */
export function loadWeights(model: Module, file: string, options: LoadWeightsOptions = {}): LoadStateDictResult & { format: WeightsFormat } {
  const { progress, ...loadOptions } = options;
  const { format, tensors } = readWeights(file, { progress });
  try {
    return { ...model.loadStateDict(tensors, loadOptions), format };
  } catch (err) {
    if (err instanceof Error) err.message = `${file}: ${err.message}`;
    throw err;
  } finally {
    dispose(tensors);
  }
}

/** Saves a model's state dict (or a dict of tensors) as safetensors, atomically. */
export function saveWeights(source: Module | Record<string, Tensor>, file: string, metadata: Record<string, string> = {}): void {
  const tensors = typeof (source as Module).stateDict === 'function' ? (source as Module).stateDict() : (source as Record<string, Tensor>);
  saveSafetensors(file, tensors, metadata);
}
