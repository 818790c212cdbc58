// A decode thread of ImageFileLoader: for each epoch (a job) it makes its share of the batches
// (every N-th), at most `depth` ahead of the loader's acknowledgements. A batch's images are read
// here and decoded by sharp (libvips, on libuv's threads) `decodes` at a time; each image's crop
// and flip come from its own generator (seed, epoch, position), so batches do not depend on the
// thread or the timing. Pixels go back as one transferred buffer per batch.
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { decodeFailure, decodeImage, hwcToChw, hwcToNormalizedChw, normalizeTable, readImageFile } from './image-decode';
import { augmentationRandom } from './image-transforms';
import type { ImageBatchMessage, ImageControl, ImageFailureMessage, ImageJob, ImageWorkerData, ImageWorkerMessage } from './image-loader-protocol';

const data = workerData as ImageWorkerData;
// libvips' settings are the process's: every decode thread sets the same values
sharp.concurrency(data.vipsThreads);
const offsets = new Float64Array(data.offsets);
const labels = new Int32Array(data.labels);
const { pipeline, batchSize } = data;
const side = pipeline.size;
const imageElements = 3 * side * side;
const table = data.transfer === 'float32' ? normalizeTable(pipeline.mean, pipeline.std) : null;

const pathOf = (sample: number) => Buffer.from(data.paths, offsets[sample], offsets[sample + 1] - offsets[sample]).toString('utf8');

let current: ImageJob | null = null;
let credits = 0;
/** Pixel buffers the loader gave back, each big enough for a whole batch. */
const spare: ArrayBuffer[] = [];
let wake: (() => void) | null = null;

/** Decodes sample `sample` (at `position` of the epoch) into image slot `slot` of `out`. */
async function decodeInto(sample: number, epoch: number, position: number, out: Uint8Array | Float32Array, slot: number): Promise<void> {
  const file = pathOf(sample);
  const bytes = readImageFile(file);
  const rng = pipeline.kind === 'train' ? augmentationRandom(data.seed, epoch, position) : null;
  const { hwc, flip } = await decodeImage(bytes, pipeline, rng);
  if (table) hwcToNormalizedChw(hwc, side, flip, table, out as Float32Array, slot * imageElements);
  else hwcToChw(hwc, side, flip, out as Uint8Array, slot * imageElements);
}

/** Batch `index` of `job`: its images decoded `data.decodes` at a time, in position order. */
async function makeBatch(job: ImageJob, index: number): Promise<ImageWorkerMessage> {
  const start = index * batchSize;
  const count = Math.min(batchSize, job.order.length - start);
  const buffer = spare.pop() ?? new ArrayBuffer(batchSize * imageElements * (table ? 4 : 1));
  const out = table ? new Float32Array(buffer, 0, count * imageElements) : new Uint8Array(buffer, 0, count * imageElements);
  const reasons: (string | undefined)[] = new Array(count);
  let next = 0;
  let failed = false;
  const lane = async () => {
    // (with 'fail', nothing new starts after a failure; those started finish, and the first
    // failing position is the one named, whatever the timing)
    while (next < count && !(failed && data.badImages === 'fail') && current === job) {
      const k = next++;
      try {
        await decodeInto(job.order[start + k], job.epoch, start + k, out, k);
      } catch (err) {
        reasons[k] = decodeFailure('', err).reason;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(data.decodes, count) }, lane));
  if (!failed) return batchMessage(job, index, out, count, []);
  const bad = reasons.findIndex((r) => r !== undefined);
  if (data.badImages === 'fail') return { kind: 'failure', id: job.id, index, sample: job.order[start + bad], reason: reasons[bad]! } satisfies ImageFailureMessage;
  return compacted(job, index, out, reasons);
}

function batchMessage(job: ImageJob, index: number, out: Uint8Array | Float32Array, count: number, skipped: ImageBatchMessage['skipped'], kept?: number[]): ImageBatchMessage {
  const positions = kept ?? Array.from({ length: count }, (_, k) => k);
  const start = index * batchSize;
  const indices = Int32Array.from(positions, (k) => job.order[start + k]);
  const batchLabels = BigInt64Array.from(indices, (sample) => BigInt(labels[sample]));
  return { kind: 'batch', id: job.id, index, count: positions.length, pixels: out.buffer as ArrayBuffer, labels: batchLabels, indices, skipped };
}

/** The batch without its bad images (badImages 'skip'), which are listed with their reasons. */
function compacted(job: ImageJob, index: number, out: Uint8Array | Float32Array, reasons: (string | undefined)[]): ImageBatchMessage {
  const kept: number[] = [];
  const skipped: ImageBatchMessage['skipped'] = [];
  for (let k = 0; k < reasons.length; k++) {
    // (a for loop: the array has holes where images decoded, which forEach would pass over)
    if (reasons[k] === undefined) kept.push(k);
    else skipped.push({ sample: job.order[index * batchSize + k], reason: reasons[k]! });
  }
  // (in place: kept slots only move down)
  kept.forEach((k, j) => out.copyWithin(j * imageElements, k * imageElements, (k + 1) * imageElements));
  return batchMessage(job, index, out, kept.length, skipped, kept);
}

/** Makes `job`'s batches while it is the current job, waiting for credit before each. */
async function run(job: ImageJob): Promise<void> {
  for (const index of job.batches) {
    while (current === job && credits === 0) await new Promise<void>((resolve) => (wake = resolve));
    if (current !== job) return;
    credits -= 1;
    const message = await makeBatch(job, index);
    if (current !== job) return;
    const transfer = message.kind === 'batch' ? [message.pixels, message.labels.buffer as ArrayBuffer, message.indices.buffer as ArrayBuffer] : [];
    parentPort!.postMessage(message, transfer);
    if (message.kind === 'failure') return; // the epoch ends with it
  }
}

parentPort!.on('message', (message: ImageControl) => {
  if (message.kind === 'epoch') {
    current = message;
    credits = message.depth;
    void run(message);
  } else if (message.id === current?.id) {
    if (message.kind === 'ack') {
      credits += 1;
      if (message.buffer) spare.push(message.buffer);
    }
    else current = null;
  }
  const resume = wake;
  wake = null;
  resume?.();
});
