// The only file that loads the compiled addon. Everything else imports `native` from here.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A handle owning one reference to a libtorch tensor (native/tensor.cc). */
export interface NativeTensor {
  dispose(): void;
  readonly isDisposed: boolean;
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
}

type T = NativeTensor;
type Operand = T | number;
type Nullable<X> = X | null;

export interface NativeModule {
  forward(input: T): T;
  train(on: boolean): void;
  readonly training: boolean;
  namedParameters(): [string, T][];
  namedBuffers(): [string, T][];
  to(device: Nullable<string>, dtype?: Nullable<string>): void;
  toMemoryFormat(format: 'channels_last' | 'contiguous'): void;
  dispose(): void;
  readonly isDisposed: boolean;
}

/** A c10d process group with the Gloo backend (native/distributed.cc). */
export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly isDestroyed: boolean;
  allreduce(tensors: T[], op: 'sum' | 'max' | 'min' | 'product'): void;
  broadcast(tensors: T[], root: number): void;
  allgather(tensor: T): T[];
  barrier(): void;
  /** What every rank's heartbeat last published ("<beat> <collectives entered>", null: nothing yet). */
  peerStates(timeoutMs: number): { entered: number; peers: (string | null)[] };
  broadcastCoalesced(tensors: T[], root: number, bufferBytes: number): void;
  destroy(): void;
}

/** c10d's DDP Reducer (native/distributed.cc). */
export interface NativeReducer {
  prepareForForward(): void;
  rebuildBuckets(): boolean;
  prepareForBackward(): void;
  dispose(): void;
}

/** The job's rendezvous TCPStore (native/distributed.cc). */
export interface NativeStore {
  set(key: string, value: string): void;
  /** The value, or null when nobody has set the key (does not wait). */
  tryGet(key: string): string | null;
  close(): void;
}

export interface NativeStoreOptions {
  host: string;
  port: number;
  isServer: boolean;
  worldSize: number;
  timeoutMs: number;
  prefix: string;
}

export interface NativeProcessGroupOptions {
  backend: 'gloo' | 'nccl';
  rank: number;
  worldSize: number;
  timeoutMs: number;
  interface: string;
  hostname: string;
}

/** libtorch's at::cuda::CUDAGraph (native/cuda_graph.cc); constructing one throws without CUDA. */
export interface NativeCudaGraph {
  capture<R>(fn: () => R): R;
  replay(): void;
  reset(): void;
  readonly captured: boolean;
}

export interface NativeOps {
  add(a: T, b: Operand, alpha?: number): T;
  sub(a: T, b: Operand, alpha?: number): T;
  mul(a: T, b: Operand): T;
  div(a: T, b: Operand): T;
  eq(a: T, b: Operand): T;
  neg(a: T): T;
  sqrt(a: T): T;
  relu(a: T): T;
  relu_(a: T): T;
  clamp(a: T, min: Nullable<number>, max: Nullable<number>): T;
  mul_(a: T, b: Operand): T;
  div_(a: T, b: Operand): T;
  add_(a: T, b: Operand, alpha?: number): T;
  copy_(a: T, src: T): T;
  zero_(a: T): T;
  normal_(a: T, mean: number, std: number): T;
  foreachAdd_(ts: T[], others: T[], alpha: number): void;
  foreachAdd(ts: T[], others: T[], alpha: number): T[];
  foreachMul_(ts: T[], factor: Operand): void;
  foreachMul(ts: T[], factor: Operand): T[];
  foreachLerp_(ts: T[], ends: T[], weight: number): void;
  foreachAddcmul_(ts: T[], a: T[], b: T[], value: number): void;
  foreachAddcdiv_(ts: T[], a: T[], b: T[], value: number): void;
  foreachSqrt(ts: T[]): T[];
  foreachDivScalar_(ts: T[], scalar: number): void;
  foreachAddScalar_(ts: T[], scalar: number): void;
  foreachNorm(ts: T[], ord: number): T[];
  foreachCopy_(ts: T[], sources: T[]): void;
  ampUnscale_(grads: T[], foundInf: T, invScale: T): void;
  ampUpdateScale_(scale: T, growthTracker: T, foundInf: T, growthFactor: number, backoffFactor: number, growthInterval: number): void;
  uniform_(a: T, from: number, to: number): T;
  fill_(a: T, value: number): T;
  sum(a: T, dims: Nullable<number[]>, keepdim: boolean): T;
  mean(a: T, dims: Nullable<number[]>, keepdim: boolean): T;
  argmax(a: T, dim: Nullable<number>, keepdim: boolean): T;
  softmax(a: T, dim: number): T;
  logSoftmax(a: T, dim: number): T;
  crossEntropy(logits: T, target: T, labelSmoothing: number, reduction: string): T;
  reshape(a: T, shape: number[]): T;
  view(a: T, shape: number[]): T;
  flatten(a: T, startDim: number, endDim: number): T;
  permute(a: T, dims: number[]): T;
  transpose(a: T, dim0: number, dim1: number): T;
  contiguous(a: T): T;
  contiguousIn(a: T, format: string): T;
  isContiguousIn(a: T, format: string): boolean;
  asStrided(a: T, size: number[], stride: number[], storageOffset: number): T;
  clone(a: T): T;
  cat(ts: T[], dim: number): T;
  stack(ts: T[], dim: number): T;
  narrow(a: T, dim: number, start: number, length: number): T;
  indexSelect(a: T, dim: number, index: T): T;
  gather(a: T, dim: number, index: T): T;
  flip(a: T, dims: number[]): T;
  pad(a: T, pad: number[], value: number): T;
  index(a: T, indices: Nullable<T>[]): T;
  upsampleBilinear2d(a: T, size: number[], alignCorners: boolean): T;
  to(a: T, device: Nullable<string>, dtype: Nullable<string>, nonBlocking?: boolean): T;
  pinMemory(a: T): T;
  matmul(a: T, b: T): T;
  linear(x: T, weight: T, bias: Nullable<T>): T;
  conv2d(x: T, w: T, b: Nullable<T>, stride: number[], padding: number[], dilation: number[], groups: number): T;
  batchNorm(
    x: T,
    runningMean: Nullable<T>,
    runningVar: Nullable<T>,
    weight: Nullable<T>,
    bias: Nullable<T>,
    training: boolean,
    momentum: number,
    eps: number,
  ): T;
  maxPool2d(x: T, kernel: number[], stride: number[], padding: number[], dilation: number[], ceilMode: boolean): T;
  avgPool2d(x: T, kernel: number[], stride: number[], padding: number[], ceilMode: boolean, countIncludePad: boolean): T;
  adaptiveAvgPool2d(x: T, outputSize: number[]): T;
}

