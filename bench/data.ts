// npm run bench:data [-- --data DIR] [-- --repeats N]: images/s of the full training input
// pipeline (index -> RandomCrop+pad -> flip -> resize -> rescale -> normalize -> batch of 256),
// median of repeated epochs. Without --data it uses the built-in synthetic set (50,000 images).
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { DataLoader, getNumThreads, loadCifar10, syntheticDataset, trainTransforms } from '../src/index';
import { median } from '../src/bench/stats';

const { values } = parseArgs({ options: { data: { type: 'string' }, repeats: { type: 'string', default: '3' } } });
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
