// Every training option, declared once (options/declare.ts): its type and doc comment (TrainOptions),
// default, check, command-line flag and help (the `train` command), whether TensorBoard shows it
// as a hyperparameter and whether a checkpoint keeps it. No addon here: the command line builds
// its flags from these at start-up. The checks of options together (which need libtorch: the
// device's availability, the precision's and the step's conflicts) are in config.ts.
import { checkBoolean, checkFiniteNumber, checkInteger, invalidArgument } from '../errors';
import { defaultDeviceName } from '../device-checks';
import type { ProcessGroupOptions } from '../distributed/process-group';
import { ARCH_NAMES, INIT_KINDS, PADDING_MODES, STEM_KINDS } from '../models/names';
import type { GradScalerOptions } from '../optim/grad-scaler';
import { device, threads } from '../options/common';
import { boolean, choice, custom, declareOptions, integer, list, number, numeric, pair, path, text, type ConfigOf, type OptionsOf } from '../options/declare';

/** What a checkpoint can describe, and so what a run may be asked for. */
export const MAX_CLASSES = 100_000;
export const MAX_IMAGE_SIZE = 4096;
export const MAX_EPOCHS = 1_000_000;
/** The largest batch a run may ask for (each image of a batch is a tensor row in memory). */
const MAX_BATCH = 1_000_000;
/** The most batches one optimizer step may accumulate. */
const MAX_ACCUMULATE = 65_536;

export const OPTIMIZER_KINDS = ['sgd', 'adamw', 'adam'] as const;
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];
export const NO_DECAY_KINDS = ['norm', 'bias'] as const;
export type NoDecayKind = (typeof NO_DECAY_KINDS)[number];
const SCHEDULES = ['tutorial', 'warmup-cosine', 'step'] as const;
const FREEZE_KINDS = ['none', 'backbone'] as const;
/** data-format.ts's DATA_FORMATS and 'auto' (listed here: that module reads the file system and CIFAR-10's loader). */
export const DATA_FORMAT_CHOICES = ['auto', 'image-folder', 'split-folders', 'csv', 'jsonl', 'cifar10'] as const;
const BAD_IMAGE_POLICIES = ['fail', 'skip'] as const;
const HALF_DTYPES = ['bfloat16', 'float16'] as const;

/** A number above 0 (the flag's text read as a number). */
function positive(name: string, value: unknown): number {
  const v = checkFiniteNumber(name, value, 0);
  if (v === 0) throw invalidArgument('a number above 0', name, value);
  return v;
}

/** A number from 0 to below 1. */
function belowOne(name: string, value: unknown): number {
  const v = checkFiniteNumber(name, value, 0, 1);
  if (v === 1) throw invalidArgument('a number from 0 to below 1', name, value);
  return v;
}

const numberFlag = (placeholder: string) => ({ value: placeholder, parse: numeric });

function betasCheck(value: unknown, name: string): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
    throw invalidArgument('two numbers from 0 to below 1', name, value);
  }
  return Object.freeze([value[0], value[1]] as const);
}

function syntheticSizeCheck(value: unknown, name: string): { readonly train: number; readonly test: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument('{ train?, test? } image counts', name, value);
  const { train, test } = value as { train?: unknown; test?: unknown };
  return Object.freeze({ train: checkInteger(`${name}.train`, train ?? 10_000, 1), test: checkInteger(`${name}.test`, test ?? 2_000, 1) });
}

function lossScalingCheck(value: unknown, name: string): false | GradScalerOptions {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as GradScalerOptions;
  // (as before GradScalerOptions were accepted: 'Expected boolean for lossScaling')
  return checkBoolean(name, value) ? {} : false;
}

function tf32Check(value: unknown, name: string): boolean | 'convolutions' {
  if (value !== 'convolutions' && typeof value !== 'boolean') throw invalidArgument("true, false or 'convolutions'", name, value);
  return value;
}

function distributedCheck(value: unknown, name: string): ProcessGroupOptions | null {
  if (value === false || value === null) return null;
  if (value === true) return {};
  if (typeof value === 'object' && !Array.isArray(value)) return value as ProcessGroupOptions;
  throw invalidArgument('a boolean or process-group options', name, value);
}

