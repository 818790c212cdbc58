// CUDA graphs: the kernels a function launches are recorded once and replayed with a single
// launch, which removes the per-op launch and binding cost of small batches. Tensors the
// function returns live in the graph's memory pool and are overwritten by each replay.
import { checkDevice, type Device } from './device';
import { native, type NativeCudaGraph } from './native';

export class CudaGraph {
  readonly device: Device;
  readonly #graph: NativeCudaGraph;

  /** A graph of work on a CUDA device ('cuda': the current one). Throws when the device is not
   * CUDA or this build or machine has no CUDA (the message says which). */
  constructor(device: Device = 'cuda') {
    this.device = checkDevice('device', device);
    this.#graph = new native.CudaGraph(this.device);
  }

  /** Records what fn launches on the device instead of running it; returns fn's result. Nothing
   * in fn may wait for the GPU (item(), toArray()), and its inputs must be tensors that stay
   * alive: replays read and write the same memory. */
  capture<R>(fn: () => R): R {
    return this.#graph.capture(fn);
  }

  /** Runs the captured work again on the current stream (asynchronously). */
  replay(): void {
    this.#graph.replay();
  }

  get captured(): boolean {
    return this.#graph.captured;
  }

  /** Drops the recorded graph; capture() may be called again. */
  reset(): void {
    this.#graph.reset();
  }
}

/** Runs fn with a side stream current on the device, ordered after the work already queued and
 * before what follows (warm-up before a capture runs this way, as CUDA requires). */
export function onSideStream<R>(device: Device, fn: () => R): R {
  return native.cudaOnSideStream(fn, checkDevice('device', device));
}

/** Waits for all work queued on the device. */
export function synchronize(device: Device = 'cuda'): void {
  native.cudaSynchronize(checkDevice('device', device));
}
