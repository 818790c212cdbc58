// The Classifier's thread: holds the model, decodes images, and answers every request that
// arrived while it was busy with one batched forward pass.
import { parentPort, workerData } from 'node:worker_threads';
import { inferenceMode } from '../autograd';
import { getNumThreads, setThreadNumThreads, type Device } from '../device';
import { tidy } from '../tensor';
import { modelFromCheckpoint } from '../train/checkpoint';
import { serializeError } from '../worker-errors';
import { imageToChw, normalizeBatch, type ImageInput } from './preprocess';
import { predictionOf } from './ranking';

interface Request {
  id: number;
  images: ImageInput[];
}

const { checkpoint, device, topK, maxBatch, threads } = workerData as { checkpoint: string; device?: Device; topK: number; maxBatch: number; threads?: number };
const port = parentPort!;
if (threads !== undefined) setThreadNumThreads(threads);
let ready: { model: ReturnType<typeof modelFromCheckpoint>['model']; meta: ReturnType<typeof modelFromCheckpoint>['meta'] };
try {
  // (validateCheckpointMeta has checked one class name per output: rows cannot be cut wrong)
  ready = modelFromCheckpoint(checkpoint, device);
  port.postMessage({ kind: 'ready', classNames: ready.meta.classNames, imageSize: ready.meta.imageSize, arch: ready.meta.arch, threads: getNumThreads() });
} catch (err) {
  port.postMessage({ kind: 'failed', error: serializeError(err) });
}

const queue: Request[] = [];
let busy = false;
let batches = 0;

async function drain(): Promise<void> {
  busy = true;
  while (queue.length > 0) {
    // Everything queued now goes into one forward pass (up to maxBatch images).
    const taken: Request[] = [];
    let count = 0;
    while (queue.length > 0 && (taken.length === 0 || count + queue[0].images.length <= maxBatch)) {
      const r = queue.shift()!;
      taken.push(r);
      count += r.images.length;
    }
    const decoded = await Promise.all(
      taken.map(async (r) => {
        try {
          return { r, images: await Promise.all(r.images.map((img) => imageToChw(img, ready.meta.imageSize, ready.meta.evalTransform?.resizeSize))) };
        } catch (err) {
          port.postMessage({ kind: 'answer', id: r.id, error: serializeError(err) });
          return null;
        }
      }),
    );
    const ok = decoded.filter((d): d is { r: Request; images: Uint8Array[] } => d !== null);
    if (ok.length === 0) continue;
    const flat = ok.flatMap((d) => d.images);
    const { meta, model } = ready;
    let probabilities: Float32Array;
    try {
      probabilities = inferenceMode(() =>
        tidy(() => model.forward(normalizeBatch(flat, meta.imageSize, meta.mean, meta.std, model.options.device)).softmax(1).to('cpu').toArray() as Float32Array),
      );
    } catch (err) {
      // The batch fails, the classifier stays: each request of it gets the error.
      for (const { r } of ok) port.postMessage({ kind: 'answer', id: r.id, error: serializeError(err) });
      continue;
    }
    batches += 1;
    const classes = meta.classNames.length;
    let offset = 0;
    for (const { r, images } of ok) {
      const predictions = images.map((_, i) => predictionOf(probabilities, offset + i, classes, meta.classNames, topK));
      offset += images.length;
      port.postMessage({ kind: 'answer', id: r.id, predictions, batch: batches, batchImages: flat.length });
    }
  }
  busy = false;
}

port.on('message', (m: Request) => {
  queue.push(m);
  // Let every message already delivered join the queue before the batch is formed.
  if (!busy) setImmediate(() => void drain());
});
