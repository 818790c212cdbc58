// The weights EMA of torchvision's classification reference: ExponentialMovingAverage follows
// torch.optim.swa_utils.AveragedModel(use_buffers=True) with avg = decay * avg + (1 - decay) * param
// over 100 SGD steps of SmallNet (BatchNorm), updated every 2 steps and reset after each of the first
// 3 updates as the reference does during the lr warm-up (test/fixtures/ema_trajectory.json, PyTorch
// 2.14.1): update counts exactly; averaged weights and running statistics mid-way and at the end
// (rtol 1e-4, atol 1e-6); num_batches_tracked exactly (PyTorch's formula runs in float32 and copy_
// truncates it back: 80 where the trained model has 100); losses rtol 1e-5 (atol 1e-6).
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExponentialMovingAverage, N_AVERAGED_KEY, SGD, StateDictError, memory, nn, readSafetensorsFile, referenceEmaDecay, saveSafetensors, tidy, type Tensor } from '../src/index';
import { assertClose, loadFixture, tempDir, type FixtureTensor } from './helpers';
import { loadedSmallNet, smallNetBatch, type SmallNet } from './small-net';

interface Fixture {
  decay: number;
  every: number;
  warmupUpdates: number;
  losses: number[];
  nAveraged: number[];
  middle: Record<string, FixtureTensor>;
  averaged: Record<string, FixtureTensor>;
  final: Record<string, FixtureTensor>;
  referenceDecay: { decay: number; worldSize: number; batchSize: number; emaSteps: number; epochs: number; adjusted: number }[];
}

const fx = loadFixture<Fixture>('ema_trajectory.json');
const WEIGHTS = { rtol: 1e-4, atol: 1e-6 };

function checkState(actual: Record<string, Tensor>, expected: Record<string, FixtureTensor>, what: string): void {
  for (const [key, e] of Object.entries(expected)) {
    if (e.dtype === 'int64') assert.equal(actual[key].item(), e.values[0], `${what} ${key}`);
    else assertClose(actual[key], e, { ...WEIGHTS, what: `${what} ${key}` });
  }
}

interface Run {
  net: SmallNet;
  opt: SGD;
  ema: ExponentialMovingAverage;
}

const start = (): Run => {
  const net = loadedSmallNet().train();
  return { net, opt: new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 }), ema: new ExponentialMovingAverage(loadedSmallNet(), fx.decay) };
};

/** Steps `from` to `to` (exclusive) of the fixture's run: SGD step, then the EMA's schedule. */
function steps(run: Run, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    tidy(() => {
      const [x, y] = smallNetBatch(i % 8);
      run.opt.zeroGrad();
      const loss = nn.functional.crossEntropy(run.net.forward(x), y);
      loss.backward();
      run.opt.step();
      if (i % fx.every === 0) {
        run.ema.update(run.net);
        if (i / fx.every < fx.warmupUpdates) run.ema.reset();
      }
      assertClose([loss.item()], [fx.losses[i]], { rtol: 1e-5, atol: 1e-6, what: `loss at step ${i}` });
      assert.equal(run.ema.nAveraged, fx.nAveraged[i], `updates counted after step ${i}`);
    });
    if (i === 49) checkState(run.ema.module.stateDict(), fx.middle, 'averaged after step 49:');
  }
}

test('ExponentialMovingAverage matches AveragedModel with the reference EMA over 100 SGD steps (every 2, reset in warm-up)', () => {
  const run = start();
  steps(run, 0, 100);
  checkState(run.net.stateDict(), fx.final, 'trained');
  checkState(run.ema.module.stateDict(), fx.averaged, 'averaged');
  assert.equal(run.ema.stateDict()[N_AVERAGED_KEY].item(), fx.nAveraged[99]);
  assert.notEqual(fx.averaged['bn.num_batches_tracked'].values[0], fx.final['bn.num_batches_tracked'].values[0], 'the truncation is visible');
});

