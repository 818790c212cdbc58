// Gradient accumulation with optim/grad-scaler.ts's split: backward() on 4 micro-batches of 8 (each
// loss divided by 4), then one step(), for 100 optimizer steps with SGD (momentum) and AdamW,
// matches PyTorch doing the same (test/fixtures/grad_accumulation_trajectory.json, PyTorch 2.14.1);
// and the whole batch of 32 in one backward matches PyTorch's whole-batch run. The two differ
// (BatchNorm normalises each micro-batch by its own statistics), as the fixture shows.
// Tolerances: per-step losses rtol 1e-5 (atol 1e-6); weights and running statistics rtol 1e-4
// (atol 1e-6).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW, GradScaler, SGD, cat, nn, tidy, type Optimizer, type Tensor } from '../src/index';
import { backward, step } from '../src/optim/grad-scaler';
import { assertClose, loadFixture, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch, type SmallNet } from './small-net';

interface Run {
  microBatches: number;
  losses: number[];
  final: Record<string, FixtureTensor>;
}
type Pair = { accumulated: Run; whole: Run };

const fx = loadFixture<{ sgd: Pair; adamw: Pair }>('grad_accumulation_trajectory.json');
const makers: Record<'sgd' | 'adamw', (net: SmallNet) => Optimizer> = {
  sgd: (net) => new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 }),
  adamw: (net) => new AdamW(net.namedParameters(), { lr: 0.01 }),
};

/** The i-th batch of 32 (scripts/gen_fixtures.py accumulation_batch): smallNetBatch(8 * (i % 5) + k), k = 0..7. */
function accumulationBatch(i: number): [Tensor, Tensor] {
  const parts = Array.from({ length: 8 }, (_, k) => smallNetBatch(8 * (i % 5) + k));
  return [cat(parts.map(([x]) => x)), cat(parts.map(([, y]) => y))];
}

/** 100 steps, each over `micro` micro-batches; returns the trained net (losses checked on the way). */
function train(run: Run, make: (net: SmallNet) => Optimizer, scaler: GradScaler | null = null, steps = run.losses.length): SmallNet {
  const net = loadedSmallNet().train();
  const opt = make(net);
  for (let i = 0; i < steps; i++) {
    tidy(() => {
      const [x, y] = accumulationBatch(i);
      const size = x.shape[0] / run.microBatches;
      let total = 0;
      for (let m = 0; m < run.microBatches; m++) {
        const loss = nn.functional.crossEntropy(net.forward(x.narrow(0, m * size, size)), y.narrow(0, m * size, size)).div(run.microBatches);
        backward(loss, scaler); // gradients add up until step()
        total += loss.item();
      }
      assert.equal(step(opt, scaler).applied, true);
      assertClose([total], [run.losses[i]], { rtol: 1e-5, atol: 1e-6, what: `loss at step ${i}` });
    });
  }
  opt.dispose();
  return net;
}

function checkFinal(net: SmallNet, final: Record<string, FixtureTensor>, what: string): void {
  const state = net.stateDict();
  for (const [key, expected] of Object.entries(final)) {
    if (expected.dtype === 'int64') assert.equal(state[key].item(), expected.values[0], `${what} ${key}`);
    else assertClose(state[key], expected, { rtol: 1e-4, atol: 1e-6, what: `${what} ${key}` });
  }
}

for (const kind of ['sgd', 'adamw'] as const) {
  test(`${kind}: 4 accumulated micro-batches of 8 per step match PyTorch over 100 steps, and so does the whole batch of 32`, () => {
    const { accumulated, whole } = fx[kind];
    checkFinal(train(accumulated, makers[kind]), accumulated.final, 'accumulated');
    checkFinal(train(whole, makers[kind]), whole.final, 'whole');
    // not the same training: BatchNorm sees 8 images at a time (and updates its statistics 4 times)
    const differs = (key: string) => accumulated.final[key].values.some((v, j) => Math.abs(v - whole.final[key].values[j]) > 1e-3 + 1e-2 * Math.abs(v));
    assert.ok(differs('bn.running_mean') && differs('conv.weight'), 'accumulated and whole runs end apart');
    assert.equal(accumulated.final['bn.num_batches_tracked'].values[0], 400);
    assert.equal(whole.final['bn.num_batches_tracked'].values[0], 100);
  });
}

test('accumulating under a loss scaler (float32, nothing overflows) unscales once per step and ends bit for bit as without', () => {
  const run = { ...fx.sgd.accumulated, losses: fx.sgd.accumulated.losses.slice(0, 10) };
  const plain = train(run, makers.sgd).stateDict();
  const scaled = train(run, makers.sgd, new GradScaler({ initScale: 2 ** 12, growthInterval: 4 })).stateDict();
  for (const key of Object.keys(plain)) assert.deepEqual(scaled[key].toArray(), plain[key].toArray(), `${key} equal`);
});