export interface NativeAutograd {
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  requiresGrad(t: T): boolean;
  setRequiresGrad(t: T, on: boolean): void;
  backward(t: T, gradient: Nullable<T>, retainGraph: Nullable<boolean>): void;
  grad(t: T): Nullable<T>;
  clearGrad(t: T): void;
  detach(t: T): T;
  isLeaf(t: T): boolean;
  enterInferenceMode(): number;
  exitInferenceMode(): void;
  isInferenceMode(): boolean;
}

export interface BuildInfo {
  torchVersion: string;
  libtorchDir: string;
  loadedFrom: string;
  compiledWithCuda: boolean;
  cudaBuild: boolean;
  cudaAvailable: boolean;
  cudaUnavailableReason: string;
  cudaDevices: string[];
  cudnnVersion: number | null;
  intraOpThreads: number;
  interOpThreads: number;
  napiVersion: number;
  cxx11Abi: boolean;
  parallelInfo: string;
}

type Factory = (shape: number[], dtype?: Nullable<string>, device?: Nullable<string>, requiresGrad?: boolean) => T;
type ModuleCtor = new (options: object) => NativeModule;

export interface NativeBinding {
  /** The handle class; instances come only from the functions below. */
  Tensor: abstract new (...args: never[]) => unknown;
  fromArray(data: ArrayBufferView, shape: number[], dtype?: Nullable<string>, device?: Nullable<string>): T;
  fromBytes(bytes: Uint8Array, shape: number[], dtype: string, device?: Nullable<string>): T;
  toBytes(t: T): Uint8Array;
  readFile(path: string, bytes: number): T;
  /** Writes head + the tensors' bytes to `temporary`, fsyncs, renames it to `target`, on a thread of its own. */
  writeTensorsFile(target: string, temporary: string, head: Uint8Array, tensors: T[]): Promise<void>;
  viewAs(t: T, dtype: string, shape: number[]): T;
  toArray(t: T): Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  item(t: T): number;
  zeros: Factory;
  ones: Factory;
  rand: Factory;
  randn: Factory;
  full(shape: number[], value: number, dtype?: Nullable<string>, device?: Nullable<string>, requiresGrad?: boolean): T;
  randint(low: number, high: number, shape: number[], dtype?: Nullable<string>, device?: Nullable<string>): T;
  arange(start: number, end: number, step: number, dtype?: Nullable<string>, device?: Nullable<string>): T;
  liveTensors(): { tensors: number; bytes: number; releasedByGc: number; v8ExternalBytes: number };
  ops: NativeOps;
  autograd: NativeAutograd;
  Conv2d: ModuleCtor;
  BatchNorm2d: ModuleCtor;
  Linear: ModuleCtor;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaUnavailableReason(): string;
  cudaMemory(device?: number): { allocatedBytes: number; reservedBytes: number; peakAllocatedBytes: number };
  manualSeed(seed: number | bigint): void;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  setThreadNumThreads(n: number): boolean;
  buildInfo(): BuildInfo;
  setCudnnBenchmark(enabled: boolean): boolean;
  setAllowTF32(matmul: boolean, convolutions: boolean): [boolean, boolean];
  setCppLogLevel(level: number): number;
  setAutocast(deviceType: 'cpu' | 'cuda', enabled: boolean, dtype: string): [boolean, string];
  setMallocThresholds(mmapBytes: number, trimBytes: number): boolean;
  useMallocCpuAllocator(): boolean;
  /** Throws distributedUnavailableReason() in builds without gloo. */
  Store: new (options: NativeStoreOptions) => NativeStore;
  ProcessGroup: new (store: NativeStore, options: NativeProcessGroupOptions) => NativeProcessGroup;
  Reducer: new (group: NativeProcessGroup, params: T[], names: string[], bucketCapBytes: number, firstBucketBytes: number) => NativeReducer;
  distributedUnavailableReason(): string | null;
  ncclUnavailableReason(): string | null;
  CudaGraph: new (device: string) => NativeCudaGraph;
  cudaOnSideStream<R>(fn: () => R, device: string): R;
  cudaSynchronize(device: string): void;
}