const DECLARATIONS = {
  /** Default 'resnet50'. */
  arch: choice(ARCH_NAMES, { default: 'resnet50', help: 'architecture', flag: { value: '<name>' } }),
  /** Your images (class folders, train/ + val/ folders, a .csv or .jsonl manifest) or CIFAR-10's
   * binary folder; default: the built-in synthetic set (and the run says so). */
  data: path({
    help: 'your images (class folders, train/ + val/ folders, or a .csv / .jsonl manifest of path,label) or CIFAR-10 (binary version); default: the built-in synthetic set',
    flag: { value: '<path>' },
  }),
  /** What `data` is; default 'auto' (detected from its top level). */
  dataFormat: choice(DATA_FORMAT_CHOICES, { default: 'auto', help: 'what --data is (default: detected)', flag: { value: '<format>' } }),
  /** Share of each class held out for validation where the data gives no split (one folder of
   * class folders, a manifest without a split column): seeded by `seed`, stratified, recorded in
   * the checkpoint. Default 0.2. */
  valSplit: number({ min: 0, max: 0.9, default: 0.2, help: 'share of each class held out for validation when --data has no split of its own' }),
  /** Images that cannot be read: 'fail' (default: the run does not start, naming them) or 'skip'
   * (left out, listed in the log and the checkpoint). */
  badImages: choice(BAD_IMAGE_POLICIES, { default: 'fail', help: "unreadable images: 'fail' before training starts, naming them, or 'skip' them (listed in the log and the checkpoint)", hparam: false }),
  /** Threads decoding image files (own images); default: one per core. */
  workers: integer({ min: 1, max: 256, help: 'threads decoding image files (default: one per core)', hparam: false }),
  /** Images in the synthetic splits; default 10,000 / 2,000. */
  syntheticSize: custom<{ train?: number; test?: number }>()(syntheticSizeCheck, { default: { train: 10_000, test: 2_000 }, flag: false }),
  /** Default 5. */
  epochs: integer({ min: 1, max: MAX_EPOCHS, default: 5, help: 'epochs' }),
  /** Default 256. With data-parallel ranks: the global batch, split evenly. */
  batchSize: integer({ min: 1, max: MAX_BATCH, default: 256, help: 'batch size (with data-parallel ranks: the global batch, split evenly)' }),
  /** Batch size of the evaluation after each epoch (inference can take larger batches; the
   * accuracy does not depend on it). Default: the larger of batchSize and 256. */
  evalBatchSize: integer({
    min: 1,
    max: MAX_BATCH,
    defaultFrom: (c: { batchSize: number }) => Math.max(c.batchSize, 256),
    defaultHelp: 'the larger of --batch-size and 256',
    help: 'batch size of the evaluation after each epoch',
    hparam: false,
  }),
  /** Peak learning rate; default 1e-3. */
  lr: number({ min: 0, default: 1e-3, help: 'peak learning rate' }),
  /** Final learning rate; default 1e-5. */
  minLr: number({ min: 0, default: 1e-5, help: 'final learning rate' }),
  /** 'tutorial' (cosine, constant per epoch; default), 'warmup-cosine' (per step), 'step' (x0.1 every epochs/3). */
  schedule: choice(SCHEDULES, { default: 'tutorial', help: 'learning-rate schedule' }),
  /** Warm-up steps for 'warmup-cosine'; default one epoch. */
  warmupSteps: integer({ min: 0, help: "warm-up steps of --schedule warmup-cosine (default: one epoch)" }),
  /** 'sgd' (momentum SGD, the tutorial's; default), 'adamw' or 'adam' (torch.optim's algorithms). */
  optimizer: choice(OPTIMIZER_KINDS, { default: 'sgd', help: "'sgd' (momentum SGD, the tutorial's), 'adamw' or 'adam' (torch.optim's)" }),
  /** SGD's momentum; default 0.9. */
  momentum: number({ min: 0, default: 0.9, help: 'SGD momentum' }),
  /** AdamW / Adam: decay rates of the gradient's mean and square; default [0.9, 0.999]. */
  betas: pair(number({ min: 0, max: 1 }), { default: [0.9, 0.999], defaultHelp: '0.9,0.999', check: betasCheck, help: 'AdamW / Adam: decay rates of the gradient mean and square', flag: { value: '<b1,b2>' } }),
  /** AdamW / Adam: added to the denominator; default 1e-8. */
  eps: number({ min: 0, default: 1e-8, help: 'AdamW / Adam: added to the denominator' }),
  /** SGD and Adam: L2 penalty added to the gradient (default 0); AdamW: decoupled decay (default 0.01). */
  weightDecay: number({
    min: 0,
    defaultFrom: (c: { optimizer: OptimizerKind }) => (c.optimizer === 'adamw' ? 0.01 : 0),
    defaultHelp: '0, or 0.01 with --optimizer adamw',
    help: 'weight decay: L2 in the gradient for SGD and Adam, decoupled for AdamW',
  }),
  /** Parameters that get no weight decay: 'norm' (BatchNorm weights and biases) and / or 'bias'
   * (every bias), as torchvision's reference `--norm-weight-decay 0` / `--bias-weight-decay 0`.
   * Default: none (every parameter decays). */
  noWeightDecayOn: list(choice(NO_DECAY_KINDS, {}), {
    default: [],
    defaultHelp: 'none',
    help: "no weight decay on 'norm' (BatchNorm) and / or 'bias' parameters, comma-separated (torchvision reference's --norm-weight-decay 0 / --bias-weight-decay 0)",
    flag: { value: '<kinds>' },
  }),
  /** Clip the gradients' total 2-norm to this before each update (after unscaling, with loss
   * scaling), as torch.nn.utils.clip_grad_norm_. Default: no clipping. */
  clipGradNorm: custom((v: unknown, name: string) => positive(name, v), { help: "clip the gradients' total 2-norm to this before each update (after unscaling)", flag: numberFlag('<x>') }),
  /** Batches whose gradients make one optimizer step (each batch's loss divided by their number;
   * data-parallel ranks average gradients once per step). The schedule and every step count
   * (lines, events, maxStepsPerEpoch, checkpoints) count optimizer steps. Default 1. */
  accumulateSteps: integer({ min: 1, max: MAX_ACCUMULATE, default: 1, help: 'batches whose gradients make one optimizer step (effective batch: --batch-size x this)' }),
  /** Keep an exponential moving average of the weights, as torchvision's reference script's
   * `--model-ema-decay`: the decay per update is adjusted to the images between updates
   * (1 - min(1, (1 - emaDecay) * batchSize * accumulateSteps * emaEvery / epochs)). Each epoch
   * evaluates it too, and saves it as <arch>-ema.safetensors. Default: no EMA. */
  emaDecay: custom((v: unknown, name: string) => belowOne(name, v), {
    help: "keep a moving average of the weights (torchvision reference's --model-ema-decay, e.g. 0.99998), evaluated each epoch and saved as <arch>-ema.safetensors",
    flag: numberFlag('<d>'),
  }),
  /** Optimizer steps between EMA updates; default 32 (the reference's --model-ema-steps). */
  emaEvery: integer({ min: 1, default: 32, help: 'optimizer steps between updates of the weights average' }),
  /** 'backbone': train the head (fc) alone, every other parameter frozen (fine-tuning pretrained
   * weights on few images); default 'none'. */
  freeze: choice(FREEZE_KINDS, { default: 'none', help: "'backbone': train only the head (fc), the rest frozen (fine-tuning pretrained --weights)" }),
  /** The head's (fc) learning rate, scheduled as the rest (its ratio to lr is kept); default: lr. */
  headLr: number({ min: 0, help: 'learning rate of the head (fc), scheduled as the rest (default: --lr)' }),
  /** Default false. */
  nesterov: boolean({ default: false, help: 'Nesterov momentum' }),
  /** Default 0. */
  labelSmoothing: number({ min: 0, max: 1, default: 0, help: 'label smoothing' }),
  /** Classifier outputs; default: the data's classes (CIFAR-10 and the synthetic set: 10). */
  numClasses: integer({ min: 1, max: MAX_CLASSES, defaultHelp: "the data's classes", help: 'classes' }),
  /** Input size; default 32 for CIFAR-10 and the synthetic set, 224 for your images (the crop of
   * the ImageNet recipe: RandomResizedCrop in training, Resize(size * 256 / 224) + CenterCrop). */
  imageSize: integer({ min: 1, max: MAX_IMAGE_SIZE, defaultHelp: '32 for CIFAR-10, 224 for your images', help: 'input size' }),
  /** Default 'imagenet' (the tutorial's and torchvision's). */
  stem: choice(STEM_KINDS, { default: 'imagenet', help: "stem: 'imagenet' 7x7/2 + max-pool, 'cifar' 3x3/1" }),
  /** Default 'torch'. */
  padding: choice(PADDING_MODES, { default: 'torch', help: "'torch' symmetric or MindSpore 'same'", flag: { value: '<mode>' } }),
  /** Default 'torchvision'. */
  init: choice(INIT_KINDS, { default: 'torchvision', help: 'weight initialisation' }),
  /** Pretrained weights to start from: a file, or the name of torchvision's ImageNet weights
   * ('resnet50.imagenet1k_v2': downloaded once into the cache). The head is replaced when its
   * size differs. */
  weights: path({
    help: "start from pretrained weights: a file (.pth, .safetensors, MindSpore .ckpt) or torchvision's by name (e.g. resnet50.imagenet1k_v2; see 'weights list'); the head is replaced",
    flag: { value: '<file|name>' },
  }),
  /** Seeds weights, data order and augmentation; default 0. */
  seed: integer({ min: 0, default: 0, help: 'seed for weights, order and augmentation' }),
  /** Default: CUDA when available, else the CPU. */
  device: device({ defaultFrom: () => defaultDeviceName(), defaultHelp: 'CUDA when available', help: "'cpu', 'cuda' or 'cuda:N'", hparam: false }),
  /** libtorch intra-op threads of the training thread (training and evaluation); other threads
   * are not affected. Default: the process's (setNumThreads, or libtorch's: one per core). */
  threads: threads({ help: 'libtorch intra-op threads of the training thread (default: one per core)', hparam: false }),
  /** Default './BestCheckpoint'. A folder holding a previous run's checkpoints is refused unless
   * resuming or `overwrite`. */
  checkpointDir: path({ default: './BestCheckpoint', help: 'where the best and last checkpoints go', flag: { value: '<dir>' }, hparam: false }),
  /** Replace the checkpoints of a previous run in checkpointDir; default false. */
  overwrite: boolean({ default: false, help: 'replace the checkpoints of a previous run in --checkpoint-dir (without it, or --resume, such a folder is refused)', hparam: false }),
  /** Keep <checkpointDir>/metrics.ndjson (each step and epoch) and redraw <checkpointDir>/curves.png
   * at the end of every epoch; default true. */
  curves: boolean({ default: true, help: 'keep metrics.ndjson and draw curves.png in --checkpoint-dir', flag: { help: 'do not keep metrics.ndjson nor draw curves.png in --checkpoint-dir' }, hparam: false }),
  /** Write TensorBoard event files of the run here (a folder per run, e.g. runs/<name>: run
   * `tensorboard --logdir runs`). A resumed run continues the same curves. Default: none. */
  logDir: path({
    help: 'also write TensorBoard event files here, e.g. runs/<name> (then: tensorboard --logdir runs); curves.png and metrics.ndjson go to --checkpoint-dir either way (unless --no-curves)',
    flag: { name: '--logdir', value: '<dir>' },
    hparam: false,
  }),
  /** Resume from this checkpoint (written by a previous run: '<arch>-last.safetensors'). */
  resume: path({ help: 'continue a run from its last checkpoint', flag: { value: '<checkpoint>' }, hparam: false, checkpoint: false }),
  /** Stop each epoch after this many steps (quick runs and tests); default: the whole epoch. */
  maxStepsPerEpoch: integer({ min: 1, help: 'cut epochs short (quick runs)' }),
  /** Print a step line every this many steps; default 100. */
  logEvery: integer({ min: 1, default: 100, help: 'print a step line every n steps', hparam: false }),
  /** How many steps later a step's loss is read (its line, event and NaN check come then), so
   * that reading it never waits for the GPU to finish the steps queued after it. 0 reads each
   * loss at once. Values are the same either way. Default 1. */
  lossReadLag: integer({ min: 0, max: 1000, default: 1, help: 'read each loss this many steps later (never waiting for the GPU); values are the same', hparam: false }),
  /** Mixed precision (autocast) for forward and loss on the training device; default off. */
  amp: choice(HALF_DTYPES, { help: 'mixed precision (autocast) for forward and loss', flag: { value: '<dtype>' } }),
  /** Mixed precision the other way: convolutions and head stored and computed in this dtype,
   * BatchNorm in float32, loss in float32 (ResNet.toHalfPrecision). Not with amp. Default off. */
  half: choice(HALF_DTYPES, { help: 'half-precision model with float32 BatchNorm (instead of --amp)', flag: { value: '<dtype>' } }),
  /** Dynamic loss scaling (GradScaler) so that small float16 gradients do not flush to zero:
   * steps whose gradients overflow are skipped and the scale lowered. Default: on with amp
   * 'float16', off otherwise; options (initScale, growthInterval...) turn it on. Not with cudaGraph
   * or a float16 half model. */
  lossScaling: custom<boolean | GradScalerOptions>()(lossScalingCheck, {
    defaultFrom: (c: { amp: 'bfloat16' | 'float16' | undefined }) => (c.amp === 'float16' ? {} : false),
    defaultHelp: 'on with --amp float16',
    help: 'dynamic loss scaling',
    flag: { negated: 'no loss scaling with --amp float16' },
  }),
  /** cuDNN autotuning (CUDA; fixed shapes); default true. */
  cudnnBenchmark: boolean({ default: true, help: 'cuDNN autotuning', flag: { help: 'turn off cuDNN autotuning' } }),
  /** TensorFloat-32 on CUDA (Ampere+): 'convolutions' (default, PyTorch's own default: cuDNN
   * convolutions in TF32, matrix products in full float32), true (matrix products too) or false
   * (neither: full float32 everywhere, slower). */
  tf32: custom<boolean | 'convolutions'>()(tf32Check, {
    default: 'convolutions',
    help: 'TensorFloat-32 in CUDA matrix products too (by default only cuDNN convolutions use it, as in PyTorch)',
    flag: { negated: 'no TensorFloat-32 at all on CUDA: full float32 convolutions (slower)' },
  }),
  /** Channels-last (NHWC) weights and inputs; default false. */
  channelsLast: boolean({ default: false, help: 'channels-last (NHWC) weights and inputs' }),
  /** Capture the training step as a CUDA graph after 3 eager steps and replay it (CUDA only;
   * the last partial batch runs eagerly). A non-finite loss is then seen after its update, not
   * before. Default false. */
  cudaGraph: boolean({ default: false, help: 'capture the training step as a CUDA graph and replay it (CUDA only)' }),
  /** Keep the whole uint8 training and test sets on the training device and augment there,
   * instead of preparing batches on a CPU worker thread. Default false. */
  dataOnDevice: boolean({ default: false, help: 'keep the uint8 dataset on the training device and augment there' }),
  /** Data-parallel training across processes (c10d, Gloo, CPU): true joins the group described by
   * the environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them), or pass
   * initProcessGroup's options. batchSize is the global batch, split evenly over the ranks; lines,
   * events and checkpoints come from rank 0; evaluation is shared. Default off. */
  distributed: custom<boolean | ProcessGroupOptions | null>()(distributedCheck, { default: null, flag: false, hparam: false }),
} as const;

