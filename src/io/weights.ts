// Weights files in any supported format, picked by content: PyTorch .pth/.pt (torch.save zip),
// safetensors, MindSpore .ckpt. Saving writes safetensors, atomically.
import * as fs from 'node:fs';
import type { LoadStateDictOptions, LoadStateDictResult, Module } from '../nn/module';
import { dispose, type Tensor } from '../tensor';
import { looksLikeMindspore, readMindsporeCheckpoint } from './mindspore';
import { looksLikeSafetensors, readSafetensors, saveSafetensors } from './safetensors';
import { CheckpointError, looksLikeTorchCheckpoint, torchStateDict } from './torch-pth';

export type WeightsFormat = 'pytorch' | 'safetensors' | 'mindspore';

export function detectWeightsFormat(bytes: Uint8Array): WeightsFormat | null {
  if (looksLikeTorchCheckpoint(bytes)) return 'pytorch';
  if (looksLikeSafetensors(bytes)) return 'safetensors';
  if (looksLikeMindspore(bytes)) return 'mindspore';
  return null;
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CheckpointError(`Cannot read weights file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The state dict in a torch.save file (a torchvision .pth, or a training checkpoint holding one). */
export function loadTorchvisionStateDict(file: string): Record<string, Tensor> {
  return torchStateDict(readFile(file), file);
}

/** The state dict in `file` (torchvision key names), whatever its format. */
export function readWeights(file: string): { format: WeightsFormat; tensors: Record<string, Tensor> } {
  const bytes = readFile(file);
  const format = detectWeightsFormat(bytes);
  switch (format) {
    case 'pytorch':
      return { format, tensors: torchStateDict(bytes, file) };
    case 'safetensors':
      return { format, tensors: readSafetensors(bytes, file).tensors };
    case 'mindspore':
      return { format, tensors: readMindsporeCheckpoint(bytes, file) };
    default:
      throw new CheckpointError(
        `${file} is not a recognised weights file (expected a PyTorch .pth/.pt, a safetensors or a MindSpore .ckpt file)`,
      );
  }
}

export interface LoadWeightsOptions extends LoadStateDictOptions {}

/**
 * Loads `file` into `model`. With `strict` (default) every key must match and nothing is loaded
 * otherwise; `skip: ['fc.']` leaves a new head alone.
 */
export function loadWeights(model: Module, file: string, options: LoadWeightsOptions = {}): LoadStateDictResult & { format: WeightsFormat } {
  const { format, tensors } = readWeights(file);
  try {
    return { ...model.loadStateDict(tensors, options), format };
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
