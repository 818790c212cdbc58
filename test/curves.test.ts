// curves.png and `plot`: a PNG of the expected size whose lines are drawn where the data says,
// from a run's event files, its metrics.ndjson or the output of `train --json`.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CURVE_COLORS, SummaryWriter, curvesLayout, historyFromNdjson, loadHistory, niceTicks, renderCurves, smooth, toPixel, type RunHistory } from '../src/index';
import { collectGarbage, tempDir } from './helpers';

const tmp = tempDir('rn-curves-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');

const history: RunHistory = {
  steps: Array.from({ length: 40 }, (_, i) => ({ step: i + 1, loss: 2.3 * Math.exp(-i / 15) + 0.1 * Math.sin(i), lr: 0.1 * Math.cos((i / 40) * (Math.PI / 2)) })),
  epochs: [1, 2, 3, 4].map((epoch) => ({ epoch, accuracy: 0.2 * epoch })),
};

const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

async function pixelAt(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (Math.round(y) * info.width + Math.round(x)) * 3;
  return [data[i], data[i + 1], data[i + 2]];
}

function assertColor(actual: number[], expected: string, what: string, tolerance = 40): void {
  const want = hex(expected);
  assert.ok(actual.every((v, i) => Math.abs(v - want[i]) <= tolerance), `${what}: pixel ${actual} is not ${expected} (${want})`);
}

test('curves.png: the size asked for, and the loss, accuracy and learning-rate lines where the data puts them', async () => {
  const layout = curvesLayout(history);
  const png = await renderCurves(history, layout);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1500, 460]);
  const smoothed = smooth(history.steps.map((s) => s.loss));
  assert.equal(smoothed[0], history.steps[0].loss, 'the smoothed line starts at the first loss (debiased)');
  const first = toPixel(layout.loss, 1, smoothed[0]);
  const last = toPixel(layout.loss, 40, smoothed[39]);
  assertColor(await pixelAt(png, ...first), CURVE_COLORS.loss, 'smoothed loss at step 1');
  assertColor(await pixelAt(png, ...last), CURVE_COLORS.loss, 'smoothed loss at step 40');
  assert.ok(first[1] < last[1], 'the loss falls: its line ends lower than it starts');
  assertColor(await pixelAt(png, ...toPixel(layout.accuracy, 4, 0.8)), CURVE_COLORS.accuracy, 'accuracy of epoch 4');
  assertColor(await pixelAt(png, ...toPixel(layout.lr, 20, history.steps[19].lr)), CURVE_COLORS.lr, 'learning rate at step 20');
  // away from every line, the plot area is white
  assertColor(await pixelAt(png, ...toPixel(layout.accuracy, 1.5, 0.75)), '#ffffff', 'empty plot area', 8);
  // ticks are round numbers covering the data
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

test('drawing curves again and again: memory levels off (libvips and allocator caches are bounded)', async () => {
  const rss: number[] = [];
  for (let i = 0; i < 160; i++) {
    const steps = Array.from({ length: 40 + i }, (_, j) => ({ step: j + 1, loss: 2 / (1 + j / 50), lr: 0.1 }));
    await renderCurves({ steps, epochs: [{ epoch: 1, accuracy: 0.1 }] });
    if (i === 59 || i === 159) {
      collectGarbage(); // the PNG buffers are external memory, freed with their garbage
      rss.push(process.memoryUsage().rss);
    }
  }
  // A leaked bitmap (1500 x 460 x 4 bytes) would add 260 MiB over these 100 pictures; glibc's arenas
  // for libvips's threads can add a few tens of MiB once, at any point (35 MiB seen in one CI run).
  const growth = (rss[1] - rss[0]) / 2 ** 20;
  assert.ok(growth < 80, `RSS grew ${growth.toFixed(0)} MiB from the 60th to the 160th picture`);
});

test('plot: from the output of train --json, from event files and from a checkpoint folder; bad input is named', async () => {
  const lines = [
    JSON.stringify({ type: 'start', stepsPerEpoch: 20 }),
    ...history.steps.map((s) => JSON.stringify({ type: 'step', globalStep: s.step, loss: s.loss, lr: s.lr })),
    ...history.epochs.map((e) => JSON.stringify({ type: 'epoch', epoch: e.epoch, accuracy: e.accuracy })),
  ];
  const log = path.join(tmp, 'train.ndjson');
  fs.writeFileSync(log, `${lines.join('\n')}\n{"type":"step","glo`); // a run still writing its last line
  const fromLog = loadHistory(log);
  assert.equal(fromLog.steps.length, 40);
  assert.deepEqual(fromLog.epochs, history.epochs);
  const out = path.join(tmp, 'from-log.png');
  const r = spawnSync(process.execPath, [cli, 'plot', log, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Saved .*from-log\.png: 40 steps, 4 epochs/);
  assert.equal((await sharp(out).metadata()).width, 1500);

  const runDir = path.join(tmp, 'run');
  const w = new SummaryWriter(runDir);
  for (const s of history.steps) {
    w.addScalar('train/loss', s.loss, s.step);
    w.addScalar('train/lr', s.lr, s.step);
  }
  history.epochs.forEach((e) => w.addScalar('eval/accuracy', e.accuracy, e.epoch * 10));
  w.close();
  const fromRun = loadHistory(runDir);
  assert.deepEqual(fromRun.steps.map((s) => s.step), history.steps.map((s) => s.step));
  assert.deepEqual(fromRun.epochs.map((e) => e.epoch), [1, 2, 3, 4]);
  assert.ok(fromRun.steps.every((s, i) => Math.abs(s.loss - history.steps[i].loss) < 1e-6));

  const checkpointDir = path.join(tmp, 'ck');
  fs.mkdirSync(checkpointDir);
  fs.writeFileSync(path.join(checkpointDir, 'metrics.ndjson'), `${lines.join('\n')}\n`);
  assert.equal(loadHistory(checkpointDir).steps.length, 40);

  assert.throws(() => historyFromNdjson('{"type":"step"}\nnot json\n', 'x.ndjson'), /x\.ndjson:2: not a JSON line/);
  const missing = spawnSync(process.execPath, [cli, 'plot', path.join(tmp, 'nothing-here')], { encoding: 'utf8' });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /nothing-here: no such file or folder/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  assert.throws(() => loadHistory(empty), /no TensorBoard event files .* and no metrics\.ndjson/);
});
