// Accuracy on a dataset with BatchNorm in eval mode (running statistics), no gradients.
import { inferenceMode } from '../autograd';
import type { BatchSource } from '../data/batch-source';
import { DistributedSampler } from '../data/sampler';
import type { Device } from '../device';
import type { Module } from '../nn/module';
import { crossEntropy } from '../nn/functional';
import type { ProcessGroup } from '../distributed/process-group';
import { tensor, tidy } from '../tensor';

export interface EvaluationResult {
  accuracy: number;
  /** Accuracy per class (NaN for a class with no images). */
  perClass: number[];
  /** Mean cross-entropy. */
  loss: number;
  count: number;
}

export interface EvaluateOptions {
  epoch?: number;
  /** Data-parallel evaluation: the loader holds this rank's shard (a DistributedSampler with
   * even: false, so that no image counts twice); the counts are summed over the group, and every
   * rank returns the whole set's figures. */
  group?: ProcessGroup;
}

export async function evaluate(model: Module, loader: BatchSource, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const { group } = options;
  if (group) {
    const s = loader.sampler;
    if (!(s instanceof DistributedSampler) || s.even || s.rank !== group.rank || s.worldSize !== group.worldSize) {
      throw new TypeError(`evaluate with a group needs a loader over rank ${group.rank}'s shard: new DistributedSampler(size, { rank: ${group.rank}, worldSize: ${group.worldSize}, shuffle: false, even: false })`);
    }
  }
  const wasTraining = model.training;
  // Batches come from the loader on its device (the CPU unless it holds the data elsewhere).
  const device = (model.parameters()[0]?.device ?? 'cpu') as Device;
  model.eval();
  const classes = loader.dataset.classNames.length;
  const correct = new Array<number>(classes).fill(0);
  const seen = new Array<number>(classes).fill(0);
  let lossSum = 0;
  let count = 0;
  try {
    for await (const batch of loader.prefetch(options.epoch ?? 0)) {
      const [predicted, batchLoss] = inferenceMode(() =>
        tidy(() => {
          const labels = batch.labels.to(device);
          const logits = model.forward(batch.images.to(device)).to('float32');
          return [logits.argmax(1).toArray() as BigInt64Array, crossEntropy(logits, labels, { reduction: 'sum' }).item()] as const;
        }),
      );
      const labels = batch.labels.toArray() as BigInt64Array;
      for (let i = 0; i < labels.length; i++) {
        const label = Number(labels[i]);
        seen[label] += 1;
        if (predicted[i] === labels[i]) correct[label] += 1;
      }
      lossSum += batchLoss;
      count += labels.length;
      batch.images.dispose();
      batch.labels.dispose();
    }
  } finally {
    model.train(wasTraining);
  }
  if (group) {
    // float64: counts and a loss sum, exact to 2^53
    const totals = tensor(Float64Array.from([...correct, ...seen, lossSum, count]), [2 * classes + 2], { device: group.device });
    group.allReduce(totals, 'sum');
    const all = totals.toArray() as Float64Array;
    totals.dispose();
    for (let i = 0; i < classes; i++) {
      correct[i] = all[i];
      seen[i] = all[classes + i];
    }
    lossSum = all[2 * classes];
    count = all[2 * classes + 1];
  }
  const total = correct.reduce((a, b) => a + b, 0);
  return { accuracy: count ? total / count : NaN, perClass: correct.map((c, i) => c / seen[i]), loss: lossSum / count, count };
}
