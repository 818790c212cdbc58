// The training options of issue 27 through the whole run (runTraining): gradient accumulation
// (steps count optimizer steps, the schedule too), gradient clipping, the weights EMA (its file,
// line, event and accuracy), weight-decay groups, and a resume that keeps every state exactly.
// Their numerics against PyTorch are in test/optim-*.test.ts and test/step-runner.test.ts.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { DataLoader, TrainingError, checkTrainOptions, evaluate, modelFromCheckpoint, readCheckpoint, resnet18, runTraining, syntheticDataset, testTransforms, type TrainEvent, type TrainOptions } from '../src/index';
import { optimizerFor } from '../src/train/setup';
import { tempDir } from './helpers';

const tmp = tempDir('rn-train-options-');
const tiny: TrainOptions = { arch: 'resnet18', batchSize: 8, lr: 0.05, minLr: 0.001, device: 'cpu', stem: 'cifar', imageSize: 16, syntheticSize: { train: 80, test: 32 }, logEvery: 1, curves: false };

/** Every parameter's values, by name. */
function parameters(file: string): Record<string, number[]> {
  const { model, meta } = modelFromCheckpoint(file, 'cpu');
  try {
    void meta;
    return Object.fromEntries(model.namedParameters().map(([name, p]) => [name, Array.from(p.toArray() as Float32Array)]));
  } finally {
    model.dispose();
  }
}

test('gradient accumulation: every step count is of optimizer steps (lines, events, schedule, checkpoint); a short last group still steps', async () => {
  const events: TrainEvent[] = [];
  const lines: string[] = [];
  // 80 images in batches of 8: 10 batches an epoch, in steps of 4 batches: 4 + 4 + 2
  const options: TrainOptions = { ...tiny, epochs: 2, accumulateSteps: 4, schedule: 'warmup-cosine', warmupSteps: 2 };
  const result = await runTraining({ ...options, checkpointDir: path.join(tmp, 'accumulate') }, { onLine: (l) => lines.push(l), onEvent: (e) => events.push(e) });
  assert.equal(result.steps, 6, '3 optimizer steps an epoch');
  const steps = events.filter((e): e is Extract<TrainEvent, { type: 'step' }> => e.type === 'step');
  assert.deepEqual(steps.map((s) => [s.epoch, s.step, s.stepsPerEpoch, s.globalStep]), [
    [1, 1, 3, 1], [1, 2, 3, 2], [1, 3, 3, 3],
    [2, 1, 3, 4], [2, 2, 3, 5], [2, 3, 3, 6],
  ]);
  assert.deepEqual(lines.filter((l) => l.includes('Steps:')).map((l) => /Steps: \[\s*(\d+)\/\s*(\d+)\]/.exec(l)!.slice(1).join('/')), ['1/3', '2/3', '3/3', '1/3', '2/3', '3/3']);
  // the schedule counts optimizer steps: warm-up over steps 0 and 1, then cosine to minLr at step 6
  assert.ok(steps[0].lr < steps[1].lr && steps[1].lr <= 0.05, `warm-up: ${steps.map((s) => s.lr)}`);
  assert.ok(steps[2].lr > steps[5].lr, 'then decay');
  const start = events.find((e) => e.type === 'start') as Extract<TrainEvent, { type: 'start' }>;
  assert.equal(start.stepsPerEpoch, 3);
  assert.equal(readCheckpoint(result.lastCheckpoint).meta.step, 6);
  assert.ok(steps.every((s) => Number.isFinite(s.loss) && s.loss > 0));

  // maxStepsPerEpoch counts optimizer steps too: 2 steps of 4 batches
  const cut = await runTraining({ ...options, epochs: 1, maxStepsPerEpoch: 2, checkpointDir: path.join(tmp, 'accumulate-cut') }, { onLine: () => {} });
  assert.equal(cut.steps, 2);
});

