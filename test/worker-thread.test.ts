// Worker threads that die: the helper every worker goes through (src/worker-thread.ts) turns any
// end into an error that waiters hear at once, and the data prefetcher, train() and Classifier,
// killed at random points, each report it within a second, hang nowhere and leave no thread.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Classifier, DataLoader, DatasetError, StateDictError, TrainingError, runTraining, syntheticDataset, train, trainTransforms } from '../src/index';
import { deserializeError, serializeError } from '../src/worker-errors';
import { WorkerThread } from '../src/worker-thread';
import { tempDir } from './helpers';

const tmp = tempDir('rn-worker-deaths-');
const never = new Promise<never>(() => {});

/** How long `promise` took to settle (it must reject), in ms. */
async function rejectsWithin(promise: Promise<unknown>, pattern: RegExp): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(promise, pattern);
  return performance.now() - t0;
}

function threadNamed(name: string): Promise<WorkerThread<unknown>> {
  return new Promise((resolve) => {
    const look = () => {
      const found = [...WorkerThread.live].find((t) => t.name === name);
      if (found) resolve(found);
      else setTimeout(look, 5);
    };
    look();
  });
}

test('WorkerThread: an exception, process.exit, a kill and a close each end waiters at once with the reason', async () => {
  const start = (code: string) => new WorkerThread<string>('test thread', code, { eval: true }, () => {});
  const thrown = start("setTimeout(() => { throw new Error('boom in the thread') }, 20)");
  assert.ok(WorkerThread.live.has(thrown as WorkerThread<unknown>));
  assert.ok((await rejectsWithin(thrown.race(never), /boom in the thread/)) < 1000);
  const exited = start('setTimeout(() => process.exit(3), 20)');
  await rejectsWithin(exited.race(never), /the test thread exited \(code 3\) before its work was done/);
  const killed = start('setInterval(() => {}, 1000)');
  setTimeout(() => void killed.kill(), 30);
  assert.ok((await rejectsWithin(killed.race(never), /the test thread exited \(code \d+\)/)) < 1000);
  assert.throws(() => killed.post('anything'), /the test thread exited/);
  const closed = start('setInterval(() => {}, 1000)');
  const heard: string[] = [];
  closed.onEnd((err) => heard.push(err.message));
  await closed.close();
  assert.deepEqual(heard, ['the test thread was closed']);
  closed.onEnd((err) => heard.push(`late: ${err.message}`));
  assert.deepEqual(heard, ['the test thread was closed', 'late: the test thread was closed'], 'a listener after the end is called at once');
  assert.equal(WorkerThread.live.size, 0, 'no thread left');
});

test('a data prefetching thread killed at any point fails the epoch within a second', async () => {
  const loader = new DataLoader(syntheticDataset('train', { size: 512 }), { batchSize: 32, transform: trainTransforms() });
  for (const after of [0, 1, 3, 7]) {
    const t0 = performance.now();
    let seen = 0;
    let killedAt = 0;
    await assert.rejects(
      (async () => {
        for await (const batch of loader.prefetch(0)) {
          batch.images.dispose();
          batch.labels.dispose();
          if (seen++ === after) {
            killedAt = performance.now();
            await (await threadNamed('data prefetching thread')).kill();
          }
        }
      })(),
      /the data prefetching thread exited \(code \d+\) before its work was done/,
    );
    assert.ok(killedAt > 0 && performance.now() - killedAt < 1000, `error ${performance.now() - killedAt} ms after the kill (run of ${performance.now() - t0} ms)`);
    assert.equal(WorkerThread.live.size, 0);
  }
});

test('a training thread killed at any point rejects result and ends the events within a second', async () => {
  for (const delay of [0, 150, 600]) {
    const handle = train({ arch: 'resnet18', batchSize: 8, epochs: 3, device: 'cpu', syntheticSize: { train: 64, test: 16 }, checkpointDir: path.join(tmp, `train-${delay}`) });
    const events = (async () => {
      let n = 0;
      for await (const _ of handle) n++;
      return n;
    })();
    const thread = await threadNamed('training thread');
    await new Promise((r) => setTimeout(r, delay));
    const killedAt = performance.now();
    await thread.kill();
    await assert.rejects(handle.result, /the training thread exited \(code \d+\) before its work was done/);
    await events;
    assert.ok(performance.now() - killedAt < 1000);
    assert.equal(WorkerThread.live.size, 0, [...WorkerThread.live].map((t) => t.name).join(', '));
  }
});

test('a classifier thread killed with calls pending fails them and every later call within a second', async () => {
  const { bestCheckpoint } = await runTraining(
    { arch: 'resnet18', batchSize: 8, epochs: 1, maxStepsPerEpoch: 2, device: 'cpu', syntheticSize: { train: 32, test: 8 }, checkpointDir: path.join(tmp, 'for-classifier') },
    { onLine: () => {} },
  );
  const pixels = { data: new Uint8Array(32 * 32 * 3).fill(90), width: 32, height: 32 };
  for (const pendingCalls of [0, 1, 5]) {
    const classifier = await Classifier.load(bestCheckpoint, { device: 'cpu' });
    const calls = Array.from({ length: pendingCalls }, () => classifier.classify(pixels));
    const killedAt = performance.now();
    await (await threadNamed('classifier thread')).kill();
    // each pending call settles (rejects, unless it was answered before the kill landed): none hangs
    for (const call of calls) await call.then(() => {}, (err: Error) => assert.match(err.message, /the classifier thread exited \(code \d+\)/));
    await assert.rejects(classifier.classify(pixels), /the classifier cannot answer: the classifier thread exited \(code \d+\)/);
    assert.ok(performance.now() - killedAt < 1000);
    await classifier.close();
    assert.equal(WorkerThread.live.size, 0);
  }
});

test('errors cross the worker boundary with their class, name, message, stack and fields', async () => {
  // as a worker would post it (structured clone), then rebuilt
  const original = new StateDictError('Cannot load the state dict into Linear: missing keys: weight', ['weight'], ['k']);
  const back = deserializeError(structuredClone(serializeError(original)));
  assert.ok(back instanceof StateDictError && back instanceof Error);
  assert.equal(back.name, 'StateDictError');
  assert.equal(back.message, original.message);
  assert.equal(back.stack, original.stack);
  assert.deepEqual([(back as StateDictError).missing, (back as StateDictError).unexpected], [['weight'], ['k']]);
  const typeError = deserializeError(structuredClone(serializeError(new TypeError('bad'))));
  assert.ok(typeError instanceof TypeError);
  const plain = deserializeError(structuredClone(serializeError('a string was thrown')));
  assert.equal(plain.message, 'a string was thrown');
  // through train()'s thread: the data's error arrives as a DatasetError, the run's as a TrainingError
  await assert.rejects(train({ data: path.join(tmp, 'no-such-folder'), device: 'cpu' }).result, (err: unknown) => err instanceof DatasetError && /does not exist/.test((err as Error).message));
  const tooFewClasses = train({ arch: 'resnet18', numClasses: 3, device: 'cpu', syntheticSize: { train: 32, test: 16 }, checkpointDir: path.join(tmp, 'classes') }).result;
  await assert.rejects(tooFewClasses, (err: unknown) => err instanceof TrainingError && err.name === 'TrainingError' && /numClasses is 3/.test((err as Error).message));
});
