// Grad mode. libtorch keeps it per OS thread; each JavaScript thread (main or worker) issues
// its ops synchronously on its own thread, so a scope set here covers exactly its own ops.
import { native } from './native';

function withGradMode<R>(enabled: boolean, fn: () => R, name: string): R {
  const previous = native.autograd.setGradEnabled(enabled);
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new TypeError(`${name}() takes a synchronous function: grad mode cannot follow an await`);
    }
    return result;
  } finally {
    native.autograd.setGradEnabled(previous);
  }
}

/** Runs `fn` with gradient recording off (as `with torch.no_grad():`). */
export function noGrad<R>(fn: () => R): R {
  return withGradMode(false, fn, 'noGrad');
}

/** Runs `fn` with gradient recording on, even inside noGrad(). */
export function enableGrad<R>(fn: () => R): R {
  return withGradMode(true, fn, 'enableGrad');
}

export function isGradEnabled(): boolean {
  return native.autograd.isGradEnabled();
}

/**
 * Runs `fn` in libtorch's inference mode: like noGrad, without any autograd bookkeeping, so a
 * little faster. Tensors made inside cannot later take part in gradient computation.
 */
export function inferenceMode<R>(fn: () => R): R {
  native.autograd.enterInferenceMode();
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new TypeError('inferenceMode() takes a synchronous function');
    }
    return result;
  } finally {
    native.autograd.exitInferenceMode();
  }
}

export function isInferenceMode(): boolean {
  return native.autograd.isInferenceMode();
}

export interface AutocastOptions {
  /** Which device's ops run in reduced precision; default 'cuda'. */
  deviceType?: 'cpu' | 'cuda';
  /** Default 'bfloat16'. */
  dtype?: 'bfloat16' | 'float16';
}

/**
 * Runs `fn` with libtorch's automatic mixed precision (as torch.autocast): convolutions and matrix
 * products in bfloat16 / float16, precision-sensitive ops (softmax, losses, BatchNorm) in float32.
 * Thread-local like grad mode; synchronous only.
 */
export function autocast<R>(fn: () => R, options: AutocastOptions = {}): R {
  const deviceType = options.deviceType ?? 'cuda';
  const [wasEnabled, wasDtype] = native.setAutocast(deviceType, true, options.dtype ?? 'bfloat16');
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new TypeError('autocast() takes a synchronous function');
    }
    return result;
  } finally {
    native.setAutocast(deviceType, wasEnabled, wasDtype);
  }
}