test('gradient clipping bounds each update: one plain SGD step moves the parameters by at most lr x clipGradNorm', async () => {
  const one: TrainOptions = { ...tiny, epochs: 1, maxStepsPerEpoch: 1, momentum: 0, schedule: 'step', lr: 0.1 };
  // lr 0 leaves the parameters as initialised (same seed): the starting point
  const before = parameters((await runTraining({ ...one, lr: 0, minLr: 0, checkpointDir: path.join(tmp, 'clip-0') }, { onLine: () => {} })).lastCheckpoint);
  const moved = (file: string) => {
    const after = parameters(file);
    let sq = 0;
    for (const [name, values] of Object.entries(before)) values.forEach((v, i) => (sq += (after[name][i] - v) ** 2));
    return Math.sqrt(sq);
  };
  const clip = 0.05;
  const clipped = moved((await runTraining({ ...one, clipGradNorm: clip, checkpointDir: path.join(tmp, 'clip-on') }, { onLine: () => {} })).lastCheckpoint);
  const free = moved((await runTraining({ ...one, checkpointDir: path.join(tmp, 'clip-off') }, { onLine: () => {} })).lastCheckpoint);
  // clip_coef = maxNorm / (norm + 1e-6): the step is at most lr * maxNorm; 1e-3 relative for the
  // rounding of float32 weights (updates of ~1e-6 per weight, measured as differences of weights)
  assert.ok(clipped <= 0.1 * clip * (1 + 1e-3), `clipped update ${clipped} > ${0.1 * clip}`);
  assert.ok(clipped > 0.1 * clip * 0.99, `the clipped update is the full ${0.1 * clip}: ${clipped}`);
  assert.ok(free > 2 * clipped, `without clipping the update is larger: ${free}`);
});

test('the weights EMA: decay 0 updated every step equals the weights; its file, line, event and accuracy agree', async () => {
  const events: TrainEvent[] = [];
  const lines: string[] = [];
  const dir = path.join(tmp, 'ema-copy');
  const result = await runTraining({ ...tiny, epochs: 2, maxStepsPerEpoch: 3, emaDecay: 0, emaEvery: 1, checkpointDir: dir }, { onLine: (l) => lines.push(l), onEvent: (e) => events.push(e) });
  const emaFile = path.join(dir, 'resnet18-ema.safetensors');
  assert.deepEqual(parameters(emaFile), parameters(result.lastCheckpoint), 'an average with decay 0 is the last weights');
  assert.ok(lines.some((l) => /^Weights EMA: decay 0\.00000 per update, every 1 steps/.test(l)), 'the decay per update is said');
  const emaLines = lines.filter((l) => /^Epoch: \[ {2}\d\/ {2}2\], EMA Accuracy: \[\d\.\d{3}\]$/.test(l));
  assert.equal(emaLines.length, 2, lines.join('\n'));
  const epochs = events.filter((e): e is Extract<TrainEvent, { type: 'epoch' }> => e.type === 'epoch');
  assert.ok(epochs.every((e) => typeof e.emaAccuracy === 'number'));
  const written = events.filter((e) => e.type === 'checkpoint' && e.kind === 'ema');
  assert.equal(written.length, 2, 'an -ema file each epoch');
  // the file is a model eval / predict / serve load, with the EMA's own accuracy
  const { model, meta } = modelFromCheckpoint(emaFile, 'cpu');
  assert.equal(meta.role, 'ema');
  assert.equal(meta.accuracy, epochs[1].emaAccuracy);
  const loader = new DataLoader(syntheticDataset('test', { size: 32 }), { batchSize: 8, seed: 1, transform: testTransforms({ imageSize: 16 }) });
  assert.equal((await evaluate(model, loader)).accuracy, epochs[1].emaAccuracy);
  model.dispose();
  // a run without EMA has none: no line, null in the event
  const plain: TrainEvent[] = [];
  await runTraining({ ...tiny, epochs: 1, maxStepsPerEpoch: 1, checkpointDir: path.join(tmp, 'no-ema') }, { onLine: () => {}, onEvent: (e) => plain.push(e) });
  assert.equal((plain.find((e) => e.type === 'epoch') as Extract<TrainEvent, { type: 'epoch' }>).emaAccuracy, null);
});

