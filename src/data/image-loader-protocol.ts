// What ImageFileLoader and its decode threads say to each other (types only).
import type { ImagePipeline } from './image-transforms';

export interface ImageWorkerData {
  /** Every sample's file, UTF-8, one after another (shared, not copied per thread). */
  paths: SharedArrayBuffer;
  /** Sample i's path is bytes offsets[i] .. offsets[i + 1] of `paths`. */
  offsets: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  pipeline: ImagePipeline;
  batchSize: number;
  seed: number;
  /** 'fail': the first bad image ends the epoch; 'skip': it is left out of its batch. */
  badImages: 'fail' | 'skip';
  /** Images this thread decodes at once (sharp works on libuv's threads meanwhile). */
  decodes: number;
  /** libvips threads per image (sharp.concurrency). */
  vipsThreads: number;
  /** What a batch's pixels cross as: bytes (normalised by the receiver) or normalised floats. */
  transfer: 'uint8' | 'float32';
}

/** An epoch's batches for one thread: `batches` (indices into the epoch) of `order`, at most
 * `depth` ahead of the acknowledgements. */
export interface ImageJob {
  kind: 'epoch';
  id: number;
  epoch: number;
  order: Int32Array;
  batches: number[];
  depth: number;
}

/** From the loader: one more batch may be prepared (`ack`, with the pixel buffer of the batch
 * consumed, to be filled again: no buffer is allocated a batch), or the job is over (`stop`). */
export type ImageControl = ImageJob | { kind: 'ack'; id: number; buffer?: ArrayBuffer } | { kind: 'stop'; id: number };

/** A batch made: `count` images (fewer than asked where bad ones were skipped). */
export interface ImageBatchMessage {
  kind: 'batch';
  id: number;
  index: number;
  count: number;
  /** count x 3 x S x S, uint8 or float32 as `transfer` says, from its start (it may be longer:
   * a buffer is made for a whole batch and reused). */
  pixels: ArrayBuffer;
  labels: BigInt64Array;
  indices: Int32Array;
  /** Samples left out (badImages 'skip'), by sample index, with why. */
  skipped: { sample: number; reason: string }[];
}

/** The batch's first image that failed to decode (badImages 'fail'): the epoch ends with it. */
export interface ImageFailureMessage {
  kind: 'failure';
  id: number;
  index: number;
  sample: number;
  reason: string;
}

export type ImageWorkerMessage = ImageBatchMessage | ImageFailureMessage;
