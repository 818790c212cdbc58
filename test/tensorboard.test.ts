// TensorBoard event files: read back by TensorBoard's own reader (the tensorboard Python package's
// EventAccumulator, test/tensorboard_read.py), compared with what PyTorch's SummaryWriter writes
// (a committed fixture), cut mid-record, continued by a resumed run, written by `train --logdir`,
// and left behind by a run killed with SIGKILL.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { HParamsPluginDataProto } from '../src/tensorboard/schema';
import { SummaryWriter, readRecords, readRun, runTraining, METRICS_FILE, CURVES_FILE } from '../src/index';
import { tempDir } from './helpers';

const tmp = tempDir('rn-tensorboard-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const fixture = path.join(__dirname, 'fixtures', 'tensorboard', 'pytorch');
const tbPython = [process.env.RESNET_NATIVE_TENSORBOARD_PYTHON, '/work/venv/bin/python'].find(
  (p): p is string => p !== undefined && fs.existsSync(p) && spawnSync(p, ['-c', 'import tensorboard.backend.event_processing.event_accumulator']).status === 0,
);
const needsTensorBoard = { skip: !tbPython && 'no Python with the tensorboard package (set RESNET_NATIVE_TENSORBOARD_PYTHON; .ci/run installs one)' };

interface Seen {
  scalars: Record<string, [number, number][]>;
  images: Record<string, [number, number, number, boolean][]>;
  text: Record<string, [number, string][]>;
  hparams: Record<string, any>;
}

/** What TensorBoard itself reads from a run folder. */
function tensorboardSees(dir: string): Seen {
  const r = spawnSync(tbPython!, [path.join(__dirname, 'tensorboard_read.py'), dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const f32 = (v: number) => Math.fround(v);

async function pixelsPng(width: number, height: number, seed: number): Promise<Buffer> {
  const raw = Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + seed) % 256));
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

test('SummaryWriter: TensorBoard reads back every tag, step and value written, images, text and hparams', needsTensorBoard, async () => {
  const dir = path.join(tmp, 'writer');
  const w = new SummaryWriter(dir);
  const losses = [2.5, 2.1, 1.9, 1.7, 1.4];
  losses.forEach((l, i) => w.addScalar('train/loss', l, i + 1));
  w.addScalar('eval/accuracy', 0.625, 5);
  const png = await pixelsPng(7, 5, 3);
  w.addImage('eval/predictions', png, 5);
  w.addText('config', '| option | value |\n| --- | --- |\n| lr | 0.1 |', 0);
  w.addHparams({ lr: 0.1, arch: 'resnet18', nesterov: false }, ['eval/accuracy']);
  w.endSession('success');
  w.close();
  assert.ok(path.basename(w.file).startsWith('events.out.tfevents.'), w.file);
  const [a, b] = [new SummaryWriter(path.join(tmp, 'two')), new SummaryWriter(path.join(tmp, 'two'))];
  assert.notEqual(a.file, b.file, 'two writers in one folder at once: two files');
  a.close();
  b.close();
  const seen = tensorboardSees(dir);
  assert.deepEqual(seen.scalars['train/loss'], losses.map((l, i) => [i + 1, f32(l)]));
  assert.deepEqual(seen.scalars['eval/accuracy'], [[5, 0.625]]);
  assert.deepEqual(seen.images['eval/predictions'], [[5, 7, 5, true]]);
  assert.deepEqual(seen.text.config, [[0, '| option | value |\n| --- | --- |\n| lr | 0.1 |']]);
  const start = seen.hparams['_hparams_/session_start_info'].sessionStartInfo;
  assert.deepEqual(start.hparams, { lr: 0.1, arch: 'resnet18', nesterov: false });
  const experiment = seen.hparams['_hparams_/experiment'].experiment;
  assert.deepEqual(experiment.hparamInfos.map((h: any) => [h.name, h.type]), [['lr', 'DATA_TYPE_FLOAT64'], ['arch', 'DATA_TYPE_STRING'], ['nesterov', 'DATA_TYPE_BOOL']]);
  assert.deepEqual(experiment.metricInfos.map((m: any) => m.name.tag), ['eval/accuracy']);
  assert.equal(seen.hparams['_hparams_/session_end_info'].sessionEndInfo.status, 'STATUS_SUCCESS');
  // our own reader agrees
  const run = readRun(dir);
  assert.deepEqual(run.scalars.get('train/loss')!.map((p) => [p.step, p.value]), losses.map((l, i) => [i + 1, f32(l)]));
  assert.equal(run.trailingBytes, 0);
  // a closed writer refuses more, naming its file
  assert.throws(() => w.addScalar('x', 1, 1), /SummaryWriter .*events\.out\.tfevents.* is closed/);
  assert.throws(() => new SummaryWriter(dir).addImage('bad', Buffer.from('not a png'), 0), /expected an encoded PNG/);
});

test("PyTorch's SummaryWriter: its event files parse here, and ours parse the same way in TensorBoard", needsTensorBoard, async () => {
  const expected = JSON.parse(fs.readFileSync(path.join(fixture, 'expected.json'), 'utf8'));
  // our reader on PyTorch's files
  const theirs = readRun(fixture);
  for (const [tag, points] of Object.entries(expected.scalars) as [string, [number, number][]][]) {
    assert.deepEqual(theirs.scalars.get(tag)!.map((p) => [p.step, p.value]), points.map(([s, v]) => [s, f32(v)]), tag);
  }
  const image = theirs.events.flatMap((e) => e.summary?.value ?? []).find((v) => v.image)!;
  const decoded = await sharp(Buffer.from(image.image!.encoded_image_string)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([decoded.info.width, decoded.info.height], [expected.image.width, expected.image.height]);
  assert.deepEqual(Array.from(decoded.data), expected.image.pixels);
  const hp = theirs.events.flatMap((e) => e.summary?.value ?? []).find((v) => v.tag === '_hparams_/session_start_info')!;
  const startInfo = HParamsPluginDataProto.toObject(HParamsPluginDataProto.decode(hp.metadata!.plugin_data!.content!)) as any;
  assert.deepEqual(startInfo.session_start_info.hparams.arch, { string_value: 'resnet18' });

  // the same things through our writer, read by TensorBoard next to PyTorch's
  const dir = path.join(tmp, 'like-pytorch');
  const w = new SummaryWriter(dir);
  for (const [tag, points] of Object.entries(expected.scalars) as [string, [number, number][]][]) for (const [s, v] of points) w.addScalar(tag, v, s);
  w.addText('notes/text_summary', expected.text.notes[0][1], 0); // (PyTorch appends /text_summary to text tags)
  const { width, height, pixels } = expected.image;
  w.addImage(expected.image.tag, await sharp(Buffer.from(pixels), { raw: { width, height, channels: 3 } }).png().toBuffer(), expected.image.step);
  w.addHparams(expected.hparams.hparams, Object.keys(expected.hparams.metrics));
  for (const [tag, v] of Object.entries(expected.hparams.metrics) as [string, number][]) w.addScalar(tag, v, 0);
  w.endSession('success');
  w.close();
  const ours = tensorboardSees(dir);
  const pytorch = tensorboardSees(fixture);
  assert.deepEqual(ours.scalars, pytorch.scalars);
  assert.deepEqual(ours.images, pytorch.images);
  assert.deepEqual(ours.text, pytorch.text);
  assert.deepEqual(Object.keys(ours.hparams).sort(), Object.keys(pytorch.hparams).sort());
  assert.deepEqual(ours.hparams['_hparams_/session_end_info'].sessionEndInfo.status, pytorch.hparams['_hparams_/session_end_info'].sessionEndInfo.status);
  const [o, p] = [ours, pytorch].map((s) => s.hparams['_hparams_/session_start_info'].sessionStartInfo.hparams);
  // PyTorch stores a boolean hparam as 1.0; ours stays a boolean (TensorBoard shows true/false)
  assert.deepEqual({ ...o, nesterov: o.nesterov ? 1 : 0 }, p);
  assert.deepEqual(
    ours.hparams['_hparams_/experiment'].experiment.metricInfos.map((m: any) => m.name.tag),
    pytorch.hparams['_hparams_/experiment'].experiment.metricInfos.map((m: any) => m.name.tag),
  );
});

test('a truncated event file (cut mid-record) still yields every whole record', needsTensorBoard, () => {
  const dir = path.join(tmp, 'whole');
  const w = new SummaryWriter(dir);
  for (let s = 1; s <= 20; s++) w.addScalar('train/loss', 1 / s, s);
  w.close();
  const bytes = fs.readFileSync(w.file);
  const lastRecord = 12 + readRecords(bytes).records.at(-1)!.length + 4;
  // cut inside the last record's data, and 6 bytes into its length field
  for (const [name, cut] of [['mid-data', 9], ['mid-length', lastRecord - 6]] as const) {
    const cutDir = path.join(tmp, `cut-${name}`);
    fs.mkdirSync(cutDir);
    const kept = bytes.subarray(0, bytes.length - cut);
    fs.writeFileSync(path.join(cutDir, path.basename(w.file)), kept);
    const ours = readRun(cutDir);
    const steps = ours.scalars.get('train/loss')!.map((p) => p.step);
    assert.ok(steps.length >= 18 && steps.length < 20, `${name}: ${steps.length} records`);
    assert.deepEqual(steps, Array.from({ length: steps.length }, (_, i) => i + 1));
    assert.ok(ours.trailingBytes > 0);
    assert.deepEqual(tensorboardSees(cutDir).scalars['train/loss'].map(([s]) => s), steps, `${name}: TensorBoard reads the same whole records`);
  }
  // a flipped byte inside a record is named, not read as data
  const corrupt = Buffer.from(bytes);
  corrupt[60] ^= 0xff;
  const corruptDir = path.join(tmp, 'corrupt');
  fs.mkdirSync(corruptDir);
  fs.writeFileSync(path.join(corruptDir, path.basename(w.file)), corrupt);
  assert.throws(() => readRun(corruptDir), /events\.out\.tfevents.*: the record at byte \d+ has corrupt (data|length) \(CRC mismatch\)/);
});

test('a resumed writer continues the curve: TensorBoard drops the earlier steps from the resume step on', needsTensorBoard, () => {
  const dir = path.join(tmp, 'resumed');
  const first = new SummaryWriter(dir);
  for (let s = 1; s <= 10; s++) first.addScalar('train/loss', 10 - s, s);
  first.close();
  const second = new SummaryWriter(dir, { purgeStep: 6 });
  for (let s = 6; s <= 8; s++) second.addScalar('train/loss', 100 + s, s);
  second.close();
  const expected = [...[1, 2, 3, 4, 5].map((s) => [s, 10 - s]), ...[6, 7, 8].map((s) => [s, 100 + s])];
  assert.deepEqual(tensorboardSees(dir).scalars['train/loss'], expected);
  assert.deepEqual(readRun(dir).scalars.get('train/loss')!.map((p) => [p.step, p.value]), expected);
});

test('train --logdir: scalars, per-class accuracy, images, config and hparams; --resume continues one curve; curves.png and metrics.ndjson', needsTensorBoard, async () => {
  const logDir = path.join(tmp, 'runs', 'tiny');
  const checkpointDir = path.join(tmp, 'ck');
  const base = { arch: 'resnet18' as const, batchSize: 16, lr: 0.05, maxStepsPerEpoch: 3, device: 'cpu' as const, syntheticSize: { train: 96, test: 32 }, checkpointDir, logDir };
  const first = await runTraining({ ...base, epochs: 1 }, { onLine: () => {} });
  await runTraining({ ...base, epochs: 2, resume: first.lastCheckpoint }, { onLine: () => {} });
  const seen = tensorboardSees(logDir);
  assert.deepEqual(seen.scalars['train/loss'].map(([s]) => s), [1, 2, 3, 4, 5, 6]);
  for (const tag of ['train/lr', 'train/images_per_second']) assert.equal(seen.scalars[tag].length, 6, tag);
  for (const tag of ['eval/accuracy', 'eval/best_accuracy', 'train/average_loss']) assert.deepEqual(seen.scalars[tag].map(([s]) => s), [3, 6], tag);
  assert.equal(Object.keys(seen.scalars).filter((t) => t.startsWith('eval/accuracy/')).length, 10, 'accuracy per class');
  assert.deepEqual(seen.images['train/samples'].map(([s]) => s), [0]);
  assert.ok(seen.images['eval/predictions_of_best_model'].length >= 1 && seen.images['eval/predictions_of_best_model'].every((r) => r[3]));
  assert.match(seen.text.config[0][1], /\| arch \| "resnet18" \|/);
  const hparams = seen.hparams['_hparams_/session_start_info'].sessionStartInfo.hparams;
  assert.equal(hparams.arch, 'resnet18');
  assert.equal(hparams.lr, 0.05);
  assert.equal(hparams.checkpointDir, undefined, 'where a run is kept is not a hyperparameter');
  assert.equal(seen.hparams['_hparams_/session_end_info'].sessionEndInfo.status, 'STATUS_SUCCESS');
  assert.equal(fs.readdirSync(logDir).filter((n) => n.startsWith('events.out.tfevents.')).length, 2, 'one file per run, in the same folder');
  // without TensorBoard: the metrics log and the picture, covering both runs
  const lines = fs.readFileSync(path.join(checkpointDir, METRICS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.filter((l) => l.type === 'step').map((l) => l.globalStep), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(lines.filter((l) => l.type === 'epoch').map((l) => l.epoch), [1, 2]);
  const meta = await sharp(path.join(checkpointDir, CURVES_FILE)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1500, 460]);
  assert.equal(seen.scalars['train/loss_scale'], undefined, 'no loss scale without loss scaling');

  // with loss scaling, the scale of every step
  const scaledDir = path.join(tmp, 'runs', 'scaled');
  const scales: number[] = [];
  await runTraining(
    { ...base, amp: 'float16', imageSize: 16, batchSize: 8, epochs: 1, maxStepsPerEpoch: 2, lossScaling: { initScale: 2 ** 30 }, checkpointDir: path.join(tmp, 'ck-scaled'), logDir: scaledDir },
    { onLine: () => {}, onEvent: (e) => e.type === 'step' && scales.push(e.lossScale!) },
  );
  assert.deepEqual(tensorboardSees(scaledDir).scalars['train/loss_scale'], scales.map((v, i) => [i + 1, v]));
});

test('a cancelled run: its event file is complete, the steps it made are there, the session ends as not successful', needsTensorBoard, async () => {
  const logDir = path.join(tmp, 'runs', 'cancelled');
  const controller = new AbortController();
  await assert.rejects(
    runTraining(
      { arch: 'resnet18', batchSize: 8, maxStepsPerEpoch: 6, epochs: 3, device: 'cpu', syntheticSize: { train: 96, test: 16 }, checkpointDir: path.join(tmp, 'ck-cancelled'), logDir },
      { onLine: () => {}, signal: controller.signal, onEvent: (e) => e.type === 'step' && e.globalStep === 3 && controller.abort() },
    ),
    /cancelled/,
  );
  const seen = tensorboardSees(logDir);
  assert.deepEqual(seen.scalars['train/loss'].map(([s]) => s).slice(0, 3), [1, 2, 3]);
  assert.equal(seen.hparams['_hparams_/session_end_info'].sessionEndInfo.status, 'STATUS_FAILURE');
  assert.equal(readRun(logDir).trailingBytes, 0);
});

test('a bad logDir is refused naming it', async () => {
  const file = path.join(tmp, 'a-file');
  fs.writeFileSync(file, 'x');
  const options = { arch: 'resnet18' as const, batchSize: 8, maxStepsPerEpoch: 1, epochs: 1, device: 'cpu' as const, syntheticSize: { train: 16, test: 8 }, checkpointDir: path.join(tmp, 'ck-bad') };
  await assert.rejects(runTraining({ ...options, logDir: path.join(file, 'run') }, { onLine: () => {} }), /TensorBoard log folder .*a-file\/run cannot be made: .*a-file is a file, not a folder; pass another --logdir/);
  await assert.rejects(runTraining({ ...options, logDir: '' }, { onLine: () => {} }), /logDir/);
  const usage = spawnSync(process.execPath, [cli, 'train', '--logdir', ''], { encoding: 'utf8' });
  assert.equal(usage.status, 2, usage.stderr);
  assert.match(usage.stderr, /Expected non-empty path for --logdir/);
});

test('a run killed with SIGKILL leaves event files TensorBoard reads up to the last flush', needsTensorBoard, async () => {
  const logDir = path.join(tmp, 'runs', 'killed');
  const args = [cli, 'train', '--arch', 'resnet18', '--epochs', '50', '--batch-size', '8', '--max-steps-per-epoch', '20', '--checkpoint-dir', path.join(tmp, 'ck-killed'), '--logdir', logDir];
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  let steps = 0;
  for (let i = 0; i < 600 && steps < 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      steps = readRun(logDir).scalars.get('train/loss')?.length ?? 0;
    } catch {
      // no event file yet
    }
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(steps >= 5, `only ${steps} steps reached the event file before the kill`);
  const seen = tensorboardSees(logDir).scalars['train/loss'].map(([s]) => s);
  assert.ok(seen.length >= steps, `TensorBoard read ${seen.length} steps, ${steps} were there before the kill`);
  assert.deepEqual(seen, Array.from({ length: seen.length }, (_, i) => i + 1));
});
