// resnet-native: public API.
export { Tensor, tensor, zeros, ones, full, rand, randn, randint, arange, cat, stack, tidy, keep, dispose, memory } from './tensor';
export type { Dtype, TensorOptions, TypedArray, MemoryInfo, MemoryFormat } from './tensor';
export { cuda, defaultDevice, setDefaultDevice, manualSeed, getNumThreads, setNumThreads, setThreadNumThreads, MAX_THREADS, setCudnnBenchmark, setAllowTF32 } from './device';
export type { Device } from './device';
export { CudaGraph, onSideStream, synchronize } from './cuda-graph';
export { noGrad, enableGrad, isGradEnabled, inferenceMode, isInferenceMode, autocast } from './autograd';
export type { AutocastOptions } from './autograd';
export * as nn from './nn';
export { doctorReport } from './doctor';
export type { DoctorReport } from './doctor';
export * from './models';
export * from './io';
export { StateDictError } from './nn/module';
export type { LoadStateDictOptions, LoadStateDictResult } from './nn/module';
export * from './data';
export * from './optim';
export * from './train';
export * from './inference';
