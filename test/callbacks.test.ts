// Training callbacks (runTraining's hooks.callbacks): every moment of a run in order, with the
// model at hand; async epoch callbacks awaited; the end heard on success, cancellation and
// failure; a callback that throws ends the run with its error.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { noGrad, runTraining, zeros, type RunOutcome, type TrainingCallback, type TrainOptions } from '../src/index';
import { tempDir } from './helpers';

const tmp = tempDir('rn-callbacks-');
const small: TrainOptions = { arch: 'resnet18', batchSize: 16, lr: 0.05, device: 'cpu', epochs: 2, maxStepsPerEpoch: 3, syntheticSize: { train: 96, test: 32 } };

function recorder(): { calls: string[]; outcomes: RunOutcome[]; callback: TrainingCallback } {
  const calls: string[] = [];
  const outcomes: RunOutcome[] = [];
  return {
    calls,
    outcomes,
    callback: {
      onStart: (e) => void calls.push(`start ${e.stepsPerEpoch}`),
      onStep: (e) => void calls.push(`step ${e.epoch}.${e.step}`),
      onEpochEnd: (e) => void calls.push(`epoch ${e.epoch}`),
      onCheckpoint: (e) => void calls.push(`checkpoint ${e.kind} ${e.epoch}`),
      onEnd: (o) => {
        calls.push(`end ${o.status}`);
        outcomes.push(o);
      },
    },
  };
}

test('callbacks hear start, every step, each epoch, its checkpoints and the end, in order; onEvent first', async () => {
  const { calls, outcomes, callback } = recorder();
  const viaEvents: string[] = [];
  let modelOutputs: number[] = [];
  const result = await runTraining(
    { ...small, checkpointDir: path.join(tmp, 'order') },
    {
      onLine: () => {},
      onEvent: (e) => void viaEvents.push(e.type),
      callbacks: [
        callback,
        {
          // the model being trained, usable here: an async callback is awaited before the next epoch
          async onEpochEnd(_e, run) {
            await new Promise((r) => setTimeout(r, 20));
            modelOutputs = noGrad(() => run.model.forward(zeros([2, 3, 32, 32])).shape);
            calls.push(`awaited ${run.classNames.length} ${run.config.arch}`);
          },
        },
      ],
    },
  );
  assert.equal(result.steps, 6);
  // checkpoints are written in the background while the next epoch trains: their moments are
  // after the epoch's evaluation, before the end
  const moments = calls.filter((c) => !c.startsWith('checkpoint'));
  assert.deepEqual(moments, [
    'start 3',
    'step 1.1', 'step 1.2', 'step 1.3',
    'epoch 1', 'awaited 10 resnet18',
    'step 2.1', 'step 2.2', 'step 2.3',
    'epoch 2', 'awaited 10 resnet18',
    'end done',
  ]);
  const at = (c: string) => calls.indexOf(c);
  for (const epoch of [1, 2]) assert.ok(at(`checkpoint last ${epoch}`) > at('step 1.3') && at(`checkpoint last ${epoch}`) < at('end done'), calls.join(', '));
  assert.ok(at('checkpoint best 1') > 0 && at('checkpoint last 2') > at('checkpoint last 1'));
  assert.deepEqual(modelOutputs, [2, 10]);
  assert.equal(outcomes[0].status, 'done');
  assert.equal(outcomes[0].status === 'done' && outcomes[0].event.steps, 6);
  // the events hook is a callback too, first in line: the same moments
  assert.deepEqual(viaEvents.filter((t) => t !== 'checkpoint'), ['start', ...Array(3).fill('step'), 'epoch', ...Array(3).fill('step'), 'epoch', 'done']);
});

test('a cancelled run and a failed run end with onEnd saying so; a throwing callback fails the run with its error', async () => {
  const cancelled = recorder();
  let aborted = false;
  await assert.rejects(
    runTraining(
      { ...small, checkpointDir: path.join(tmp, 'cancel') },
      {
        onLine: () => {},
        signal: { get aborted() { return aborted; } },
        callbacks: [cancelled.callback, { onStep: (e) => void (e.step === 2 && (aborted = true)) }],
      },
    ),
    /training cancelled at epoch \d+, step \d+/,
  );
  assert.equal(cancelled.outcomes.length, 1);
  assert.equal(cancelled.outcomes[0].status, 'cancelled');

  const failing = recorder();
  const boom = new Error('my callback broke');
  await assert.rejects(
    runTraining({ ...small, checkpointDir: path.join(tmp, 'fail') }, { onLine: () => {}, callbacks: [failing.callback, { onEpochEnd: () => Promise.reject(boom) }] }),
    (err) => err === boom,
  );
  assert.deepEqual(failing.calls.filter((c) => !c.startsWith('checkpoint')).slice(-2), ['epoch 1', 'end failed']);
  assert.equal(failing.outcomes[0].status === 'failed' && failing.outcomes[0].error, boom);

  // an onEnd that throws after a successful run fails it; the other callbacks still hear the end
  const after = recorder();
  await assert.rejects(
    runTraining({ ...small, epochs: 1, checkpointDir: path.join(tmp, 'end') }, { onLine: () => {}, callbacks: [{ onEnd: () => { throw new Error('flush failed'); } }, after.callback] }),
    /flush failed/,
  );
  assert.equal(after.calls.at(-1), 'end done');
});
