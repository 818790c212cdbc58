// Training on your own images (issue 25) through the whole run: a folder of class folders of
// real JPEGs and PNGs learns clearly above chance with the ImageNet recipe; the checkpoint records
// the classes, the split and the evaluation preprocessing; eval reuses the split; the same image
// gets the same probabilities through Classifier, predict and serve; bad images stop the run
// before it starts or are left out and recorded; an interrupted run resumes exactly.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Classifier, TrainingError, createServer, readCheckpoint, runTraining, showData, visualizePredictions, type TrainOptions } from '../src/index';
import { evaluateCheckpoint } from '../src/train/evaluate-checkpoint';
import { tempDir } from './helpers';

const tmp = tempDir('rn-folder-train-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const CLASSES = ['blue', 'green', 'red'];

/** An image of one colour with noise and a darker square somewhere (so crops differ), w x h. */
function picture(cls: number, seed: number, w: number, h: number): sharp.Sharp {
  const px = Buffer.alloc(w * h * 3);
  let s = seed * 7919 + cls * 104729 + 1;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const [sx, sy] = [Math.floor(rand() * w * 0.6), Math.floor(rand() * h * 0.6)];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dark = x >= sx && x < sx + w / 3 && y >= sy && y < sy + h / 3 ? 0.5 : 1;
      for (let c = 0; c < 3; c++) px[3 * (y * w + x) + c] = Math.round(dark * ((c === 2 - cls ? 200 : 40) + rand() * 50));
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}

/** root/<colour>/<n>.jpg|png: `perClass` images per class, of several sizes. */
async function colourFolder(root: string, perClass: number): Promise<void> {
  for (const [cls, name] of CLASSES.entries()) {
    fs.mkdirSync(path.join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const [w, h] = [40 + (i % 4) * 8, 32 + (i % 3) * 8];
      const img = picture(cls, i, w, h);
      const file = path.join(root, name, `${i}.${i % 5 === 0 ? 'png' : 'jpg'}`);
      fs.writeFileSync(file, i % 5 === 0 ? await img.png().toBuffer() : await img.jpeg({ quality: 90 }).toBuffer());
    }
  }
}

const small: TrainOptions = { arch: 'resnet18', imageSize: 32, batchSize: 16, lr: 0.05, minLr: 0.001, device: 'cpu', logEvery: 1000, curves: false, workers: 2 };

test('a folder of class folders trains clearly above chance; the checkpoint records classes, split and evaluation; eval reuses the split', async () => {
  const data = path.join(tmp, 'colours');
  await colourFolder(data, 40);
  const lines: string[] = [];
  const dir = path.join(tmp, 'run');
  const result = await runTraining({ ...small, data, epochs: 3, checkpointDir: dir }, { onLine: (l) => lines.push(l) });
  assert.match(lines.join('\n'), /Training on 96 images of 3 classes \(blue, green, red\) from .*colours \(image-folder\); evaluating on 24\./);
  // chance is 1/3: colour decides the class
  assert.ok(result.bestAccuracy > 0.6, `best accuracy ${result.bestAccuracy}`);
  const { meta } = readCheckpoint(result.bestCheckpoint);
  assert.deepEqual(meta.classNames, CLASSES);
  assert.equal(meta.numClasses, 3);
  assert.deepEqual(meta.evalTransform, { resizeSize: 36 });
  assert.deepEqual([meta.mean, meta.std], [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]);
  assert.equal(meta.data?.format, 'image-folder');
  assert.equal(meta.data?.split.kind, 'fraction');
  assert.equal(meta.data?.skippedCount, 0);
  // eval draws the same validation split and prepares it as the run did: the same accuracy
  const evaluated = await evaluateCheckpoint(result.bestCheckpoint, { device: 'cpu' });
  assert.equal(evaluated.accuracy, meta.accuracy);
  assert.deepEqual(evaluated.classNames, CLASSES);
});

test('the same image gets the same probabilities through Classifier, predict and serve (the evaluation preprocessing the checkpoint records)', async () => {
  const data = path.join(tmp, 'colours-2');
  await colourFolder(data, 12);
  const result = await runTraining({ ...small, data, epochs: 1, checkpointDir: path.join(tmp, 'run-2') }, { onLine: () => {} });
  const image = path.join(tmp, 'probe.jpg');
  fs.writeFileSync(image, await picture(1, 99, 70, 45).jpeg({ quality: 85 }).toBuffer());
  const classifier = await Classifier.load(result.bestCheckpoint, { device: 'cpu', topK: 3 });
  const viaClassifier = await classifier.classify(fs.readFileSync(image));
  await classifier.close();
  const predict = spawnSync(process.execPath, [cli, 'predict', '--checkpoint', result.bestCheckpoint, '--device', 'cpu', '--top-k', '3', '--json', image], { encoding: 'utf8' });
  assert.equal(predict.status, 0, predict.stderr);
  const viaPredict = JSON.parse(predict.stdout.trim());
  const server = await createServer({ models: { colours: result.bestCheckpoint }, device: 'cpu' });
  try {
    const base = await server.listen({ port: 0 });
    const res = await fetch(`${base}/v1/models/colours/classify?top=3`, { method: 'POST', body: fs.readFileSync(image), headers: { 'content-type': 'image/jpeg' } });
    assert.equal(res.status, 200);
    const viaServe = (await res.json()) as { top: { label: string; probability: number }[] };
    const probabilities = (top: { label: string; probability: number }[]) => Object.fromEntries(top.map((t) => [t.label, t.probability]));
    const expected = probabilities(viaClassifier.top);
    // the same pixels and the same model: equal to float32 rounding of the softmax (1e-6 absolute)
    for (const [who, top] of [['predict', viaPredict.top], ['serve', viaServe.top]] as const) {
      const got = probabilities(top);
      for (const name of CLASSES) assert.ok(Math.abs(got[name] - expected[name]) < 1e-6, `${who} ${name}: ${got[name]} vs ${expected[name]}`);
    }
  } finally {
    await server.close();
  }
});

test('a bad image stops the run before it starts, naming it; --bad-images skip trains on the rest and records what was left out', async () => {
  const data = path.join(tmp, 'with-bad');
  await colourFolder(data, 8);
  const bad = path.join(data, 'red', 'broken.jpg');
  fs.writeFileSync(bad, Buffer.from('this is not a jpeg'));
  const dir = path.join(tmp, 'bad-run');
  await assert.rejects(runTraining({ ...small, data, epochs: 1, checkpointDir: dir }, { onLine: () => {} }), (e: Error) => e.message.includes('broken.jpg'));
  assert.ok(!fs.existsSync(path.join(dir, 'resnet18-last.safetensors')), 'nothing trained');
  const lines: string[] = [];
  const skipped = await runTraining({ ...small, data, epochs: 1, badImages: 'skip', checkpointDir: path.join(tmp, 'skip-run') }, { onLine: (l) => lines.push(l) });
  assert.match(lines.join('\n'), /Left out 1 unreadable image\(s\) \(--bad-images skip\): .*broken\.jpg/);
  const { meta } = readCheckpoint(skipped.lastCheckpoint);
  assert.equal(meta.data?.skippedCount, 1);
  assert.match(meta.data!.skipped[0].file, /broken\.jpg$/);
});

test('a folder run stopped after epoch 1 and resumed ends with the same weights as an uninterrupted one', async () => {
  const data = path.join(tmp, 'colours-3');
  await colourFolder(data, 10);
  const options: TrainOptions = { ...small, data, epochs: 2, maxStepsPerEpoch: 2 };
  const whole = await runTraining({ ...options, checkpointDir: path.join(tmp, 'whole') }, { onLine: () => {} });
  const dir = path.join(tmp, 'resumed');
  const controller = new AbortController();
  await assert.rejects(
    runTraining({ ...options, checkpointDir: dir }, { onLine: () => {}, signal: controller.signal, onEvent: (e) => e.type === 'epoch' && controller.abort() }),
    (e: Error) => e instanceof TrainingError && /cancelled at epoch 2/.test(e.message),
  );
  const resumed = await runTraining({ ...options, checkpointDir: dir, resume: path.join(dir, 'resnet18-last.safetensors') }, { onLine: () => {} });
  const [a, b] = [readCheckpoint(whole.lastCheckpoint), readCheckpoint(resumed.lastCheckpoint)];
  for (const key of Object.keys(a.model)) assert.deepEqual(b.model[key].toArray(), a.model[key].toArray(), key);
  assert.deepEqual(b.meta.data?.split, a.meta.data?.split);
});

test('show-data, visualize and TensorBoard images read your images: training crops titled by class, the validation split with predictions', async () => {
  const data = path.join(tmp, 'colours-4');
  await colourFolder(data, 8);
  const logDir = path.join(tmp, 'tb');
  const run = await runTraining({ ...small, data, epochs: 1, logDir, checkpointDir: path.join(tmp, 'run-4') }, { onLine: () => {} });
  assert.ok(fs.readdirSync(logDir).some((n) => n.startsWith('events.out.tfevents.')), 'TensorBoard file written (with its sample and prediction images)');
  const samples = await showData({ data, out: path.join(tmp, 'samples.png') });
  assert.equal(samples.labels.length, 6);
  assert.ok(samples.labels.every((l) => CLASSES.includes(l)), samples.labels.join(', '));
  const meta = await sharp(samples.out).metadata();
  assert.equal(meta.format, 'png');
  // without --data: the checkpoint's own images and validation split
  const figure = await visualizePredictions(run.bestCheckpoint, { out: path.join(tmp, 'predictions.png'), device: 'cpu' });
  assert.equal(figure.items.length, 6);
  assert.ok(figure.items.every((it) => CLASSES.includes(it.actual) && CLASSES.includes(it.predicted)));
  assert.equal(figure.synthetic, false);
});
