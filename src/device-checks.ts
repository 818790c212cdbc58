// Device names and thread counts, checked for their form only: no addon is loaded here, so option
// declarations (and the command line's flags, built from them at start-up) can use these checks
// without starting libtorch. device.ts re-exports them with the checks that need libtorch.
import { availableParallelism } from 'node:os';
import { invalidArgument, isInteger } from './errors';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

const DEVICE_PATTERN = /^(cpu|cuda(:\d+)?)$/;

/** `value` as a device name, checked for its form only (not that the GPU is there). */
export function checkDeviceName(name: string, value: unknown): Device {
  if (typeof value !== 'string' || !DEVICE_PATTERN.test(value)) {
    throw invalidArgument("'cpu', 'cuda' or 'cuda:N'", name, value);
  }
  return value as Device;
}

/** The most intra-op threads accepted: 16 per hardware thread (OpenMP crashes on absurd counts). */
export const MAX_THREADS = 16 * Math.max(1, availableParallelism());

/** A thread count between 1 and MAX_THREADS. */
export function checkThreads(name: string, value: unknown): number {
  if (!isInteger(value, 1) || value > MAX_THREADS) {
    throw invalidArgument(`an integer between 1 and ${MAX_THREADS} (16 per hardware thread)`, name, value);
  }
  return value;
}

/** The default device (CUDA when libtorch sees a GPU): device.ts registers how to find it when it
 * loads libtorch, so that declarations can default to it without loading the addon themselves. */
let defaultDeviceOf: (() => Device) | null = null;

export function registerDefaultDevice(find: () => Device): void {
  defaultDeviceOf = find;
}

/** The default device; only once device.ts is loaded (every run and check that resolves a device). */
export function defaultDeviceName(): Device {
  if (!defaultDeviceOf) throw new Error('internal: the default device was asked for before libtorch was loaded (import device.ts first)');
  return defaultDeviceOf();
}
