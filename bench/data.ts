// npm run bench:data [-- --data DIR] [-- --repeats N]: images/s of the full training input
// pipeline (index -> RandomCrop+pad -> flip -> resize -> rescale -> normalize -> batch of 256),
// median of repeated epochs. Without --data it uses the built-in synthetic set (50,000 images).
//
// npm run bench:data -- --folder [--images 3000] [--batch 64] [--workers N] [--decodes N]
//   [--transfer uint8|float32] [--size 224] [--repeats 3] [--python EXE | --no-python] [--dir DIR]:
// the own-images pipeline (read, decode, RandomResizedCrop, flip, normalise, batch) on a folder of
// generated 500 x 375 JPEGs (or --dir), ImageFileLoader against torchvision's ImageFolder +
// DataLoader with as many worker processes (src/bench/folder.ts, bench/torch_folder.py).
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { DataLoader, getNumThreads, loadCifar10, syntheticDataset, trainTransforms } from '../src/index';
import { formatFolderBenchmark, runFolderBenchmark } from '../src/bench/folder';
import { median } from '../src/bench/stats';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    folder: { type: 'boolean', default: false },
    dir: { type: 'string' },
    images: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '64' },
    workers: { type: 'string' },
    decodes: { type: 'string' },
    transfer: { type: 'string', default: 'float32' },
    size: { type: 'string', default: '224' },
    python: { type: 'string' },
    'no-python': { type: 'boolean', default: false },
  },
});

async function folderBenchmark(): Promise<void> {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const result = await runFolderBenchmark({
    folder: values.dir,
    images: num(values.images),
    batch: num(values.batch),
    workers: num(values.workers),
    decodes: num(values.decodes),
    transfer: values.transfer as 'uint8' | 'float32',
    size: num(values.size),
    repeats: num(values.repeats),
    python: values['no-python'] ? null : values.python,
    log: (line) => console.log(line),
  });
  console.log(formatFolderBenchmark(result));
}

function tensorBenchmark(): void {
  const dataset = values.data ? loadCifar10(values.data, 'train') : syntheticDataset('train', { size: 50_000 });
  const loader = new DataLoader(dataset, { batchSize: 256, seed: 0, transform: trainTransforms() });
  const rates: number[] = [];
  for (let epoch = 0; epoch < Number(values.repeats); epoch++) {
    const start = process.hrtime.bigint();
    let images = 0;
    for (const batch of loader.epoch(epoch)) {
      images += batch.images.shape[0];
      batch.images.dispose();
      batch.labels.dispose();
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(images / seconds);
    console.log(`epoch ${epoch}: ${images} images in ${seconds.toFixed(2)} s = ${Math.round(images / seconds)} images/s`);
  }
  const medianRate = median(rates);
  console.log(
    `data pipeline (${values.data ? 'CIFAR-10' : 'synthetic'}, batch 256, ${getNumThreads()} intra-op threads, ${os.availableParallelism()} cores): ` +
      `median ${Math.round(medianRate)} images/s (goal >= 20000)`,
  );
}

if (values.folder) void folderBenchmark();
else tensorBenchmark();
