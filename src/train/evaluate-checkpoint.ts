// `eval`: a checkpoint's accuracy on the test split (CIFAR-10 or the synthetic set).
import type { Device } from '../device';
import { loadCifar10 } from '../data/cifar10';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { testTransforms } from '../data/transforms';
import { modelFromCheckpoint } from './checkpoint';
import { evaluate, type EvaluationResult } from './evaluate';

export async function evaluateCheckpoint(
  file: string,
  options: { data?: string; batchSize?: number; device?: Device } = {},
): Promise<EvaluationResult & { classNames: string[]; synthetic: boolean }> {
  const { model, meta } = modelFromCheckpoint(file, options.device);
  const synthetic = options.data === undefined;
  const dataset = synthetic ? syntheticDataset('test', { seed: (meta.config.seed as number) ?? 0 }) : loadCifar10(options.data!, 'test');
  const loader = new DataLoader(dataset, {
    batchSize: options.batchSize ?? 256,
    shuffle: false,
    transform: testTransforms({ imageSize: meta.imageSize, mean: meta.mean, std: meta.std }),
  });
  const result = await evaluate(model, loader);
  return { ...result, classNames: dataset.classNames, synthetic };
}