test('a run with accumulation, clipping, an EMA and AdamW over weight-decay groups, stopped after epoch 1 and resumed, ends exactly as an uninterrupted run', async () => {
  const options: TrainOptions = { ...tiny, epochs: 2, maxStepsPerEpoch: 2, accumulateSteps: 2, clipGradNorm: 0.5, emaDecay: 0.9999, emaEvery: 1, optimizer: 'adamw', noWeightDecayOn: ['norm', 'bias'], weightDecay: 0.1 };
  const whole = await runTraining({ ...options, checkpointDir: path.join(tmp, 'whole') }, { onLine: () => {} });
  const dir = path.join(tmp, 'resumed');
  const controller = new AbortController();
  await assert.rejects(
    runTraining({ ...options, checkpointDir: dir }, { onLine: () => {}, signal: controller.signal, onEvent: (e) => e.type === 'epoch' && controller.abort() }),
    (e: Error) => e instanceof TrainingError && /cancelled at epoch 2, step 1/.test(e.message),
  );
  const resumed = await runTraining({ ...options, checkpointDir: dir, resume: path.join(dir, 'resnet18-last.safetensors') }, { onLine: () => {} });
  assert.equal(resumed.steps, whole.steps);
  const a = readCheckpoint(whole.lastCheckpoint);
  const b = readCheckpoint(resumed.lastCheckpoint);
  for (const part of ['model', 'optimizer', 'ema'] as const) {
    assert.ok(Object.keys(a[part]).length > 0, `${part} state is kept`);
    assert.deepEqual(Object.keys(b[part]).sort(), Object.keys(a[part]).sort());
    for (const key of Object.keys(a[part])) assert.deepEqual(b[part][key].toArray(), a[part][key].toArray(), `${part} ${key}`);
  }
  assert.deepEqual(parameters(path.join(dir, 'resnet18-ema.safetensors')), parameters(path.join(tmp, 'whole', 'resnet18-ema.safetensors')));
  // and a run that kept no EMA cannot be continued with one
  await assert.rejects(
    runTraining({ ...tiny, epochs: 3, maxStepsPerEpoch: 1, emaDecay: 0.99, checkpointDir: path.join(tmp, 'clip-on'), resume: path.join(tmp, 'clip-on', 'resnet18-last.safetensors'), momentum: 0, schedule: 'step', lr: 0.1 }, { onLine: () => {} }),
    /cannot resume from .*: it holds no weights EMA/,
  );
});

test('noWeightDecayOn gives the run torchvision reference groups: no decay on BatchNorm and / or biases, the rest keep it', () => {
  const model = resnet18({ numClasses: 10, stem: 'cifar', device: 'cpu' });
  try {
    const decayOf = (noWeightDecayOn: TrainOptions['noWeightDecayOn']) => {
      const c = checkTrainOptions({ ...tiny, optimizer: 'sgd', weightDecay: 0.5, noWeightDecayOn });
      const optimizer = optimizerFor(c, model, 0.1);
      const decay = new Map(optimizer.groups.flatMap((g) => g.parameters.map((name) => [name, g.weightDecay] as const)));
      optimizer.dispose();
      return decay;
    };
    const names = model.namedParameters().map(([n]) => n);
    const isNorm = (n: string) => /(^|\.)bn\d\.|downsample\.1\./.test(n);
    const both = decayOf(['norm', 'bias']);
    assert.equal(both.size, names.length, 'every parameter in exactly one group');
    for (const n of names) assert.equal(both.get(n), isNorm(n) || n.endsWith('.bias') ? 0 : 0.5, n);
    const bias = decayOf(['bias']);
    for (const n of names) assert.equal(bias.get(n), n.endsWith('.bias') ? 0 : 0.5, n);
    const none = decayOf(undefined);
    assert.ok(names.every((n) => none.get(n) === 0.5));
  } finally {
    model.dispose();
  }
});

