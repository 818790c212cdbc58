// What training and evaluation read batches from: the in-memory DataLoader (CIFAR-10, the
// synthetic set) and a loader that streams image files (own images) both are one. The run and
// evaluate() name this, never a loader class.
import type { Batch } from './loader';
import type { Sampler } from './sampler';

export interface BatchSource {
  /** The images' classes, by label index (an evaluation reports one accuracy per class). */
  readonly dataset: { readonly size: number; readonly classNames: readonly string[] };
  /** Which positions each epoch visits (a DistributedSampler for a rank's shard). */
  readonly sampler: Sampler;
  readonly batchSize: number;
  /** Batches an epoch. */
  readonly length: number;
  /** The batches of `epoch`, prepared ahead of the caller (same seed and epoch, same batches). */
  prefetch(epoch?: number): AsyncGenerator<Batch>;
  /** Ends its threads and frees its own memory now. */
  dispose(): void;
}
