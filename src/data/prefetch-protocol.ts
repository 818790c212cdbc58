// What the loader and its prefetching thread say to each other (types only: neither side imports
// the other's code through here).
import type { PipelineSpec } from './transforms';

export interface PrefetchWorkerData {
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  shape: number[];
  classNames: string[];
  batchSize: number;
  seed: number;
  spec: PipelineSpec;
  threads: number;
}

/** One epoch's batches to prepare: `length` batches of `order`, from `start`, `depth` ahead. */
export interface PrefetchJob {
  kind: 'epoch';
  id: number;
  epoch: number;
  order: Int32Array;
  start: number;
  length: number;
  depth: number;
}

/** From the loader: one more batch may be prepared (`ack`), or the job is over (`stop`). */
export type PrefetchControl = PrefetchJob | { kind: 'ack' | 'stop'; id: number };
