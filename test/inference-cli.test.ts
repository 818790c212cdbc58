// predict and visualize: a checkpoint from a short synthetic run, the commands' output, and the
// prediction figure's title colours (blue right, red wrong) read back from the PNG.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { runTraining } from '../src/index';
import { tempDir } from './helpers';

const tmp = tempDir('rn-infer-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
let checkpoint: string;

before(async () => {
  const result = await runTraining(
    { arch: 'resnet18', epochs: 1, batchSize: 16, lr: 0.05, maxStepsPerEpoch: 25, device: 'cpu', syntheticSize: { train: 400, test: 64 }, checkpointDir: tmp },
    { onLine: () => {} },
  );
  checkpoint = result.bestCheckpoint;
});

test('visualize: 6 images titled predict:<class>, blue when right and red when wrong', async () => {
  const out = path.join(tmp, 'predictions.png');
  const res = run('visualize', '--checkpoint', checkpoint, '--out', out, '--device', 'cpu');
  assert.equal(res.status, 0, res.stderr);
  const items = res.stdout.split('\n').filter((l) => l.startsWith('predict:'));
  assert.equal(items.length, 6);
  const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  const slotW = (info.width - 12) / 3;
  items.forEach((line, i) => {
    const correct = line.endsWith(' right');
    assert.match(line, /^predict:\S+ \(actual \S+\) (right|wrong)$/);
    let blue = 0;
    let red = 0;
    const top = 12 + Math.floor(i / 3) * (info.height - 12) / 2;
    for (let y = top; y < top + 26; y++) {
      for (let x = 12 + (i % 3) * slotW; x < 12 + ((i % 3) + 1) * slotW - 12; x++) {
        const o = (Math.floor(y) * info.width + Math.floor(x)) * info.channels;
        if (data[o + 2] > 180 && data[o] < 90 && data[o + 1] < 90) blue++;
        if (data[o] > 180 && data[o + 1] < 90 && data[o + 2] < 90) red++;
      }
    }
    assert.ok(correct ? blue > 20 && red === 0 : red > 20 && blue === 0, `image ${i} (${line}): blue ${blue}, red ${red}`);
  });
});

test('predict: top-k per file, --json, and a missing file is one clear error', async () => {
  const img = path.join(tmp, 'square.jpg');
  await sharp({ create: { width: 50, height: 40, channels: 3, background: '#dc2828' } }).jpeg().toFile(img);
  const res = run('predict', '--checkpoint', checkpoint, '--top-k', '2', '--device', 'cpu', img, img);
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /square\.jpg: \S+ \d+\.\d%, \S+ \d+\.\d%$/);
  const json = run('predict', '--checkpoint', checkpoint, '--json', '--device', 'cpu', img);
  const p = JSON.parse(json.stdout);
  assert.equal(p.top.length, 3);
  assert.ok(p.probability > 0 && p.probability <= 1);
  const missing = run('predict', '--checkpoint', checkpoint, path.join(tmp, 'nope.png'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^resnet-native: image .*nope\.png does not exist/);
  const bad = path.join(tmp, 'bad.png');
  fs.writeFileSync(bad, 'not an image');
  const badRes = run('predict', '--checkpoint', checkpoint, '--device', 'cpu', bad);
  assert.equal(badRes.status, 1);
  assert.match(badRes.stderr, /bad\.png: cannot read image/);
  assert.equal(run('predict', '--checkpoint', checkpoint).status, 2, 'no image given');
});