const packageRoot = path.resolve(__dirname, '..');

/** Where the addon may be, in order; RESNET_NATIVE_BINARY overrides. */
export function addonCandidates(): string[] {
  const fromEnv = process.env.RESNET_NATIVE_BINARY;
  return [
    ...(fromEnv ? [path.resolve(fromEnv)] : []),
    path.join(packageRoot, 'build', 'Release', 'resnet_native.node'),
    path.join(packageRoot, 'build', 'Debug', 'resnet_native.node'),
  ];
}

function load(): NativeBinding {
  const failures: string[] = [];
  for (const file of addonCandidates()) {
    if (!fs.existsSync(file)) {
      failures.push(`${file}: not built`);
      continue;
    }
    try {
      return require(file) as NativeBinding;
    } catch (err) {
      failures.push(`${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    [
      'Could not load the resnet-native addon.',
      ...failures.map((f) => `  - ${f}`),
      'Possible solutions:',
      '  - Build it: run `npm rebuild resnet-native` (or `npm run build` in a clone) and read its output.',
      '  - If libtorch moved since the build, rebuild: the addon finds libtorch through the path recorded at build time.',
      '  - Run `node scripts/libtorch.js` in the package to see which libtorch the build would use.',
    ].join('\n'),
  );
}

export const native: NativeBinding = load();

/** What was done to the C library's allocator when the addon loaded (see tuneHostAllocator). */
export const hostAllocator: HostAllocatorReport = tuneHostAllocator();

export interface HostAllocatorReport {
  /** Whether glibc's mmap and trim thresholds were raised. */
  tuned: boolean;
  /** Why (not). */
  reason: string;
  /** Where CPU tensors' memory comes from: 'malloc' (see native/allocator.cc) or libtorch's default. */
  tensorAllocator: 'malloc' | 'libtorch';
}

// Two changes to how host memory is handed out, both for glibc and both process-wide (made once,
// by the first thread that loads the addon):
// - CPU tensors come from malloc instead of posix_memalign (native/allocator.cc): glibc < 2.38
//   cannot reuse a freed aligned block for the next request of the same size, and a training loop
//   on the main thread of Node (whose other threads allocate in between) walked through gigabytes
//   of fresh memory in a few hundred steps, all of it free inside malloc.
// - The mmap and trim thresholds: they start at 128 KiB and grow only as large blocks are freed,
//   so a process that has not yet freed large blocks (a Node service; python has, by the time
//   torch is imported) gives back and page-faults in every activation, every pass: 3,000 faults
//   and ~5% of the time of a ResNet50 inference at batch 32 on 2 cores. The values below are where
//   glibc's own adjustment ends (32 MiB, trim at twice that).
// RESNET_NATIVE_MALLOC=system leaves both alone; a malloc setting of the user's own leaves the
// thresholds alone.
function tuneHostAllocator(): HostAllocatorReport {
  if (process.env.RESNET_NATIVE_MALLOC === 'system') return { tuned: false, reason: 'RESNET_NATIVE_MALLOC=system', tensorAllocator: 'libtorch' };
  const tensorAllocator = native.useMallocCpuAllocator() ? 'malloc' : 'libtorch';
  const own = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_'].find((v) => process.env[v] !== undefined);
  if (own) return { tuned: false, reason: `${own} is set`, tensorAllocator };
  if (process.env.GLIBC_TUNABLES?.includes('glibc.malloc.')) return { tuned: false, reason: 'GLIBC_TUNABLES sets malloc', tensorAllocator };
  const MiB = 2 ** 20;
  return native.setMallocThresholds(32 * MiB, 64 * MiB)
    ? { tuned: true, reason: 'glibc mmap threshold 32 MiB, trim threshold 64 MiB', tensorAllocator }
    : { tuned: false, reason: 'not glibc', tensorAllocator };
}
