// What a run's data gives the run, whatever its source (run-data.ts: in memory; folder-data.ts:
// image files): a leaf module both import.
import type { BatchSource } from '../data/batch-source';
import type { CheckpointMeta } from './checkpoint';
import type { TrainConfig } from './config';

/** A run's options once its data is known: the class count and input size it defaults to. */
export type RunConfig = TrainConfig & { readonly numClasses: number; readonly imageSize: number };

/** What every checkpoint of a run says about its input, besides the model's shape. */
export type InputCard = Pick<CheckpointMeta, 'mean' | 'std' | 'classNames' | 'evalTransform' | 'data'>;

export interface RunData {
  /** The run's options with the data's defaults filled in. */
  config: RunConfig;
  trainLoader: BatchSource;
  testLoader: BatchSource;
  /** Images in each split (before a rank's share). */
  trainSize: number;
  testSize: number;
  /** Images this rank trains on in an epoch. */
  imagesPerEpoch: number;
  /** Whether a last batch of one image is left out (BatchNorm cannot train on it). */
  dropLast: boolean;
  card: InputCard;
  /** What the run says about its data before the first step. */
  notes: string[];
}

/** The resumed checkpoint's input, which a resumed run keeps (class list, split, size). */
export type ResumedInput = Pick<CheckpointMeta, 'classNames' | 'numClasses' | 'imageSize' | 'data'> | null;

/** A last batch of one image cannot train BatchNorm: such a batch is left out (and the run says so). */
export function leavesOneImage(imagesPerEpoch: number, rankBatch: number): boolean {
  return imagesPerEpoch % rankBatch === 1;
}

