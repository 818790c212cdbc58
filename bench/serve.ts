// npm run bench:serve -- [--checkpoint FILE] [--arch resnet50] [--seconds 10] [--concurrency 1,8,64]
// [--threads 2]: the serve benchmark (src/bench/serve.ts). Without --checkpoint it writes one of
// an untrained model of --arch (speed does not depend on the weights).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runServeBench } from '../src/bench/serve';
import { ARCHITECTURES, CHECKPOINT_FORMAT, saveCheckpoint } from '../src/train/checkpoint';
import { checkTrainOptions } from '../src/train/loop';
import { CIFAR10_MEAN, CIFAR10_STD } from '../src/data/transforms';

const { values } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    arch: { type: 'string', default: 'resnet50' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '1,8,64' },
    threads: { type: 'string', default: String(Math.max(1, os.availableParallelism())) },
    'max-batch': { type: 'string', default: '64' },
  },
});
const concurrency = values.concurrency.split(',').map(Number);
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const maxBatch = Number(values['max-batch']);
if (concurrency.some((c) => !Number.isInteger(c) || c < 1) || !(seconds > 0) || !Number.isInteger(threads) || threads < 1 || !(values.arch in ARCHITECTURES)) {
  console.error('usage: npm run bench:serve -- [--checkpoint FILE | --arch resnet18|resnet50] [--seconds N] [--concurrency 1,8,64] [--threads N] [--max-batch N]');
  process.exit(2);
}
let checkpoint = values.checkpoint;
if (!checkpoint) {
  const arch = values.arch as keyof typeof ARCHITECTURES;
  checkpoint = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rn-bench-serve-')), `${arch}.safetensors`);
  // the model `train --arch` would build, with its defaults (stem, padding, image size)
  const c = checkTrainOptions({ arch, device: 'cpu' });
  const model = ARCHITECTURES[arch]({ numClasses: 10, stem: c.stem, padding: c.padding, device: 'cpu' });
  const classNames = Array.from({ length: 10 }, (_, i) => `class ${i}`);
  saveCheckpoint(checkpoint, model, {
    format: CHECKPOINT_FORMAT, version: 1, arch, numClasses: 10, stem: c.stem, padding: c.padding, imageSize: c.imageSize,
    mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD], classNames, epoch: 0, step: 0, accuracy: null, bestAccuracy: -1, config: {},
  } as never);
  model.dispose();
}
console.log(`serve bench: ${checkpoint}, ${threads} thread(s), ${seconds} s per case, concurrency ${concurrency.join('/')}`);
runServeBench({ checkpoint, concurrency, seconds, threads, maxBatch }).then((r) => {
  const c64 = r.rows.filter((row) => row.concurrency === Math.max(...concurrency));
  const c1 = r.rows.filter((row) => row.concurrency === 1);
  console.log(
    `summary: at concurrency ${Math.max(...concurrency)} ${c64.map((row) => `${row.payload} ${row.ratio.toFixed(2)}x`).join(', ')} of in-process batched throughput; ` +
      `p99 at concurrency 1 ${c1.map((row) => `${row.payload} +${(row.p99Ms - r.modelLatencyMs).toFixed(1)} ms`).join(', ')} over the model's own ${r.modelLatencyMs.toFixed(1)} ms; ` +
      `errors ${r.rows.reduce((n, row) => n + row.errors + row.non2xx, 0)}`,
  );
});
