// Classifier: inference off the main thread; many concurrent requests batched together, every
// answer checked against the same model run here; encoded and raw inputs; errors; close().
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { Classifier, imageToChw, modelFromCheckpoint, noGrad, normalizeBatch, runTraining, syntheticDataset } from '../src/index';
import { syntheticPngs, tempDir } from './helpers';

const tmp = tempDir('rn-classifier-');
let checkpoint: string;
const pngs: Buffer[] = [];

before(async () => {
  const result = await runTraining(
    { arch: 'resnet18', epochs: 2, batchSize: 16, lr: 0.05, maxStepsPerEpoch: 30, device: 'cpu', syntheticSize: { train: 960, test: 160 }, checkpointDir: tmp },
    { onLine: () => {} },
  );
  checkpoint = result.bestCheckpoint;
  pngs.push(...(await syntheticPngs(60, 9)));
});

test('many concurrent requests are batched and every answer matches the model run here', async () => {
  const classifier = await Classifier.load(checkpoint, { device: 'cpu', topK: 3 });
  after(() => classifier.close());
  assert.equal(classifier.classNames.length, 10);
  const requests = Array.from({ length: 30 }, (_, r) => [pngs[(2 * r) % 60], pngs[(2 * r + 1) % 60]]);
  const answers = await Promise.all(requests.map((imgs) => classifier.classify(imgs)));
  assert.ok(classifier.stats.batches < requests.length, `${classifier.stats.batches} forward passes for ${requests.length} requests`);
  assert.equal(classifier.stats.images, 60);

  const { model, meta } = modelFromCheckpoint(checkpoint, 'cpu');
  const chw = await Promise.all(pngs.map((p) => imageToChw(p, 32)));
  const probs = noGrad(() => model.forward(normalizeBatch(chw, 32, meta.mean, meta.std, 'cpu')).softmax(1).toArray() as Float32Array);
  answers.flat().forEach((prediction, i) => {
    const row = Array.from(probs.subarray(i * 10, (i + 1) * 10));
    const best = row.indexOf(Math.max(...row));
    assert.equal(prediction.index, best, `image ${i}`);
    assert.equal(prediction.label, meta.classNames[best]);
    assert.ok(Math.abs(prediction.probability - row[best]) < 1e-5);
    assert.equal(prediction.top.length, 3);
    assert.ok(prediction.top[0].probability >= prediction.top[1].probability);
  });
  // the decoded PNGs are exactly the dataset's CHW bytes, so predictions see what training saw
  const ds = syntheticDataset('test', { size: 60, seed: 9 });
  assert.deepEqual(Buffer.concat(chw), Buffer.from(ds.images.toArray() as Uint8Array));
  await classifier.close();
  await assert.rejects(classifier.classify(pngs[0]), /after close/);
});

test('raw pixels, a single image, a bad image and a bad checkpoint', async () => {
  const classifier = await Classifier.load(checkpoint, { device: 'cpu' });
  after(() => classifier.close());
  const raw = await sharp(pngs[0]).raw().toBuffer();
  const fromRaw = await classifier.classify({ data: raw, width: 32, height: 32 });
  const fromPng = await classifier.classify(pngs[0]);
  assert.equal(fromRaw.index, fromPng.index);
  assert.ok(Math.abs(fromRaw.probability - fromPng.probability) < 1e-6);
  const big = await sharp({ create: { width: 200, height: 120, channels: 4, background: '#ff0000' } }).jpeg().toBuffer();
  assert.equal(typeof (await classifier.classify(big)).label, 'string', 'any size and format is resized');
  await assert.rejects(classifier.classify(Buffer.from('not an image')), /cannot read image/);
  assert.equal(typeof (await classifier.classify(pngs[1])).label, 'string', 'still serving after a bad request');
  await classifier.close();
  await assert.rejects(Classifier.load(path.join(tmp, 'missing.safetensors')), /Cannot read checkpoint .*missing\.safetensors/);
});
