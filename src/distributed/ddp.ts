// DistributedDataParallel: PyTorch DDP's behaviour on libtorch's own Reducer. At construction the
// parameters and buffers of rank 0 are copied to every rank; each forward (in training mode)
// first copies rank 0's buffers again (BatchNorm's running statistics, as DDP's default
// broadcast_buffers=True), and backward leaves every rank with the gradients averaged over the
// group, all-reduced bucket by bucket while backward is still running.
import { isGradEnabled } from '../autograd';
import { checkBoolean, checkNumber } from '../errors';
import { native, type NativeReducer } from '../native';
import type { Module } from '../nn/module';
import type { Tensor } from '../tensor';
import { BACKEND_NAMES, DistributedError, backendReduces, type ProcessGroup } from './process-group';

export interface DistributedDataParallelOptions {
  /** Gradient bucket size in MiB; default 25 (PyTorch's). */
  bucketCapMB?: number;
  /** Copy rank 0's buffers to every rank before each training forward; default true (PyTorch's). */
  broadcastBuffers?: boolean;
}

const FIRST_BUCKET_BYTES = 2 ** 20; // PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES
const SYNC_BUFFER_BYTES = 250 * 2 ** 20; // PyTorch's _DEFAULT_BROADCAST_BUFFER bucket for module states

export class DistributedDataParallel<M extends Module = Module> {
  readonly module: M;
  readonly group: ProcessGroup;
  readonly broadcastBuffers: boolean;
  readonly #reducer: NativeReducer;
  readonly #buffers: Tensor[];
  #gradSync = true;

  constructor(module: M, group: ProcessGroup, options: DistributedDataParallelOptions = {}) {
    this.module = module;
    this.group = group;
    this.broadcastBuffers = checkBoolean('broadcastBuffers', options.broadcastBuffers ?? true);
    const bucketCapMB = checkNumber('bucketCapMB', options.bucketCapMB ?? 25, 0);
    const trained = module.namedParameters().filter(([, p]) => p.requiresGrad);
    if (trained.length === 0) throw new TypeError('DistributedDataParallel: the module has no parameter that requires grad');
    const offDevice = trained.find(([, p]) => !backendReduces(group.backend, p.device));
    if (offDevice) {
      const names = BACKEND_NAMES[group.backend];
      throw new TypeError(`DistributedDataParallel with ${names.backend} trains ${names.tensors} modules; ${offDevice[0]} is on ${offDevice[1].device}`);
    }
    this.#buffers = module.namedBuffers().map(([, b]) => b);
    // Every rank starts from rank 0's weights and statistics.
    group.broadcastCoalesced([...module.parameters(), ...this.#buffers], 0, SYNC_BUFFER_BYTES);
    try {
      this.#reducer = new native.Reducer(
        group.handle,
        trained.map(([, p]) => p.handle),
        trained.map(([name]) => name),
        Math.max(1, Math.round(bucketCapMB * 2 ** 20)),
        FIRST_BUCKET_BYTES,
      );
    } catch (err) {
      throw new DistributedError(`DistributedDataParallel on rank ${group.rank}: ${(err as Error).message}`, group.rank, group.worldSize);
    }
  }

  /** The module's forward, with the gradient reduction of the coming backward set up (unless
   * inside noSync). */
  forward(input: Tensor): Tensor {
    const training = isGradEnabled() && this.module.training;
    const syncing = training && this.#gradSync;
    if (syncing) this.#reducer.prepareForForward();
    if (training) {
      if (this.broadcastBuffers && this.#buffers.length > 0 && this.group.worldSize > 1) {
        this.group.broadcastCoalesced(this.#buffers, 0, SYNC_BUFFER_BYTES);
      }
      this.#reducer.rebuildBuckets();
    }
    const output = this.module.forward(input);
    if (syncing) this.#reducer.prepareForBackward();
    return output;
  }

  /**
   * Runs `fn` (forwards and backwards) without averaging gradients over the group: they
   * accumulate on this rank, as PyTorch's `no_sync()`. The next backward outside it averages
   * the whole accumulated gradient (gradient accumulation synchronises once per optimizer step).
   */
  noSync<R>(fn: () => R): R {
    const before = this.#gradSync;
    this.#gradSync = false;
    try {
      return fn();
    } finally {
      this.#gradSync = before;
    }
  }

  train(on = true): this {
    this.module.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees the reducer (the module and the group stay the caller's). */
  dispose(): void {
    this.#reducer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
