// Which dataset positions an epoch visits, in which order: split from the loader (which turns
// positions into augmented batches), as torch.utils.data's Sampler / DataLoader are.
import { checkBoolean, checkInteger } from '../errors';
import { SeededRandom } from './random';

export interface Sampler {
  /** Positions per epoch. */
  readonly size: number;
  /** The positions of `epoch`, in order: the same for the same epoch, in any order of calls. */
  indices(epoch: number): Int32Array;
}

/** 0, 1, ..., n - 1 every epoch. */
export class SequentialSampler implements Sampler {
  readonly size: number;
  constructor(n: number) {
    this.size = checkInteger('n', n, 0);
  }
  indices(): Int32Array {
    return Int32Array.from({ length: this.size }, (_, i) => i);
  }
}

/** A permutation of 0 .. n - 1 per epoch, from (seed, epoch). */
export class RandomSampler implements Sampler {
  readonly size: number;
  readonly seed: number;
  constructor(n: number, seed = 0) {
    this.size = checkInteger('n', n, 0);
    this.seed = checkInteger('seed', seed, 0);
  }
  indices(epoch: number): Int32Array {
    return new SeededRandom(this.seed, epoch).permutation(this.size);
  }
}

export interface DistributedSamplerOptions {
  rank: number;
  worldSize: number;
  /** Default true. */
  shuffle?: boolean;
  /** The same on every rank; default 0. */
  seed?: number;
  /** Leave out the tail that does not divide evenly instead of repeating positions to fill it;
   * default false (PyTorch's). */
  dropLast?: boolean;
  /** Equal shards (default, for training: every rank takes the same number of steps). false:
   * every position exactly once, shards differing by at most one (for evaluation, where a
   * repeated image would count twice). */
  even?: boolean;
}

/**
 * Rank `rank`'s share of each epoch, as torch's DistributedSampler: every rank draws the same
 * permutation (same seed and epoch), extended by repeating its start until it divides evenly (or
 * cut, with dropLast), and takes positions rank, rank + worldSize, ...: the shards are disjoint
 * and of equal size, so every rank takes the same number of steps.
 */
export class DistributedSampler implements Sampler {
  readonly rank: number;
  readonly worldSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly even: boolean;
  readonly size: number;
  readonly #n: number;

  constructor(n: number, options: DistributedSamplerOptions) {
    this.#n = checkInteger('n', n, 0);
    this.worldSize = checkInteger('worldSize', options.worldSize, 1);
    this.rank = checkInteger('rank', options.rank, 0);
    if (this.rank >= this.worldSize) throw new RangeError(`rank ${this.rank} is not below worldSize ${this.worldSize}`);
    this.shuffle = checkBoolean('shuffle', options.shuffle ?? true);
    this.seed = checkInteger('seed', options.seed ?? 0, 0);
    this.dropLast = checkBoolean('dropLast', options.dropLast ?? false);
    this.even = checkBoolean('even', options.even ?? true);
    if (!this.even && this.dropLast) throw new TypeError('DistributedSampler: dropLast evens the shards by cutting; even: false keeps every position: pick one');
    this.size = this.dropLast
      ? Math.floor(n / this.worldSize)
      : this.even
        ? Math.ceil(n / this.worldSize)
        : Math.ceil(Math.max(0, n - this.rank) / this.worldSize);
  }

  indices(epoch: number): Int32Array {
    const all = this.shuffle ? new SeededRandom(this.seed, epoch).permutation(this.#n) : Int32Array.from({ length: this.#n }, (_, i) => i);
    const out = new Int32Array(this.size);
    for (let k = 0; k < this.size; k++) out[k] = all[(this.rank + k * this.worldSize) % this.#n];
    return out;
  }
}