test('the EMA state saved as safetensors mid-run and loaded into fresh objects ends bit for bit where the whole run does', () => {
  const whole = start();
  steps(whole, 0, 100);
  const dir = tempDir('rn-ema-');
  const file = path.join(dir, 'smallnet-ema.safetensors');
  let run = start();
  steps(run, 0, 51); // 26 updates in, between two of them
  saveSafetensors(file, run.ema.stateDict());
  const saved = { net: run.net.stateDict(), opt: run.opt.stateDict() };
  const copies = (d: Record<string, Tensor>) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.clone()]));
  const [weights, momentum] = [copies(saved.net), copies(saved.opt)];
  run.ema.dispose();
  run = start();
  run.net.loadStateDict(weights);
  run.opt.loadStateDict(momentum);
  const { tensors } = readSafetensorsFile(file);
  assert.deepEqual(Object.keys(tensors), [...Object.keys(run.net.stateDict()), N_AVERAGED_KEY], "the model's own keys, then n_averaged");
  assert.equal(tensors[N_AVERAGED_KEY].dtype, 'int64');
  run.ema.loadStateDict(tensors);
  assert.equal(run.ema.nAveraged, fx.nAveraged[50]);
  steps(run, 51, 100);
  const [a, b] = [whole.ema.stateDict(), run.ema.stateDict()];
  for (const key of Object.keys(a)) assert.deepEqual(b[key].toArray(), a[key].toArray(), `${key} equal`);
});

/** SmallNet's keys with a 7-class head. */
class SevenClasses extends nn.Module {
  conv = this.registerModule('conv', new nn.Conv2d({ inChannels: 3, outChannels: 6, kernelSize: 3, padding: 1, device: 'cpu' }));
  bn = this.registerModule('bn', new nn.BatchNorm2d({ numFeatures: 6, device: 'cpu' }));
  fc = this.registerModule('fc', new nn.Linear({ inFeatures: 96, outFeatures: 7, device: 'cpu' }));
  forward(x: Tensor): Tensor {
    return x;
  }
}

test('update() refuses a model of another shape, naming the keys; bad decay and state are refused', () => {
  const ema = new ExponentialMovingAverage(loadedSmallNet(), 0.99);
  const other = new nn.Sequential(new nn.Linear({ inFeatures: 3, outFeatures: 2, device: 'cpu' }));
  assert.throws(() => ema.update(other), (err: unknown) => err instanceof StateDictError && /ExponentialMovingAverage\.update: the source model does not match the averaged one: the source lacks conv\.weight, .*; the source has 0\.weight, 0\.bias too/.test(err.message));
  assert.throws(() => ema.update(new SevenClasses()), /'fc\.weight' is \[7, 96\] in the source and \[5, 96\] in the average; 'fc\.bias' is \[7\] in the source and \[5\] in the average/);
  assert.equal(ema.nAveraged, 0, 'nothing counted');
  const source = loadedSmallNet();
  const live = memory().tensors;
  ema.update(source);
  ema.update(source);
  assert.equal(memory().tensors, live, 'an update leaves no tensor behind');
  assert.equal(ema.nAveraged, 2);
  for (const decay of [-0.1, 1.5, NaN, '0.9']) assert.throws(() => new ExponentialMovingAverage(loadedSmallNet(), decay as never), /Expected a number from 0 to 1 for decay but received/);
  const state = ema.stateDict();
  assert.throws(() => ema.loadStateDict({ ...state, [N_AVERAGED_KEY]: undefined as never }), /the EMA state lacks 'n_averaged'/);
  const { 'fc.bias': _, ...partial } = state;
  assert.throws(() => ema.loadStateDict(partial), /missing keys: fc\.bias/);
  const before = memory().tensors;
  ema.dispose();
  assert.ok(memory().tensors < before, 'dispose() freed the averaged model');
  assert.throws(() => ema.update(loadedSmallNet()), /has been disposed/);
});

test("referenceEmaDecay() is the reference script's adjustment: adjust = worldSize * batchSize * emaSteps / epochs", () => {
  for (const c of fx.referenceDecay) assert.equal(referenceEmaDecay(c.decay, c), c.adjusted, JSON.stringify(c));
  assert.equal(referenceEmaDecay(0.99998, { batchSize: 32, emaSteps: 32, epochs: 600 }), fx.referenceDecay[0].adjusted, 'worldSize defaults to 1');
  assert.throws(() => referenceEmaDecay(2, { batchSize: 32, emaSteps: 32, epochs: 600 }), /for decay/);
  assert.throws(() => referenceEmaDecay(0.9, { batchSize: 32, emaSteps: 0, epochs: 600 }), /positive integer for emaSteps/);
});
