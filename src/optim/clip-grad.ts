// Gradient-norm clipping, torch.nn.utils.clip_grad_norm_ on its foreach path: the norm of each
// gradient (one multi-tensor call per device and dtype), the norm of those norms, then every
// gradient multiplied in place by min(maxNorm / (total + 1e-6), 1). The coefficient is computed
// and applied on the device: nothing waits for the GPU unless errorIfNonfinite asks to read it.
import { noGrad } from '../autograd';
import type { Device } from '../device';
import { checkBoolean, checkNumber, invalidArgument } from '../errors';
import { foreachMul_, foreachNorm } from '../foreach';
import { Tensor, full, stack, tidy } from '../tensor';

export interface ClipGradNormOptions {
  /** The p of the p-norm: a positive number, or Infinity (the largest magnitude); default 2. */
  normType?: number;
  /** Throw when the total norm is inf or NaN (reads it from the device); default false. */
  errorIfNonfinite?: boolean;
}

/** Parameters (their `.grad` is clipped; ones without are left out), named or not, or
 * `{ gradients }`: the gradient tensors themselves (e.g. from optimizer.namedGradients()). */
export type ClipGradTarget = Tensor[] | [string, Tensor][] | { gradients: Tensor[] };

/**
 * Scales the gradients so that their total norm is at most `maxNorm` (in place) and returns the
 * total norm before clipping: a 0-dim float tensor on the first gradient's device, the caller's to
 * read (or dispose) when it likes. With no gradient at all it is 0 and nothing changes. An inf or
 * NaN norm makes every gradient NaN (as PyTorch), unless errorIfNonfinite throws instead.
 */
export function clipGradNorm(target: ClipGradTarget, maxNorm: number, options: ClipGradNormOptions = {}): Tensor {
  checkNumber('maxNorm', maxNorm, 0);
  const normType = checkNormType(options.normType ?? 2);
  const errorIfNonfinite = checkBoolean('errorIfNonfinite', options.errorIfNonfinite ?? false);
  return noGrad(() =>
    tidy(() => {
      const grads = gradientsOf(target);
      if (grads.length === 0) return full([], 0, { device: 'cpu', dtype: 'float32' });
      const byDevice = groupByDeviceAndDtype(grads);
      const total = totalNorm(byDevice, normType, grads[0].device);
      if (errorIfNonfinite && !Number.isFinite(total.item())) {
        throw new Error(`the total norm of order ${normType} of the gradients is ${total.item()}, so they cannot be clipped (errorIfNonfinite: false scales them by it anyway)`);
      }
      // maxNorm / (total + 1e-6) as PyTorch computes a number over a tensor: its reciprocal times the number.
      const coef = full([], 1, { device: total.device, dtype: total.dtype }).div(total.add(1e-6)).mul(maxNorm).clamp(null, 1);
      for (const group of byDevice.values()) foreachMul_(group, coef.to(group[0].device));
      return total;
    }),
  );
}

/** The vector norm of all the gradients together: the norm of their norms. */
function totalNorm(byDevice: Map<string, Tensor[]>, normType: number, device: Device): Tensor {
  const norms = [...byDevice.values()].flatMap((group) => foreachNorm(group, normType));
  return foreachNorm([stack(norms.map((n) => n.to(device)))], normType)[0];
}

function gradientsOf(target: ClipGradTarget): Tensor[] {
  if (Array.isArray(target)) {
    const params = target.map((p) => (Array.isArray(p) ? p[1] : p));
    if (!params.every((p) => p instanceof Tensor)) throw invalidArgument('parameters (Tensors or [name, Tensor] pairs) or { gradients }', 'target', target);
    return params.flatMap((p) => p.grad ?? []);
  }
  const gradients = (target as { gradients?: unknown } | null)?.gradients;
  if (!Array.isArray(gradients) || !gradients.every((g) => g instanceof Tensor)) {
    throw invalidArgument('parameters (Tensors or [name, Tensor] pairs) or { gradients }', 'target', target);
  }
  return gradients;
}

function checkNormType(value: unknown): number {
  if (typeof value !== 'number' || !(value > 0)) throw invalidArgument('a positive number or Infinity', 'normType', value);
  return value;
}

/** As torch's _group_tensors_by_device_and_dtype: foreach kernels take one of each. */
function groupByDeviceAndDtype(ts: Tensor[]): Map<string, Tensor[]> {
  const groups = new Map<string, Tensor[]>();
  for (const t of ts) {
    const key = `${t.device}/${t.dtype}`;
    const group = groups.get(key);
    if (group) group.push(t);
    else groups.set(key, [t]);
  }
  return groups;
}
