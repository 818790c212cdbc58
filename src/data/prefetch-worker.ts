// The prefetching thread of DataLoader.prefetch(): one per loader, for its whole life. It rebuilds
// the loader once over a copy of the shared uint8 images, then prepares each epoch (a job: the
// order from the loader's sampler) up to `depth` batches ahead of the training thread.
import { parentPort, workerData } from 'node:worker_threads';
import { setThreadNumThreads } from '../device';
import { fromBytes, tensor } from '../tensor';
import type { ImageDataset } from './cifar10';
import { DataLoader } from './loader';
import { fromSpec } from './transforms';

import type { PrefetchControl, PrefetchJob, PrefetchWorkerData } from './prefetch-protocol';

const data = workerData as PrefetchWorkerData;
// This thread's share only: the training thread keeps its own count (see setThreadNumThreads).
setThreadNumThreads(data.threads);
// Node-API cannot read typed arrays over shared memory: copy to private buffers first.
const labelArray = new Uint8Array(data.labels.byteLength);
labelArray.set(new Uint8Array(data.labels));
const imageBytes = new Uint8Array(data.images.byteLength);
imageBytes.set(new Uint8Array(data.images));
const dataset: ImageDataset = {
  images: fromBytes(imageBytes, data.shape, 'uint8', 'cpu'),
  labels: tensor(labelArray, [labelArray.length], { dtype: 'int64', device: 'cpu' }),
  labelArray,
  classNames: data.classNames,
  size: labelArray.length,
  source: 'prefetch',
};
const loader = new DataLoader(dataset, { batchSize: data.batchSize, seed: data.seed, transform: fromSpec(data.spec) });
// The thread lives as long as its loader: the dataset is copied once, and each epoch is a job.
let job: PrefetchJob | null = null;
let credits = 0;
let next = 0;

function pump(): void {
  while (job && credits > 0 && next < job.length) {
    credits -= 1;
    const batch = loader.batch(job.epoch, next++, job.order);
    const contiguous = batch.images.contiguous();
    const images = contiguous.toArray() as Float32Array;
    const labels = batch.labels.toArray() as BigInt64Array;
    parentPort!.postMessage({ id: job.id, index: batch.index, shape: batch.images.shape, images, labels, indices: batch.indices }, [
      images.buffer as ArrayBuffer,
      labels.buffer as ArrayBuffer,
    ]);
    for (const t of [contiguous, batch.images, batch.labels]) t.dispose();
  }
}

parentPort!.on('message', (message: PrefetchControl) => {
  if (message.kind === 'epoch') {
    job = message;
    credits = message.depth;
    next = message.start;
  } else if (message.id !== job?.id) {
    return; // about a job already replaced
  } else if (message.kind === 'ack') {
    credits += 1;
  } else {
    job = null;
  }
  pump();
});
