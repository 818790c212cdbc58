export { initProcessGroup, destroyProcessGroup, resolveProcessGroupOptions, distributedUnavailableReason, ProcessGroup, DistributedError } from './process-group';
export type { ProcessGroupOptions, ReduceOp } from './process-group';
export { DistributedDataParallel } from './ddp';
export type { DistributedDataParallelOptions } from './ddp';
