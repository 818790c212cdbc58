// How a training run is spread over processes, in one place: one process, or data-parallel
// ranks (c10d: Gloo on the CPU, NCCL on GPUs, rank r of a machine on cuda:r). The loop asks the
// strategy for its device, its batch share, its sampler and
// augmentation seed, the module to call, the loss every rank reports, whether every rank agrees
// to stop, how to evaluate, and whether it is the rank that speaks and writes.
import { DistributedSampler, type Sampler } from '../data/sampler';
import { DistributedDataParallel } from '../distributed/ddp';
import { cuda, type Device } from '../device';
import { BACKEND_NAMES, DistributedError, distributedUnavailableReason, initProcessGroup, resolveProcessGroupOptions, type Backend, type ProcessGroup, type ProcessGroupOptions } from '../distributed/process-group';
import type { Module } from '../nn/module';
import { tensor, type Tensor } from '../tensor';
import { TrainingError } from './errors';
import type { EvaluateOptions } from './evaluate';

/** What errors from gloo and c10d look like (from DDP's reducer they reach us untyped). */
const COMMUNICATION_FAILURE = /gloo|nccl|c10d|Connection (closed|reset)|Timed out waiting/i;

/** Rank r's augmentation is keyed by seed + r * this: other draws than its neighbours'. */
const AUGMENTATION_SEED_STRIDE = 1_000_003;

export interface Strategy {
  /** Where this process trains: the device asked for, or for a rank on 'cuda' its own GPU. */
  readonly device: Device;
  /** The rank that prints lines, emits events and writes checkpoints. */
  readonly isMain: boolean;
  readonly worldSize: number;
  /** This process's images of each global batch. */
  rankBatch(globalBatch: number): number;
  /** Which training images this process reads (undefined: all of them, shuffled by the loader). */
  trainSampler(size: number, seed: number): Sampler | undefined;
  /** Which test images this process evaluates (undefined: all, in order). */
  testSampler(size: number): Sampler | undefined;
  augmentationSeed(seed: number): number;
  /** What the step calls forward on: the model, or its data-parallel wrapper. */
  wrap(model: Module): { forward(x: Tensor): Tensor };
  /** Runs `fn` (forwards and backwards) with gradients kept on this rank, not averaged over
   * the group: the inner steps of gradient accumulation. */
  withoutGradSync<R>(fn: () => R): R;
  /** The loss to report, in place: the same on every rank. */
  reduceLoss(loss: Tensor): void;
  /** Whether to stop now: true on every rank as soon as one of them asks. */
  agreeToStop(local: boolean): boolean;
  evaluateOptions(): EvaluateOptions;
  /** The error to report for `err`, raised during the run (for a group: naming the ranks at fault). */
  explainFailure(err: unknown): unknown;
  /** A line for the log, or null. */
  describe(globalBatch: number, imagesPerEpoch: number, datasetSize: number): string | null;
  dispose(): void;
}

class SingleProcess implements Strategy {
  readonly isMain = true;
  readonly worldSize = 1;
  constructor(readonly device: Device) {}
  rankBatch(globalBatch: number): number {
    return globalBatch;
  }
  trainSampler(): undefined {
    return undefined;
  }
  testSampler(): undefined {
    return undefined;
  }
  augmentationSeed(seed: number): number {
    return seed;
  }
  wrap(model: Module): Module {
    return model;
  }
  withoutGradSync<R>(fn: () => R): R {
    return fn();
  }
  reduceLoss(): void {}
  agreeToStop(local: boolean): boolean {
    return local;
  }
  evaluateOptions(): EvaluateOptions {
    return {};
  }
  explainFailure(err: unknown): unknown {
    return err;
  }
  describe(): null {
    return null;
  }
  dispose(): void {}
}

class DataParallel implements Strategy {
  readonly #group: ProcessGroup;
  #ddp: DistributedDataParallel | null = null;

