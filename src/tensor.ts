// Tensor: the TypeScript face of a libtorch tensor, plus its lifetime tools (dispose, tidy,
// keep, a FinalizationRegistry backstop) and factories.
import { constants as bufferConstants } from 'node:buffer';
import { checkDevice, defaultDevice, type Device } from './device';
import { checkBoolean, checkInteger, checkNumber, checkShape, invalidArgument } from './errors';
import { native, type NativeTensor } from './native';

export type Dtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The floating-point dtypes (what parameters may be). */
export const FLOAT_DTYPES = ['float32', 'float64', 'float16', 'bfloat16'] as const;
export type FloatDtype = (typeof FLOAT_DTYPES)[number];
export const isFloatDtype = (dtype: string): dtype is FloatDtype => (FLOAT_DTYPES as readonly string[]).includes(dtype);
const DTYPES: readonly string[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'int16', 'int8', 'uint8', 'bool'];

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** The most bytes one JavaScript buffer holds here (Node's limit: 4 GiB on Node 20). */
export const MAX_HOST_COPY_BYTES: number = bufferConstants.MAX_LENGTH;

/** Refuses, naming the tensor's shape, a copy into one JavaScript buffer that Node cannot hold
 * (creating it would abort the process). */
export function checkHostCopy(t: Tensor, what: string, name = 'tensor'): void {
  const elementBytes = t.dtype === 'float16' || t.dtype === 'bfloat16' ? (what === 'toArray()' ? 4 : 2) : DTYPE_BYTES[t.dtype];
  const bytes = t.shape.reduce((n, d) => n * d, 1) * elementBytes;
  if (bytes >= MAX_HOST_COPY_BYTES) {
    throw new RangeError(
      `${what}: ${name} [${t.shape}] ${t.dtype} needs ${bytes} bytes in one JavaScript buffer, more than Node allows ` +
        `(${MAX_HOST_COPY_BYTES}): copy it in parts (narrow) instead`,
    );
  }
}

export function checkDtype(name: string, value: unknown): Dtype {
  if (typeof value !== 'string' || !DTYPES.includes(value)) throw invalidArgument(`one of ${DTYPES.join(', ')}`, name, value);
  return value as Dtype;
}

/** How a 4-D tensor is laid out: 'contiguous' (NCHW) or 'channels_last' (NHWC strides). */
export type MemoryFormat = 'contiguous' | 'channels_last';

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

// ---- lifetime -------------------------------------------------------------------------------

/** Tensors created inside each open tidy() scope, innermost last. */
const scopes: Set<Tensor>[] = [];

// A handle the program forgot is released by the garbage collector: the native handle frees its
// tensor from inside the collection (not on a later event-loop turn), and its bytes are reported
// to V8 as external memory, so collections come as memory grows even in a loop that never
// yields. Nothing here may hold handles strongly (a FinalizationRegistry's held values would).

function isThenable(value: unknown): boolean {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Collects the tensors reachable from a tidy() result (tensors, arrays, plain objects). */
function collectTensors(value: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value instanceof Tensor) {
    out.add(value);
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !seen.has(value)) {
    seen.add(value);
    const values = Array.isArray(value) || value instanceof Map || value instanceof Set ? [...value.values()] : Object.values(value);
    for (const v of values) collectTensors(v, out, seen);
  }
}

/**
 * Runs `fn` and disposes every tensor created during it, except those in its result (a tensor,
 * or arrays / objects / Maps holding tensors) and those passed to keep(). Synchronous only.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
    if (isThenable(result)) {
      throw new TypeError('tidy() takes a synchronous function; await outside it and tidy each synchronous step');
    }
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!survivors.has(t)) t.dispose();
    else parent?.add(t);
  }
  return result;
}

/** Exempts a tensor from the tidy() scopes it was created in. */
export function keep<X extends Tensor>(tensor: X): X {
  for (const scope of scopes) scope.delete(tensor);
  return tensor;
}

/** Disposes every tensor found in `value` (a tensor, or arrays / objects of them). */
export function dispose(value: unknown): void {
  const found = new Set<Tensor>();
  collectTensors(value, found);
  for (const t of found) t.dispose();
}

export interface MemoryInfo {
  /** Tensor handles alive on this thread. */
  tensors: number;
  /** Bytes of the storages they hold (each storage counted once). */
  bytes: number;
  /** V8's count of external memory, which includes the CPU bytes above (they pace its GC). */
  v8ExternalBytes: number;
  /** Handles released by the garbage collector because nobody disposed them. */
  releasedByGc: number;
  /** The CUDA caching allocator's figures for the current device (zeros without CUDA). */
  cuda: { allocatedBytes: number; reservedBytes: number; peakAllocatedBytes: number };
}

export function memory(): MemoryInfo {
  return { ...native.liveTensors(), cuda: native.cudaMemory() };
}

// ---- the Tensor class -----------------------------------------------------------------------

export type Scalar = number;
type Operand = Tensor | Scalar;
const h = (x: Operand): NativeTensor | number => {
  if (typeof x === 'number') return x;
  if (x instanceof Tensor) return x.handle;
  throw invalidArgument('a Tensor or a number', 'other', x);
};

export interface TensorOptions {
  dtype?: Dtype;
  device?: Device;
  requiresGrad?: boolean;
}

export class Tensor {
  /** @internal The native handle; use the methods instead. */
  readonly handle: NativeTensor;

  /** @internal Tensors are made by factories and ops, not by `new`. */
  constructor(handle: NativeTensor) {
    this.handle = handle;
    scopes[scopes.length - 1]?.add(this);
  }

  get shape(): number[] {
    return this.handle.shape;
  }
  get ndim(): number {
    return this.handle.shape.length;
  }
  get numel(): number {
    return this.handle.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): Dtype {
    return this.handle.dtype as Dtype;
  }
  get device(): Device {
    return this.handle.device as Device;
  }
  get isDisposed(): boolean {
    return this.handle.isDisposed;
  }

  /** Releases this handle's reference now (the memory goes once nothing else holds it). */
  dispose(): void {
    this.handle.dispose();
  }

  /** `using t = randn([2])` disposes `t` at the end of the block. */
  [Symbol.dispose](): void {
    this.handle.dispose();
  }

  // -- data --
  /** A copy of the elements in C order (int64 as BigInt64Array, half types as Float32Array). */
  toArray(): TypedArray {
    checkHostCopy(this, 'toArray()');
    return native.toArray(this.handle);
  }
  /** A copy of the elements' raw little-endian bytes in C order (what files hold). */
  toBytes(): Uint8Array {
    checkHostCopy(this, 'toBytes()');
    return native.toBytes(this.handle);
  }
  /** A contiguous uint8 tensor's bytes seen as `dtype` of `shape` (no copy). */
  viewAs(dtype: Dtype, shape: number[]): Tensor {
    return new Tensor(native.viewAs(this.handle, dtype, shape));
  }
  /** A view with the given sizes, strides and storage offset (torch.as_strided). */
  asStrided(shape: number[], strides: number[], offset = 0): Tensor {
    return new Tensor(native.ops.asStrided(this.handle, shape, strides, offset));
  }
  /** The single element as a number (bool as 0 or 1; int64 beyond 2^53 loses precision). */
  item(): number {
    return native.item(this.handle);
  }
  /** Nested JavaScript arrays, for small tensors and tests. */
  toList(): unknown {
    const flat = Array.from(this.toArray() as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v));
    const build = (dims: number[], offset: number): unknown => {
      if (dims.length === 0) return flat[offset];
      const [n, ...rest] = dims;
      const stride = rest.reduce((a, b) => a * b, 1);
      return Array.from({ length: n }, (_, i) => build(rest, offset + i * stride));
    };
    return build(this.shape, 0);
  }
  /** Same data on another device and/or dtype (this tensor when nothing changes). */
  /** A copy on another device and/or in another dtype (this tensor when nothing changes).
   * `nonBlocking` with a pinned source (pinMemory()) copies to CUDA without waiting for the GPU. */
  to(target: Device | Dtype | { device?: Device; dtype?: Dtype; nonBlocking?: boolean }): Tensor {
    let device: Device | null = null;
    let dtype: Dtype | null = null;
    let nonBlocking = false;
    if (typeof target === 'string') {
      if (DTYPES.includes(target)) dtype = target as Dtype;
      else device = checkDevice('device', target);
    } else {
      if (target.device !== undefined) device = checkDevice('device', target.device);
      if (target.dtype !== undefined) dtype = checkDtype('dtype', target.dtype);
      if (target.nonBlocking !== undefined) nonBlocking = checkBoolean('nonBlocking', target.nonBlocking);
    }
    return new Tensor(native.ops.to(this.handle, device, dtype, nonBlocking));
  }

  /** A copy in page-locked host memory, the source of asynchronous copies to CUDA (needs CUDA). */
  pinMemory(): Tensor {
    return new Tensor(native.ops.pinMemory(this.handle));
  }

  // -- autograd --
  get requiresGrad(): boolean {
    return native.autograd.requiresGrad(this.handle);
  }
  set requiresGrad(on: boolean) {
    native.autograd.setRequiresGrad(this.handle, on);
  }
  /** Sets requiresGrad and returns this tensor, for chaining. */
  requiresGrad_(on = true): this {
    native.autograd.setRequiresGrad(this.handle, on);
    return this;
  }
  /** The accumulated gradient, or null before any backward() reached this tensor. */
  get grad(): Tensor | null {
    const g = native.autograd.grad(this.handle);
    return g ? new Tensor(g) : null;
  }
  /** Drops the accumulated gradient (as `p.grad = None`). */
  clearGrad(): void {
    native.autograd.clearGrad(this.handle);
  }
  get isLeaf(): boolean {
    return native.autograd.isLeaf(this.handle);
  }
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    native.autograd.backward(this.handle, gradient?.handle ?? null, options.retainGraph ?? null);
  }
  detach(): Tensor {
    return new Tensor(native.autograd.detach(this.handle));
  }

  // -- elementwise --
  add(other: Operand, alpha = 1): Tensor {
    return new Tensor(native.ops.add(this.handle, h(other), alpha));
  }
  sub(other: Operand, alpha = 1): Tensor {
    return new Tensor(native.ops.sub(this.handle, h(other), alpha));
  }
  mul(other: Operand): Tensor {
    return new Tensor(native.ops.mul(this.handle, h(other)));
  }
  div(other: Operand): Tensor {
    return new Tensor(native.ops.div(this.handle, h(other)));
  }
  eq(other: Operand): Tensor {
    return new Tensor(native.ops.eq(this.handle, h(other)));
  }
  neg(): Tensor {
    return new Tensor(native.ops.neg(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.ops.sqrt(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.ops.relu(this.handle));
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    return new Tensor(native.ops.clamp(this.handle, min, max));
  }

  // -- in place (return this) --
  mul_(other: Operand): this {
    native.ops.mul_(this.handle, h(other));
    return this;
  }
  div_(other: Operand): this {
    native.ops.div_(this.handle, h(other));
    return this;
  }
  add_(other: Operand, alpha = 1): this {
    native.ops.add_(this.handle, h(other), alpha);
    return this;
  }
  copy_(source: Tensor): this {
    native.ops.copy_(this.handle, source.handle);
    return this;
  }
  zero_(): this {
    native.ops.zero_(this.handle);
    return this;
  }
  relu_(): this {
    native.ops.relu_(this.handle);
    return this;
  }
  fill_(value: number): this {
    native.ops.fill_(this.handle, value);
    return this;
  }
  /** Fills with Normal(mean, std) draws from libtorch's (seeded) generator. */
  normal_(mean = 0, std = 1): this {
    native.ops.normal_(this.handle, mean, std);
    return this;
  }
  /** Fills with Uniform[from, to) draws. */
  uniform_(from = 0, to = 1): this {
    native.ops.uniform_(this.handle, from, to);
    return this;
  }

  // -- reductions --
  sum(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.ops.sum(this.handle, dim === undefined ? null : [dim].flat(), keepdim));
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.ops.mean(this.handle, dim === undefined ? null : [dim].flat(), keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.ops.argmax(this.handle, dim ?? null, keepdim));
  }
  softmax(dim: number): Tensor {
    return new Tensor(native.ops.softmax(this.handle, dim));
  }
  logSoftmax(dim: number): Tensor {
    return new Tensor(native.ops.logSoftmax(this.handle, dim));
  }

  // -- shape --
  reshape(shape: number[]): Tensor {
    return new Tensor(native.ops.reshape(this.handle, shape));
  }
  view(shape: number[]): Tensor {
    return new Tensor(native.ops.view(this.handle, shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.ops.flatten(this.handle, startDim, endDim));
  }
  permute(dims: number[]): Tensor {
    return new Tensor(native.ops.permute(this.handle, dims));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.ops.transpose(this.handle, dim0, dim1));
  }
  /** A dense copy in C order, or in `memoryFormat` ('channels_last': NHWC strides for NCHW shape). */
  contiguous(memoryFormat?: MemoryFormat): Tensor {
    if (memoryFormat) return new Tensor(native.ops.contiguousIn(this.handle, memoryFormat));
    return new Tensor(native.ops.contiguous(this.handle));
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return native.ops.isContiguousIn(this.handle, memoryFormat);
  }
  clone(): Tensor {
    return new Tensor(native.ops.clone(this.handle));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.ops.narrow(this.handle, dim, start, length));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.ops.indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.ops.gather(this.handle, dim, index.handle));
  }
  flip(dims: number | number[]): Tensor {
    return new Tensor(native.ops.flip(this.handle, [dims].flat()));
  }
  /** Constant padding of the last two dimensions by `padding` on every side. */
  pad(padding: number, value = 0): Tensor {
    return new Tensor(native.ops.pad(this.handle, [padding, padding, padding, padding], value));
  }
  matmul(other: Tensor): Tensor {
    return new Tensor(native.ops.matmul(this.handle, other.handle));
  }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

