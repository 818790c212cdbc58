// The prefetching thread of DataLoader.prefetch(): rebuilds the loader over a shared copy of the
// uint8 images and prepares up to `depth` batches ahead of the training thread.
import { parentPort, workerData } from 'node:worker_threads';
import { setThreadNumThreads } from '../device';
import { native } from '../native';
import { Tensor } from '../tensor';
import type { ImageDataset } from './cifar10';
import { DataLoader } from './loader';
import { fromSpec, type PipelineSpec } from './transforms';

export interface PrefetchWorkerData {
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  shape: number[];
  classNames: string[];
  batchSize: number;
  seed: number;
  spec: PipelineSpec;
  epoch: number;
  /** The epoch's positions, from the loader's sampler. */
  order: Int32Array;
  /** Batches in the epoch. */
  length: number;
  start: number;
  depth: number;
  threads: number;
}

const data = workerData as PrefetchWorkerData;
// This thread's share only: the training thread keeps its own count (see setThreadNumThreads).
setThreadNumThreads(data.threads);
// Node-API cannot read typed arrays over shared memory: copy to private buffers first.
const labelArray = new Uint8Array(data.labels.byteLength);
labelArray.set(new Uint8Array(data.labels));
const imageBytes = new Uint8Array(data.images.byteLength);
imageBytes.set(new Uint8Array(data.images));
const dataset: ImageDataset = {
  images: new Tensor(native.fromBytes(imageBytes, data.shape, 'uint8', 'cpu')),
  labels: new Tensor(native.fromArray(labelArray, [labelArray.length], 'int64', 'cpu')),
  labelArray,
  classNames: data.classNames,
  size: labelArray.length,
  source: 'prefetch',
};
const loader = new DataLoader(dataset, { batchSize: data.batchSize, seed: data.seed, transform: fromSpec(data.spec) });
const order = data.order;
let credits = data.depth;
let next = data.start;

function pump(): void {
  while (credits > 0 && next < data.length) {
    credits -= 1;
    const batch = loader.batch(data.epoch, next++, order);
    const contiguous = batch.images.contiguous();
    const images = contiguous.toArray() as Float32Array;
    const labels = batch.labels.toArray() as BigInt64Array;
    parentPort!.postMessage({ index: batch.index, shape: batch.images.shape, images, labels, indices: batch.indices }, [
      images.buffer as ArrayBuffer,
      labels.buffer as ArrayBuffer,
    ]);
    for (const t of [contiguous, batch.images, batch.labels]) t.dispose();
  }
}

parentPort!.on('message', (message) => {
  if (message === 'ack') {
    credits += 1;
    pump();
  }
});
pump();