  constructor(group: ProcessGroup) {
    this.#group = group;
  }
  get device(): Device {
    return this.#group.device;
  }
  get isMain(): boolean {
    return this.#group.isMain;
  }
  get worldSize(): number {
    return this.#group.worldSize;
  }
  rankBatch(globalBatch: number): number {
    if (globalBatch % this.worldSize !== 0) throw unevenBatch(globalBatch, this.worldSize);
    return globalBatch / this.worldSize;
  }
  // One permutation, disjoint equal shards (torch's DistributedSampler).
  trainSampler(size: number, seed: number): Sampler {
    return new DistributedSampler(size, { rank: this.#group.rank, worldSize: this.worldSize, seed });
  }
  // Every test image exactly once over the ranks; the counts are summed (evaluate's group).
  testSampler(size: number): Sampler {
    return new DistributedSampler(size, { rank: this.#group.rank, worldSize: this.worldSize, shuffle: false, even: false });
  }
  augmentationSeed(seed: number): number {
    return seed + AUGMENTATION_SEED_STRIDE * this.#group.rank;
  }
  // Every rank starts from rank 0's weights; gradients are averaged during backward.
  wrap(model: Module): DistributedDataParallel {
    this.#ddp = new DistributedDataParallel(model, this.#group);
    return this.#ddp;
  }
  withoutGradSync<R>(fn: () => R): R {
    if (!this.#ddp) throw new Error('internal: withoutGradSync before the model was wrapped');
    return this.#ddp.noSync(fn);
  }
  // The global batch's loss: a NaN stops every rank at the same step.
  reduceLoss(loss: Tensor): void {
    this.#group.allReduce(loss, 'avg');
  }
  // One rank waiting alone in a collective would hang: stops are agreed.
  agreeToStop(local: boolean): boolean {
    const flag = tensor([local ? 1 : 0], [1], { device: this.#group.device });
    this.#group.allReduce(flag, 'max');
    const any = flag.item() > 0;
    flag.dispose();
    return any;
  }
  evaluateOptions(): EvaluateOptions {
    return { group: this.#group };
  }
  // A collective that failed inside backward (DDP's reducer) or elsewhere says who is at fault.
  explainFailure(err: unknown): unknown {
    if (err instanceof DistributedError || !(err instanceof Error) || !COMMUNICATION_FAILURE.test(err.message)) return err;
    return this.#group.failure('a collective of the training step failed', err);
  }
  describe(globalBatch: number, imagesPerEpoch: number, datasetSize: number): string {
    const repeated = imagesPerEpoch * this.worldSize - datasetSize;
    return (
      `Data-parallel: ${this.worldSize} ranks, each ${globalBatch / this.worldSize} images of every global batch of ${globalBatch}, ` +
      `from its own shard of ${imagesPerEpoch} images an epoch` +
      (repeated > 0 ? ` (${repeated} repeated so that the shards are equal)` : '')
    );
  }
  dispose(): void {
    this.#ddp?.dispose();
    this.#group.destroy();
  }
}

export function checkStrategyOptions(c: { distributed: ProcessGroupOptions | null; device: Device; cudaGraph: boolean; batchSize: number }): void {
  if (!c.distributed) return;
  const backend = backendFor(c.distributed, c.device);
  if (c.device === 'cpu' && backend === 'nccl') throw new TrainingError("the NCCL backend trains on GPUs, and the device is 'cpu': pass device (--device) 'cuda', or leave the backend to its default (Gloo on the CPU)");
  if (c.device !== 'cpu' && backend === 'gloo') throw new TrainingError(`the Gloo backend reduces CPU tensors, and the device is '${c.device}': leave the backend to its default (NCCL on GPUs), or pass device (--device) 'cpu'`);
  const reason = distributedUnavailableReason(backend);
  if (reason) throw new TrainingError(`data-parallel training on '${c.device}' needs the ${BACKEND_NAMES[backend].backend} backend: ${reason}`);
  // DDP's reducer launches its all-reduces from backward hooks, which a captured graph would not rerun.
  if (c.cudaGraph) throw new TrainingError('cudaGraph (--cuda-graph) and data-parallel ranks do not go together: the gradient all-reduce cannot be captured in the graph; leave one out');
  // The group this rank would join (from the options or the launcher's environment): its rank,
  // size and rendezvous address are checked now, and the global batch must split evenly.
  const { worldSize } = resolveProcessGroupOptions({ ...c.distributed, backend });
  if (c.batchSize % worldSize !== 0) throw unevenBatch(c.batchSize, worldSize);
}

function unevenBatch(globalBatch: number, worldSize: number): TrainingError {
  return new TrainingError(`batchSize ${globalBatch} is the global batch and must split evenly over ${worldSize} ranks: pass a multiple of ${worldSize}`);
}

/** Gloo on the CPU and NCCL on GPUs, unless the options name one. */
function backendFor(distributed: ProcessGroupOptions, device: Device): Backend {
  return distributed.backend ?? (device === 'cpu' ? 'gloo' : 'nccl');
}

/** The GPU a rank trains on when asked for 'cuda': its local rank's, which must exist. */
export function rankDevice(device: Device, localRank: number, gpus: number): Device {
  if (device !== 'cuda') return device;
  if (localRank >= gpus) {
    throw new TrainingError(
      `this rank (local rank ${localRank}) would train on cuda:${localRank}, but this machine has ${gpus} GPU${gpus === 1 ? '' : 's'}: ` +
        `start at most ${gpus} rank${gpus === 1 ? '' : 's'} per machine (--nproc-per-node), or pass device (--device) 'cpu'`,
    );
  }
  return `cuda:${localRank}`;
}

/** One process on `device`, or (distributed options given) this rank of the job's group, joined now. */
export function strategyFor(distributed: ProcessGroupOptions | null, device: Device, join: Pick<ProcessGroupOptions, 'signal' | 'onWaiting'> = {}): Strategy {
  if (!distributed) return new SingleProcess(device);
  const backend = backendFor(distributed, device);
  const localRank = resolveProcessGroupOptions({ ...distributed, backend }).localRank;
  const own = backend === 'nccl' ? rankDevice(device, localRank, cuda.deviceCount()) : device;
  return new DataParallel(initProcessGroup({ ...join, ...distributed, backend, device: own === 'cpu' ? undefined : own }));
}
