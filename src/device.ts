// Devices: 'cpu', 'cuda', 'cuda:N'; CUDA queries and the default device for new tensors.
import { checkDeviceName, checkThreads, registerDefaultDevice, type Device } from './device-checks';
import { checkBoolean, invalidArgument } from './errors';
import { native } from './native';

export { checkDeviceName, checkThreads, MAX_THREADS, type Device } from './device-checks';

export function checkDevice(name: string, value: unknown): Device {
  checkDeviceName(name, value);
  if (value !== 'cpu' && !native.cudaIsAvailable()) {
    throw new Error(`Device '${value}' requested but CUDA is not available: ${native.cudaUnavailableReason()}`);
  }
  return value as Device;
}

export const cuda = {
  /** True when libtorch has CUDA support and sees at least one GPU. */
  isAvailable(): boolean {
    return native.cudaIsAvailable();
  },
  deviceCount(): number {
    return native.cudaDeviceCount();
  },
  /** Why CUDA cannot be used here ('' when it can). */
  unavailableReason(): string {
    return native.cudaUnavailableReason();
  },
};

let defaultDeviceValue: Device | undefined;

/** The device new tensors and modules go to unless told otherwise: CUDA when available. */
export function defaultDevice(): Device {
  defaultDeviceValue ??= cuda.isAvailable() ? 'cuda' : 'cpu';
  return defaultDeviceValue;
}
registerDefaultDevice(defaultDevice);

export function setDefaultDevice(device: Device): void {
  defaultDeviceValue = checkDevice('device', device);
}

/** Seeds libtorch's generators (CPU and CUDA): same seed, same random tensors. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw invalidArgument('non-negative integer', 'seed', seed);
  native.manualSeed(seed);
}

/** Intra-op threads libtorch uses for ops issued on the calling thread. */
export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * Process-wide intra-op threads, as torch.set_num_threads: the calling thread and every thread
 * that first uses libtorch later (threads already running keep their count). Decide it once,
 * at start-up; library code never calls it.
 */
export function setNumThreads(threads: number): void {
  native.setNumThreads(checkThreads('threads', threads));
}

/**
 * Intra-op threads for ops issued on the calling thread only (a worker thread's own share);
 * no other thread sees the change. Returns false where libtorch was built without OpenMP, which
 * has no per-thread setting (the count is then left alone).
 */
export function setThreadNumThreads(threads: number): boolean {
  return native.setThreadNumThreads(checkThreads('threads', threads));
}

/** cuDNN autotuning of convolution algorithms (fixed input shapes run faster); returns the previous value. */
export function setCudnnBenchmark(enabled: boolean): boolean {
  return native.setCudnnBenchmark(enabled);
}

/** TensorFloat-32 for CUDA matrix products and convolutions (Ampere and later); returns the
 * previous value for matrix products. */
export function setAllowTF32(enabled: boolean): boolean {
  return setTF32({ matmul: enabled, convolutions: enabled }).matmul;
}

/** Where CUDA float32 work may use TensorFloat-32. */
export interface TF32Settings {
  /** cuBLAS matrix products (Linear); PyTorch's default: false. */
  matmul: boolean;
  /** cuDNN convolutions; PyTorch's default: true. */
  convolutions: boolean;
}

/** Sets both TensorFloat-32 switches (process-wide in libtorch); returns the previous settings. */
export function setTF32(settings: TF32Settings): TF32Settings {
  if (typeof settings !== 'object' || settings === null) throw invalidArgument('an object { matmul, convolutions }', 'settings', settings);
  const [matmul, convolutions] = native.setAllowTF32(checkBoolean('matmul', settings.matmul), checkBoolean('convolutions', settings.convolutions));
  return { matmul, convolutions };
}