/** The training options (the checks of options together are added by config.ts). */
export const TRAIN_OPTIONS = declareOptions(DECLARATIONS, { name: 'the training options' });

/** The `train` command's own flags: output and the launcher of data-parallel ranks. */
export const TRAIN_COMMAND_OPTIONS = declareOptions({
  json: boolean({ cliOnly: true, help: 'print one JSON object a line (step, epoch, loss, lr, accuracy, images/s) instead of the log' }),
  nprocPerNode: integer({
    min: 1,
    cliOnly: true,
    help: 'data-parallel: start n ranks on this machine (Gloo on the CPU; NCCL with --device cuda, rank r on cuda:r); --batch-size is then the global batch, split evenly',
  }),
  nnodes: integer({ min: 1, default: 1, cliOnly: true, help: 'data-parallel: machines taking part (with --nproc-per-node)' }),
  nodeRank: integer({ min: 0, default: 0, cliOnly: true, help: "data-parallel: this machine's index, 0 .. nnodes - 1", flag: { value: '<r>' } }),
  masterAddr: text({ default: '127.0.0.1', cliOnly: true, help: 'data-parallel: where rank 0 serves the rendezvous', flag: { value: '<addr>' } }),
  masterPort: integer({ min: 1, max: 65535, cliOnly: true, help: 'data-parallel: its port (default: a free one on one machine, 29500 on several)', flag: { value: '<port>' } }),
  timeout: integer({
    min: 1,
    max: 7 * 86_400,
    default: 300,
    cliOnly: true,
    help: 'data-parallel: how long joining may wait for every rank (naming those missing), and each collective for the others',
    flag: { value: '<seconds>' },
  }),
});

export type TrainOptions = OptionsOf<typeof TRAIN_OPTIONS>;
/** A run's options, resolved: every default filled in, every value checked. */
export type TrainConfig = ConfigOf<typeof TRAIN_OPTIONS>;
