// Multi-tensor ("foreach") operations: one native call updates a whole list of tensors, as
// torch.optim's foreach implementations do. Part of the binding layer (eslint.config.mjs): the
// optimizers and the loss scaler call these, not the addon.
import { native } from './native';
import { Tensor } from './tensor';

const handles = (ts: Tensor[]) => ts.map((t) => t.handle);
const tensors = (hs: ReturnType<typeof native.ops.foreachSqrt>) => hs.map((h) => new Tensor(h));

/** ts[i] += alpha * others[i] */
export function foreachAdd_(ts: Tensor[], others: Tensor[], alpha = 1): void {
  native.ops.foreachAdd_(handles(ts), handles(others), alpha);
}

/** ts[i] + alpha * others[i], as new tensors. */
export function foreachAdd(ts: Tensor[], others: Tensor[], alpha = 1): Tensor[] {
  return tensors(native.ops.foreachAdd(handles(ts), handles(others), alpha));
}

/** ts[i] += scalar */
export function foreachAddScalar_(ts: Tensor[], scalar: number): void {
  native.ops.foreachAddScalar_(handles(ts), scalar);
}

/** ts[i] *= factor; a 0-dim tensor factor is read on the device (no synchronisation). */
export function foreachMul_(ts: Tensor[], factor: number | Tensor): void {
  native.ops.foreachMul_(handles(ts), factor instanceof Tensor ? factor.handle : factor);
}

/** ts[i] * factor, as new tensors; a 0-dim tensor factor is read on the device (CUDA graphs). */
export function foreachMul(ts: Tensor[], factor: number | Tensor): Tensor[] {
  return tensors(native.ops.foreachMul(handles(ts), factor instanceof Tensor ? factor.handle : factor));
}

/** ts[i] /= scalar */
export function foreachDiv_(ts: Tensor[], scalar: number): void {
  native.ops.foreachDivScalar_(handles(ts), scalar);
}

/** ts[i] += weight * (ends[i] - ts[i]) */
export function foreachLerp_(ts: Tensor[], ends: Tensor[], weight: number): void {
  native.ops.foreachLerp_(handles(ts), handles(ends), weight);
}

/** ts[i] += value * a[i] * b[i] */
export function foreachAddcmul_(ts: Tensor[], a: Tensor[], b: Tensor[], value = 1): void {
  native.ops.foreachAddcmul_(handles(ts), handles(a), handles(b), value);
}

/** ts[i] += value * a[i] / b[i] */
export function foreachAddcdiv_(ts: Tensor[], a: Tensor[], b: Tensor[], value = 1): void {
  native.ops.foreachAddcdiv_(handles(ts), handles(a), handles(b), value);
}

/** sqrt(ts[i]), as new tensors. */
export function foreachSqrt(ts: Tensor[]): Tensor[] {
  return tensors(native.ops.foreachSqrt(handles(ts)));
}

/** The ord-norm of each tensor (0-dim, as torch._foreach_norm), as new tensors. */
export function foreachNorm(ts: Tensor[], ord: number): Tensor[] {
  return tensors(native.ops.foreachNorm(handles(ts), ord));
}

/** ts[i].copy_(sources[i]) (casting as copy_ does: float to integer truncates). */
export function foreachCopy_(ts: Tensor[], sources: Tensor[]): void {
  native.ops.foreachCopy_(handles(ts), handles(sources));
}

/** Loss scaling's unscale: grads[i] *= invScale; foundInf := 1 where any is inf or NaN. */
export function ampUnscale_(grads: Tensor[], foundInf: Tensor, invScale: Tensor): void {
  native.ops.ampUnscale_(handles(grads), foundInf.handle, invScale.handle);
}

/** Loss scaling's update of the scale and its growth tracker (torch's _amp_update_scale_). */
export function ampUpdateScale_(scale: Tensor, growthTracker: Tensor, foundInf: Tensor, growthFactor: number, backoffFactor: number, growthInterval: number): void {
  native.ops.ampUpdateScale_(scale.handle, growthTracker.handle, foundInf.handle, growthFactor, backoffFactor, growthInterval);
}
