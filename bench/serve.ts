// npm run bench:serve -- [--checkpoint FILE] [--arch resnet50] [--seconds 3] [--rounds 12]
// [--concurrency 1,8,64] [--threads 2] [--max-batch 64] [--max-queue-delay-ms 2]: the serve benchmark (src/bench/serve.ts). Without --checkpoint it writes one of
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
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '12' },
    concurrency: { type: 'string', default: '1,8,64' },
    threads: { type: 'string', default: String(Math.max(1, os.availableParallelism())) },
    'max-batch': { type: 'string', default: '64' },
    'max-queue-delay-ms': { type: 'string', default: '2' },
  },
});
const concurrency = values.concurrency.split(',').map(Number);
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const maxBatch = Number(values['max-batch']);
const rounds = Number(values.rounds);
const maxQueueDelayMs = Number(values['max-queue-delay-ms']);
if (concurrency.some((c) => !Number.isInteger(c) || c < 1) || !(seconds > 0) || !Number.isInteger(threads) || threads < 1 || !(values.arch in ARCHITECTURES) || !Number.isInteger(rounds) || rounds < 1 || !(maxQueueDelayMs >= 0)) {
  console.error('usage: npm run bench:serve -- [--checkpoint FILE | --arch resnet18|resnet50] [--seconds N] [--rounds N] [--concurrency 1,8,64] [--threads N] [--max-batch N] [--max-queue-delay-ms MS]');
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
console.log(`serve bench: ${checkpoint}, ${threads} thread(s), concurrency ${concurrency.join('/')}, ${rounds} rounds of ${seconds} s per case (load, then in-process)`);
runServeBench({ checkpoint, concurrency, seconds, rounds, threads, maxBatch, maxQueueDelayMs }).then((rows) => {
  const top = Math.max(...concurrency);
  const busiest = rows.filter((row) => row.concurrency === top);
  const single = rows.filter((row) => row.concurrency === 1);
  const sign = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;
  console.log(
    `summary: at concurrency ${top} ${busiest.map((row) => `${row.payload} ${row.ratio.toFixed(2)}x`).join(', ')} of in-process batched throughput (goal >= 0.9x); ` +
      `p99 at concurrency 1 ${single.map((row) => `${row.payload} ${sign(row.p99OverModelMs)} ms`).join(', ')} over the model's own p99 in-process (goal <= +5 ms); ` +
      `errors ${rows.reduce((n, row) => n + row.errors, 0)}`,
  );
});
