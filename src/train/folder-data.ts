// The user's own images as a run's data: indexed (class folders or a manifest, every file's header
// checked before the first step), split (the layout's own, or a seeded stratified draw recorded in
// the checkpoint), and streamed from disk on decode threads with the ImageNet recipe: train
// RandomResizedCrop + flip, evaluation Resize(size * 256 / 224) + CenterCrop(size), ImageNet
// mean and std. A resumed run re-indexes with its checkpoint's classes and split.
import type { DetectedData } from '../data/data-format';
import { ImageFileLoader } from '../data/image-loader';
import { indexImages, type ImageIndex } from '../data/image-index';
import type { ImageSample } from '../data/image-folder';
import { IMAGENET_MEAN, IMAGENET_STD, imagenetEvalPipeline, imagenetTrainPipeline } from '../data/image-transforms';
import { TrainingError } from './errors';
import type { TrainConfig } from './config';
import { leavesOneImage, type InputCard, type ResumedInput, type RunConfig, type RunData } from './data-parts';
import type { Owned } from './setup';
import type { Strategy } from './strategy';

/** The most skipped files a checkpoint lists by name (the count says how many in all). */
const SKIPPED_RECORDED = 100;

export async function folderData(c: TrainConfig, detected: DetectedData, strategy: Strategy, rankBatch: number, owned: Owned, resumed: ResumedInput): Promise<RunData> {
  const index = await indexImages(detected.path, {
    format: detected.format,
    valFraction: c.valSplit,
    seed: c.seed,
    badImages: c.badImages,
    ...(resumed?.data ? { classes: resumed.classNames, split: resumed.data.split } : {}),
  });
  const config = runConfig(c, index, resumed);
  // evaluation on the validation split, or on test/ when the layout has only train/ and test/
  const evalSamples: readonly ImageSample[] = index.val.length > 0 ? index.val : index.test;
  if (index.train.length < 2) throw new TrainingError(`${index.source}: ${index.train.length} training image(s): a run needs at least 2`);
  if (evalSamples.length === 0) throw new TrainingError(`${index.source}: no validation images (valSplit ${c.valSplit} of ${index.train.length} images drew none): pass a larger --val-split, or val/ or test/ folders`);
  const [mean, std] = [[...IMAGENET_MEAN], [...IMAGENET_STD]];
  const evalPipeline = imagenetEvalPipeline(config.imageSize, { mean, std });
  const sampler = strategy.trainSampler(index.train.length, c.seed);
  const imagesPerEpoch = sampler?.size ?? index.train.length;
  const dropLast = leavesOneImage(imagesPerEpoch, rankBatch);
  const common = { workers: c.workers, badImages: c.badImages };
  const trainLoader = owned.add(
    new ImageFileLoader(index.train, index.classes, { ...common, batchSize: rankBatch, seed: strategy.augmentationSeed(c.seed), sampler, dropLast, pipeline: imagenetTrainPipeline(config.imageSize, { mean, std }) }),
  );
  const testLoader = owned.add(
    new ImageFileLoader(evalSamples, index.classes, { ...common, batchSize: c.evalBatchSize, seed: c.seed + 1, sampler: strategy.testSampler(evalSamples.length), pipeline: evalPipeline }),
  );
  const card: InputCard = {
    mean,
    std,
    classNames: index.classes,
    evalTransform: { resizeSize: evalPipeline.resizeSize },
    data: { format: index.format, source: index.source, split: index.split, skipped: index.skipped.slice(0, SKIPPED_RECORDED), skippedCount: index.skipped.length },
  };
  return { config, trainLoader, testLoader, trainSize: index.train.length, testSize: evalSamples.length, imagesPerEpoch, dropLast, card, notes: notesOf(index, evalSamples.length) };
}

/** The class count is the data's (a resumed run's class list is its checkpoint's); the input
 * size 224 (the recipe's crop) unless given. */
function runConfig(c: TrainConfig, index: ImageIndex, resumed: ResumedInput): RunConfig {
  const classes = index.classes.length;
  if (c.numClasses !== undefined && c.numClasses !== classes) {
    throw new TrainingError(`numClasses (--num-classes) is ${c.numClasses} and ${index.source} has ${classes} classes (${preview(index.classes)}): leave it out, and the model gets one output per class`);
  }
  return { ...c, numClasses: classes, imageSize: c.imageSize ?? resumed?.imageSize ?? 224 };
}

function preview(names: readonly string[]): string {
  return names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')}, ...`;
}

function notesOf(index: ImageIndex, evalImages: number): string[] {
  const notes = [`Training on ${index.train.length} images of ${index.classes.length} classes (${preview(index.classes)}) from ${index.source} (${index.format}); evaluating on ${evalImages}.`];
  if (index.skipped.length > 0) {
    const named = index.skipped.slice(0, 10).map((b) => `${b.file} (${b.reason})`);
    notes.push(`Left out ${index.skipped.length} unreadable image(s) (--bad-images skip): ${named.join('; ')}${index.skipped.length > 10 ? '; ...' : ''}`);
  }
  return notes;
}