test('freeze backbone trains the head alone: every other parameter stays as the weights it started from', async () => {
  const start = (await runTraining({ ...tiny, epochs: 1, maxStepsPerEpoch: 1, lr: 0, minLr: 0, checkpointDir: path.join(tmp, 'freeze-start') }, { onLine: () => {} })).lastCheckpoint;
  const frozen = await runTraining({ ...tiny, epochs: 1, maxStepsPerEpoch: 2, weights: start, freeze: 'backbone', checkpointDir: path.join(tmp, 'freeze') }, { onLine: () => {} });
  const [before, after] = [parameters(start), parameters(frozen.lastCheckpoint)];
  const changed = Object.keys(before).filter((name) => before[name].some((v, i) => v !== after[name][i]));
  assert.deepEqual(changed.sort(), ['fc.bias', 'fc.weight']);
  // the optimizer holds state for the trained parameters only, and the run resumes
  const state = readCheckpoint(frozen.lastCheckpoint).optimizer;
  assert.deepEqual(Object.keys(state).map((k) => k.replace(/^momentum_buffer\./, '')).sort(), ['fc.bias', 'fc.weight']);
  const resumed = await runTraining({ ...tiny, epochs: 2, maxStepsPerEpoch: 2, freeze: 'backbone', resume: frozen.lastCheckpoint, checkpointDir: path.join(tmp, 'freeze') }, { onLine: () => {} });
  assert.equal(resumed.steps, 4);
});

test('headLr gives the head its own rate, scheduled with the rest (ratio kept), with or without the weight-decay groups', () => {
  const model = resnet18({ numClasses: 10, stem: 'cifar', device: 'cpu' });
  try {
    const lrOf = (options: TrainOptions) => {
      const optimizer = optimizerFor(checkTrainOptions({ ...tiny, lr: 0.1, ...options }), model);
      const before = new Map(optimizer.groups.flatMap((g) => g.parameters.map((name) => [name, g.lr] as const)));
      optimizer.lr = 0.05; // what the schedule does before a step
      const after = new Map(optimizer.groups.flatMap((g) => g.parameters.map((name) => [name, g.lr] as const)));
      const groups = optimizer.groups.length;
      optimizer.dispose();
      return { before, after, groups };
    };
    const head = lrOf({ headLr: 1 });
    assert.equal(head.groups, 2);
    assert.equal(head.before.get('fc.weight'), 1);
    assert.equal(head.before.get('conv1.weight'), 0.1);
    assert.equal(head.after.get('fc.bias'), 0.5);
    assert.equal(head.after.get('layer4.1.conv2.weight'), 0.05);
    const both = lrOf({ headLr: 1, noWeightDecayOn: ['norm', 'bias'], weightDecay: 0.1 });
    // others (fc.weight's head part), norm (BatchNorm weights: no head part), bias (fc.bias's head part)
    assert.equal(both.groups, 5, 'the reference groups, each split into backbone and head where it has both');
    assert.equal(both.after.get('fc.bias'), 0.5);
    assert.equal(both.after.get('bn1.weight'), 0.05);
  } finally {
    model.dispose();
  }
  assert.throws(() => checkTrainOptions({ ...tiny, lr: 0, headLr: 0.1 }), /headLr \(--head-lr\) is scheduled relative to lr/);
});

test('bad values of the new options are refused with the option named, before anything starts', () => {
  const refuses = (options: TrainOptions, pattern: RegExp) => assert.throws(() => checkTrainOptions({ ...tiny, ...options }), pattern);
  refuses({ accumulateSteps: 0 }, /accumulateSteps/);
  refuses({ accumulateSteps: 1.5 }, /accumulateSteps/);
  refuses({ clipGradNorm: 0 }, /clipGradNorm/);
  refuses({ clipGradNorm: -1 }, /clipGradNorm/);
  refuses({ clipGradNorm: Number.NaN }, /clipGradNorm/);
  refuses({ emaDecay: 1 }, /emaDecay/);
  refuses({ emaDecay: -0.1 }, /emaDecay/);
  refuses({ emaEvery: 0 }, /emaEvery/);
  refuses({ freeze: 'head' as 'none' }, /freeze/);
  refuses({ headLr: -1 }, /headLr/);
  refuses({ noWeightDecayOn: ['weights' as 'norm'] }, /noWeightDecayOn/);
  refuses({ noWeightDecayOn: 'norm' as unknown as ['norm'] }, /noWeightDecayOn/);
  refuses({ cudaGraph: true, accumulateSteps: 2 }, /cudaGraph .*accumulateSteps/);
  refuses({ cudaGraph: true, clipGradNorm: 1 }, /cudaGraph does not clip gradients \(clipGradNorm\)/);
});