// ---- factories ------------------------------------------------------------------------------

function resolveOptions(options: TensorOptions): [Dtype | null, Device, boolean] {
  return [
    options.dtype === undefined ? null : checkDtype('dtype', options.dtype),
    options.device === undefined ? defaultDevice() : checkDevice('device', options.device),
    options.requiresGrad ?? false,
  ];
}

const ARRAY_DTYPES: [new (...args: never[]) => TypedArray, Dtype][] = [
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int32Array, 'int32'],
  [BigInt64Array, 'int64'],
  [Uint8Array, 'uint8'],
];

/** A tensor holding a copy of `data` with the given shape (default: 1-D). */
export function tensor(data: TypedArray | number[], shape?: number[], options: TensorOptions = {}): Tensor {
  if (Array.isArray(data)) {
    const bad = data.findIndex((v) => typeof v !== 'number');
    if (bad >= 0) {
      const nested = Array.isArray(data[bad]) ? ' (nested arrays: pass the flat values and a shape)' : '';
      throw invalidArgument(`an array of numbers${nested}`, `data[${bad}]`, data[bad]);
    }
  }
  const array = Array.isArray(data) ? Float32Array.from(data) : data;
  if (!ARRAY_DTYPES.some(([ctor]) => array instanceof ctor)) {
    throw invalidArgument('a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or number[]', 'data', data);
  }
  const dims = shape === undefined ? [array.length] : checkShape('shape', shape);
  const [dtype, device, requiresGrad] = resolveOptions(options);
  const t = new Tensor(native.fromArray(array, dims, dtype, device));
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

function factory(fn: typeof native.zeros) {
  return (shape: number[], options: TensorOptions = {}): Tensor =>
    new Tensor(fn(checkShape('shape', shape), ...resolveOptions(options)));
}

export const zeros = factory(native.zeros);
export const ones = factory(native.ones);
/** Uniform on [0, 1). */
export const rand = factory(native.rand);
/** Standard normal. */
export const randn = factory(native.randn);

export function full(shape: number[], value: number, options: TensorOptions = {}): Tensor {
  return new Tensor(native.full(checkShape('shape', shape), checkNumber('value', value), ...resolveOptions(options)));
}

/** Integers uniform on [low, high); int64 unless a dtype is given. */
export function randint(low: number, high: number, shape: number[], options: Omit<TensorOptions, 'requiresGrad'> = {}): Tensor {
  checkInteger('low', low);
  checkInteger('high', high);
  if (high <= low) throw new RangeError(`randint needs low < high, got low=${low} high=${high}`);
  const [dtype, device] = resolveOptions(options);
  return new Tensor(native.randint(low, high, checkShape('shape', shape), dtype, device));
}

/** start, start+step, ... < end; int64 for integer arguments, as in PyTorch. */
export function arange(start: number, end?: number, step = 1, options: Omit<TensorOptions, 'requiresGrad'> = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new RangeError('arange step must not be 0');
  const [dtype, device] = resolveOptions(options);
  const integral = [start, end, step].every(Number.isInteger);
  return new Tensor(native.arange(start, end, step, dtype ?? (integral ? 'int64' : 'float32'), device));
}

/** A tensor of `shape` and `dtype` from raw little-endian bytes in C order (a copy). */
export function fromBytes(bytes: Uint8Array, shape: number[], dtype: Dtype, device: Device = 'cpu'): Tensor {
  return new Tensor(native.fromBytes(bytes, shape, dtype, device));
}

/** The first `bytes` bytes of a regular file as a uint8 tensor, read (not mapped). */
export function readFileBytes(file: string, bytes: number): Tensor {
  return new Tensor(native.readFile(file, bytes));
}

/** Writes `head` and then each tensor's bytes (copied now) to `temporary`, fsyncs it and renames
 * it to `target`, on a native thread; resolves once the file is in place. */
export function writeTensorsFile(target: string, temporary: string, head: Uint8Array, tensors: Tensor[]): Promise<void> {
  return native.writeTensorsFile(target, temporary, head, tensors.map((t) => t.handle));
}

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(native.ops.cat(tensors.map((t) => t.handle), dim));
}

export function stack(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(native.ops.stack(tensors.map((t) => t.handle), dim));
}
