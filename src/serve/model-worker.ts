// The thread that owns one served model: loads its checkpoint, and answers each batch the
// server's batcher sends with one forward pass. Parts of a batch arrive as raw CHW bytes (decoded
// images, pixels; normalised here with the checkpoint's mean and std) or as float32 input already
// normalised; the answer is the logits and the softmax of every image, in order.
import { parentPort, workerData } from 'node:worker_threads';
import { inferenceMode } from '../autograd';
import { getNumThreads, setThreadNumThreads, type Device } from '../device';
import { normalizeChw } from '../inference/preprocess';
import { cat, tensor, tidy, type Tensor } from '../tensor';
import { modelFromCheckpoint } from '../train/checkpoint';
import { serializeError } from '../worker-errors';
import type { BatchPart, ModelInfo, WorkerReply, WorkerRequest } from './model-messages';

const { checkpoint, device, threads } = workerData as { checkpoint: string; device?: Device; threads?: number };
const port = parentPort!;
if (threads !== undefined) setThreadNumThreads(threads);

let loaded: ReturnType<typeof modelFromCheckpoint>;
try {
  loaded = modelFromCheckpoint(checkpoint, device);
  // (validateCheckpointMeta has checked one class name per output)
  const { meta, model } = loaded;
  const info: ModelInfo = {
    arch: meta.arch,
    classNames: meta.classNames,
    imageSize: meta.imageSize,
    resizeSize: meta.evalTransform?.resizeSize,
    mean: meta.mean,
    std: meta.std,
    device: model.options.device,
    threads: getNumThreads(),
  };
  port.postMessage({ kind: 'ready', info } satisfies WorkerReply);
} catch (err) {
  port.postMessage({ kind: 'failed', error: serializeError(err) } satisfies WorkerReply);
}

function partTensor(part: BatchPart, size: number): Tensor {
  const { meta, model } = loaded;
  if (part.kind === 'chw8') return normalizeChw(part.data, part.count, size, meta.mean, meta.std, model.options.device);
  return tensor(part.data, [part.count, 3, size, size], { device: model.options.device });
}

port.on('message', (m: WorkerRequest) => {
  if (m.kind === 'crash') process.exit(70); // tests: a model whose thread dies
  try {
    const { model, meta } = loaded;
    const size = meta.imageSize;
    const [logits, probabilities] = inferenceMode(() =>
      tidy(() => {
        const parts = m.parts.map((p) => partTensor(p, size));
        const x = parts.length === 1 ? parts[0] : cat(parts, 0);
        const out = model.forward(x).to('float32');
        return [out.to('cpu').toArray() as Float32Array, out.softmax(1).to('cpu').toArray() as Float32Array];
      }),
    );
    port.postMessage({ kind: 'answer', id: m.id, logits, probabilities } satisfies WorkerReply, [logits.buffer as ArrayBuffer, probabilities.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ kind: 'answer', id: m.id, error: serializeError(err) } satisfies WorkerReply);
  }
});
