// Thread-local execution modes of libtorch: grad mode, inference mode, autocast. libtorch keeps
// them per OS thread; each JavaScript thread (main or worker) issues its ops synchronously on its
// own thread, so a scope set here covers exactly its own ops. Scopes are synchronous only: a mode
// cannot follow an await.
import { native } from './native';

/** Enters a mode, runs `fn`, and leaves the mode again however `fn` ends. */
function scoped<R>(name: string, enter: () => () => void, fn: () => R): R {
  const leave = enter();
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new TypeError(`${name}() takes a synchronous function: the mode cannot follow an await`);
    }
    return result;
  } finally {
    leave();
  }
}

function gradMode(enabled: boolean): () => () => void {
  return () => {
    const previous = native.autograd.setGradEnabled(enabled);
    return () => native.autograd.setGradEnabled(previous);
  };
}

/** Runs `fn` with gradient recording off (as `with torch.no_grad():`). */
export function noGrad<R>(fn: () => R): R {
  return scoped('noGrad', gradMode(false), fn);
}

/** Runs `fn` with gradient recording on, even inside noGrad(). */
export function enableGrad<R>(fn: () => R): R {
  return scoped('enableGrad', gradMode(true), fn);
}

export function isGradEnabled(): boolean {
  return native.autograd.isGradEnabled();
}

/**
 * Runs `fn` in libtorch's inference mode: like noGrad, without any autograd bookkeeping, so a
 * little faster. Tensors made inside cannot later take part in gradient computation.
 */
export function inferenceMode<R>(fn: () => R): R {
  return scoped(
    'inferenceMode',
    () => {
      native.autograd.enterInferenceMode();
      return () => native.autograd.exitInferenceMode();
    },
    fn,
  );
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
 */
export function autocast<R>(fn: () => R, options: AutocastOptions = {}): R {
  const deviceType = options.deviceType ?? 'cuda';
  return scoped(
    'autocast',
    () => {
      const [wasEnabled, wasDtype] = native.setAutocast(deviceType, true, options.dtype ?? 'bfloat16');
      return () => native.setAutocast(deviceType, wasEnabled, wasDtype);
    },
    fn,
  );
}
