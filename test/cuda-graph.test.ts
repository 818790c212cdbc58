// CUDA graphs of the training step. Without a GPU (CI): every entry point refuses with a message
// that says why. With one: a graphed step gives the losses of eager steps, including a partial
// batch and a learning-rate change between replays (float32, rtol 1e-4 / atol 1e-5), and whole
// training runs (eager; graphed with the dataset on the GPU) go through evaluation and checkpoints.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CudaGraph, GraphedTrainStep, SGD, cuda, full, keep, nn, onSideStream, runTraining, synchronize, tensor, tidy, type Tensor } from '../src/index';
import { native } from '../src/native';
import { assertClose, tempDir } from './helpers';
import { loadedSmallNet } from './small-net';
import { syntheticValue } from './synthetic-weights';

test('without CUDA, graphs and side streams refuse with the reason', { skip: cuda.isAvailable() && 'CUDA is available here' }, async () => {
  // Device names go through the shared parser: bad ones, CPU and unavailable CUDA are all refused.
  assert.throws(() => new native.CudaGraph('cuda'), /Device 'cuda' requested but CUDA is not available: .+/);
  assert.throws(() => native.cudaOnSideStream(() => 1, 'cuda:1'), /Device 'cuda:1' requested but CUDA is not available: .+/);
  assert.throws(() => native.cudaSynchronize(0 as never), /Expected a string for 'device'/);
  assert.throws(() => new native.CudaGraph('gpu'), /device string: gpu/);
  assert.throws(() => new native.CudaGraph('cpu'), /CUDA graphs need a CUDA device, got 'cpu'/);
  assert.throws(() => native.cudaOnSideStream(42 as never, 'cuda'), /Expected a function for 'fn' but received 42 of type number/);
  assert.throws(() => new CudaGraph(), /Device 'cuda' requested but CUDA is not available/);
  assert.throws(() => onSideStream('cpu', () => 1), /CUDA graphs need a CUDA device, got 'cpu'/);
  assert.throws(() => synchronize('cpu'), /CUDA graphs need a CUDA device, got 'cpu'/);
  const net = loadedSmallNet();
  assert.throws(
    () => new GraphedTrainStep((x, y) => nn.functional.crossEntropy(net.forward(x), y), new SGD(net.namedParameters()), 'cpu'),
    /a graphed training step needs an SGD created with capturable: true/,
  );
  await assert.rejects(runTraining({ device: 'cpu', cudaGraph: true }, { onLine: () => {} }), /cudaGraph needs a CUDA device, and the device is 'cpu'/);
});

test('on a GPU, a captured graph reads its inputs anew on every replay', { skip: !cuda.isAvailable() && 'no CUDA device here' }, () => {
  const input = full([4], 1, { device: 'cuda' });
  const graph = new CudaGraph('cuda');
  onSideStream('cuda', () => input.mul(2).add(1).dispose()); // warm-up
  const out = graph.capture(() => tidy(() => keep(input.mul(2).add(1))));
  assert.equal(graph.captured, true);
  for (const value of [3, -1]) {
    input.fill_(value);
    graph.replay();
    synchronize('cuda');
    assert.deepEqual(Array.from(out.toArray() as Float32Array), [1, 2, 3, 4].map(() => 2 * value + 1));
  }
  assert.throws(() => graph.capture(() => 0), /already captured: reset\(\) it first/);
  graph.reset();
  assert.equal(graph.captured, false);
  assert.throws(() => graph.replay(), /has not been captured/);
});

test('a graphed training step gives the losses of eager steps', { skip: !cuda.isAvailable() && 'no CUDA device here' }, () => {
  const batches = Array.from({ length: 9 }, (_, i) => {
    const n = i === 6 ? 3 : 4; // one partial batch between replays
    const x = syntheticValue(`batch${i}`, [n, 3, 8, 8]).mul(2).to('cuda');
    const y = tensor(BigInt64Array.from({ length: n }, (_, k) => BigInt((i + k) % 5)), [n], { device: 'cpu' }).to('cuda');
    return [x, y] as const;
  });
  const run = (graphed: boolean): number[] => {
    const net = loadedSmallNet().to('cuda').train();
    const opt = new SGD(net.namedParameters(), { lr: 0.1, momentum: 0.9, capturable: true });
    const forwardLoss = (x: Tensor, y: Tensor) => nn.functional.crossEntropy(net.forward(x), y);
    const step = graphed ? new GraphedTrainStep(forwardLoss, opt, 'cuda', { warmupSteps: 2 }) : null;
    const losses = batches.map(([x, y], i) => {
      opt.lr = i < 5 ? 0.1 : 0.01;
      if (step) {
        const loss = step.step(x, y);
        const value = loss.item();
        loss.dispose();
        return value;
      }
      const loss = forwardLoss(x, y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });
    if (step) {
      assert.equal(step.captured, true);
      step.dispose();
    }
    return losses;
  };
  assertClose(run(true), run(false), { rtol: 1e-4, atol: 1e-5, what: 'losses, graphed vs eager' });
});

test('on a GPU, training runs end to end eagerly and as a CUDA graph, evaluation and checkpoints included', { skip: !cuda.isAvailable() && 'no CUDA device here' }, async () => {
  const dir = tempDir('rn-cuda-train-');
  // 8 steps of 16 with a partial batch of 8 at the end of each epoch: warm-up, capture, replays, eager tail.
  const options = { arch: 'resnet18' as const, batchSize: 16, epochs: 2, device: 'cuda' as const, syntheticSize: { train: 136, test: 40 } };
  for (const cudaGraph of [false, true]) {
    // The graphed run also keeps the dataset on the GPU and augments there.
    const result = await runTraining({ ...options, cudaGraph, dataOnDevice: cudaGraph, checkpointDir: path.join(dir, String(cudaGraph)) }, { onLine: () => {} });
    assert.equal(result.steps, 18);
    assert.ok(result.losses.every(Number.isFinite), `losses ${result.losses}`);
    assert.ok(result.accuracies.every((a) => a >= 0 && a <= 1));
    assert.ok(fs.existsSync(result.lastCheckpoint));
  }
  fs.rmSync(dir, { recursive: true });
});
