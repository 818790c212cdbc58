// Devices: 'cpu', 'cuda', 'cuda:N'; CUDA queries and the default device for new tensors.
import { invalidArgument } from './errors';
import { native } from './native';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

const DEVICE_PATTERN = /^(cpu|cuda(:\d+)?)$/;

export function checkDevice(name: string, value: unknown): Device {
  if (typeof value !== 'string' || !DEVICE_PATTERN.test(value)) {
    throw invalidArgument("'cpu', 'cuda' or 'cuda:N'", name, value);
  }
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

export function setDefaultDevice(device: Device): void {
  defaultDeviceValue = checkDevice('device', device);
}

/** Seeds libtorch's generators (CPU and CUDA): same seed, same random tensors. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw invalidArgument('non-negative integer', 'seed', seed);
  native.manualSeed(seed);
}

/** libtorch's intra-op thread pool size. */
export function getNumThreads(): number {
  return native.getNumThreads();
}

export function setNumThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw invalidArgument('positive integer', 'threads', threads);
  native.setNumThreads(threads);
}

/** cuDNN autotuning of convolution algorithms (fixed input shapes run faster); returns the previous value. */
export function setCudnnBenchmark(enabled: boolean): boolean {
  return native.setCudnnBenchmark(enabled);
}

/** TensorFloat-32 for CUDA matrix products and convolutions (Ampere and later); returns the previous value. */
export function setAllowTF32(enabled: boolean): boolean {
  return native.setAllowTF32(enabled);
}
