// The training loop's step runner (train/step-runner.ts), the code every run steps through:
// batches given as micro-batches { index, of } accumulate their gradients (each loss divided by
// `of`, only the last one's backward synchronised) and the last one steps. Against PyTorch doing
// the same on SmallNet (test/fixtures/grad_accumulation_trajectory.json, PyTorch 2.14.1: 4
// micro-batches of 8 per step, 100 steps, SGD with momentum). Tolerances: per-step losses rtol
// 1e-5 (atol 1e-6); weights and running statistics rtol 1e-4 (atol 1e-6).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { SGD, cat, nn, tidy, type Tensor } from '../src/index';
import { Precision } from '../src/train/precision';
import { stepRunnerFor } from '../src/train/step-runner';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch } from './small-net';

interface Run {
  microBatches: number;
  losses: number[];
  final: Record<string, FixtureTensor>;
}
const fx = loadFixture<{ sgd: { accumulated: Run } }>('grad_accumulation_trajectory.json');

/** scripts/gen_fixtures.py accumulation_batch(i): smallNetBatch(8 * (i % 5) + k), k = 0..7. */
function accumulationBatch(i: number): [Tensor, Tensor] {
  const parts = Array.from({ length: 8 }, (_, k) => smallNetBatch(8 * (i % 5) + k));
  return [cat(parts.map(([x]) => x)), cat(parts.map(([, y]) => y))];
}

test('the step runner accumulates micro-batches as PyTorch does: 100 steps of 4 x 8, SGD with momentum', () => {
  const run = fx.sgd.accumulated;
  const net = loadedSmallNet().train();
  const optimizer = new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 });
  const precision = new Precision({ device: 'cpu', lossScaling: false });
  let synced = 0;
  let unsynced = 0;
  // counts which backwards ran outside gradient synchronisation (data-parallel ranks' no_sync)
  const withoutGradSync = <R>(fn: () => R): R => {
    unsynced += 1;
    return fn();
  };
  const forwardLoss = (x: Tensor, y: Tensor) => {
    synced += 1;
    return nn.functional.crossEntropy(net.forward(x), y);
  };
  const runner = stepRunnerFor({ cudaGraph: false, device: 'cpu' }, forwardLoss, optimizer, precision, withoutGradSync);
  for (let i = 0; i < run.losses.length; i++) {
    tidy(() => {
      const [x, y] = accumulationBatch(i);
      let total = 0;
      for (let m = 0; m < 4; m++) {
        const loss = runner.step(x.narrow(0, m * 8, 8), y.narrow(0, m * 8, 8), { index: m, of: 4 });
        total += loss.item() / 4; // the runner returns each batch's own loss; PyTorch's sum is of loss / 4
      }
      assertClose([total], [run.losses[i]], { rtol: 1e-5, atol: 1e-6, what: `loss at step ${i}` });
    });
  }
  assert.equal(synced, 400, 'a forward per micro-batch');
  assert.equal(unsynced, 300, 'three of every four outside synchronisation');
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(run.final)) {
    if (expected.dtype === 'int64') assert.equal(state[key].item(), expected.values[0], key);
    else assertClose(state[key], expected, { rtol: 1e-4, atol: 1e-6, what: key });
  }
  runner.dispose();
  optimizer.dispose();
  precision.dispose();
  net.dispose();
});
