// What the server and a model's thread (model-worker.ts) say to each other.
import type { SerializedError } from '../worker-errors';

/** Images of one request: raw CHW bytes at the model's size, or float32 input already normalised. */
export type BatchPart = { kind: 'chw8'; count: number; data: Uint8Array } | { kind: 'f32'; count: number; data: Float32Array };

export type WorkerRequest = { kind: 'batch'; id: number; parts: BatchPart[] } | { kind: 'crash' };

export interface ModelInfo {
  arch: string;
  classNames: string[];
  imageSize: number;
  /** The evaluation's Resize of the shorter side (own images' models), else absent: a plain resize. */
  resizeSize?: number;
  mean: number[];
  std: number[];
  device: string;
  threads: number;
}

export type WorkerReply =
  | { kind: 'ready'; info: ModelInfo }
  | { kind: 'failed'; error: SerializedError }
  | { kind: 'answer'; id: number; logits: Float32Array; probabilities: Float32Array; error?: undefined }
  | { kind: 'answer'; id: number; error: SerializedError };
