// Options of what runs a trained checkpoint, each declared once (options/declare.ts): the library's
// types, defaults and checks, and the flags of `eval`, `predict` and `visualize`.
import { device, threads } from '../options/common';
import { declareOptions, integer, path, type ConfigOf, type OptionsOf } from '../options/declare';

/** Options shared by the sets below (one declaration each). */
const data = path({
  help: "CIFAR-10 folder, or your images; default: a model trained on your images reads its own (the checkpoint's classes and split), others the built-in synthetic set",
  flag: { value: '<path>' },
});

/** evaluateCheckpoint(file, options) and `eval`. */
export const EVAL_OPTIONS = declareOptions({
  /** CIFAR-10 folder (binary version) or your images; default: a model trained on your images
   * reads them again (its checkpoint's classes and split); others the built-in synthetic test set, of the seed the
   * checkpoint was trained with. */
  data,
  /** Images per evaluation batch (the accuracy does not depend on it); default 256. */
  batchSize: integer({ min: 1, default: 256, help: 'images per evaluation batch' }),
  /** Default: defaultDevice(). */
  device: device({}),
});

/** Classifier.load(checkpoint, options) and `predict`. */
export const CLASSIFIER_OPTIONS = declareOptions({
  /** Default: defaultDevice() in the classifier's thread. */
  device: device({}),
  /** Classes listed per image; default 3. */
  topK: integer({ min: 1, default: 3, help: 'classes to list per image' }),
  /** Most images in one forward pass; default 64. */
  maxBatch: integer({ min: 1, default: 64, flag: false }),
  /** libtorch intra-op threads of the classifier's thread (no other thread is affected);
   * default: the process's. */
  threads: threads({ flag: false }),
});

/** visualizePredictions(checkpoint, options) and `visualize`. */
export const VISUALIZE_OPTIONS = declareOptions({
  /** CIFAR-10 folder (binary version) or your images; default: a model trained on your images
   * reads them again (its checkpoint's classes and split); others the built-in synthetic test set, of the seed the
   * checkpoint was trained with. */
  data,
  /** The PNG to write; default 'predictions.png'. */
  out: path({ default: 'predictions.png', help: 'output PNG', flag: { value: '<file>' } }),
  /** Shuffle seed of the test split; default 0. */
  seed: integer({ min: 0, default: 0, help: 'shuffle seed of the test split' }),
  /** Default: defaultDevice(). */
  device: device({}),
});

export type EvalOptions = OptionsOf<typeof EVAL_OPTIONS>;
export type EvalConfig = ConfigOf<typeof EVAL_OPTIONS>;
export type ClassifierOptions = OptionsOf<typeof CLASSIFIER_OPTIONS>;
export type ClassifierConfig = ConfigOf<typeof CLASSIFIER_OPTIONS>;
export type VisualizeOptions = OptionsOf<typeof VISUALIZE_OPTIONS>;
export type VisualizeConfig = ConfigOf<typeof VISUALIZE_OPTIONS>;
