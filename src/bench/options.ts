// The benchmark suites' options, each declared once (options/declare.ts): the library's types,
// defaults and checks (runBenchmark, runTrainBenchmark, runDdpBenchmark) and the `bench` command's
// flags. An option two suites have is one declaration, and one flag. Messages on the command line
// name the library's keys, as they did before the flags were derived (scripts and tests know them).
import { invalidArgument } from '../errors';
import { device, threads } from '../options/common';
import { boolean, choice, custom, declareOptions, integer, list, type ConfigOf, type OptionsOf } from '../options/declare';

const ARCHS = ['resnet18', 'resnet50'] as const;
const HALF_DTYPES = ['bfloat16', 'float16'] as const;

function checkPython(value: unknown, name: string): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || value.trim() === '') throw invalidArgument('a python executable, or null', name, value);
  return value;
}

function checkLog(value: unknown, name: string): (line: string) => void {
  if (typeof value !== 'function') throw invalidArgument('a function', name, value);
  return value as (line: string) => void;
}

// The options more than one suite has.
const repeats = integer({ min: 1, default: 3, help: 'runs of each case (fresh processes)' });
const threadsForBoth = threads({ help: 'intra-op threads for both', defaultHelp: "this process's count; ddp suite: 1 per rank" });
const python = custom<string | null>()(checkPython, {
  defaultFrom: () => process.env.RESNET_NATIVE_BENCH_PYTHON ?? 'python3',
  defaultHelp: 'RESNET_NATIVE_BENCH_PYTHON or python3',
  help: 'python with torch and torchvision',
  flag: { value: '<exe>' },
});
const onDevice = device({ default: 'cpu' });
const log = custom(checkLog, { flag: false, hparam: false, checkpoint: false });
const archs = list(choice(ARCHS, {}), { default: ['resnet50', 'resnet18'], help: 'train and ddp suites: resnet50 and/or resnet18', flag: { name: '--train-arch', value: '<names>' } });

const SETTINGS = { commandLineNames: 'key' } as const;

/** runBenchmark (`bench --suite step`): one training step and one inference pass, ours and PyTorch's. */
export const STEP_BENCH_OPTIONS = declareOptions({
  /** Batch sizes, a case each; default 32 and 256. */
  batches: list(integer({ min: 1 }), { default: [32, 256], help: 'step suite: comma-separated batch sizes', flag: { name: '--batch', value: '<sizes>' } }),
  /** Timed steps per run; default 5. */
  steps: integer({ min: 1, default: 5, help: 'step suite: timed steps per run' }),
  /** Untimed steps first; default 2. */
  warmup: integer({ min: 0, default: 2, help: 'step suite: untimed steps first' }),
  /** Runs of each case (fresh processes), alternating ours and PyTorch's; medians are reported. Default 3. */
  repeats,
  /** Intra-op threads for both; default: this process's count. */
  threads: threadsForBoth,
  /** Python with torch + torchvision; default RESNET_NATIVE_BENCH_PYTHON or python3. null: no PyTorch comparison. */
  python,
  /** Default 'cpu'. */
  device: onDevice,
  /** Mixed precision for both implementations. */
  amp: choice(HALF_DTYPES, { help: 'step suite: mixed precision for both', flag: { value: '<dtype>' } }),
  /** A half-precision model with float32 BatchNorm, for both implementations. */
  half: choice(HALF_DTYPES, { help: 'step suite: half-precision model with float32 BatchNorm, for both', flag: { value: '<dtype>' } }),
  /** Channels-last weights and inputs for both implementations; default false. */
  channelsLast: boolean({ default: false, help: 'step suite: channels-last weights and inputs, for both' }),
  /** CUDA graphs of the training step / inference pass for both implementations (CUDA only); default false. */
  cudaGraph: boolean({ default: false, help: 'step suite: training steps and inference passes replayed as CUDA graphs, for both (CUDA only)' }),
  /** Progress lines; default: none. */
  log,
}, SETTINGS);

/** runTrainBenchmark (`bench --suite train`): the whole train command, ours against bench/torch_train.py. */
export const TRAIN_BENCH_OPTIONS = declareOptions({
  /** Architectures, each run at every batch size; default resnet50 and resnet18. */
  archs,
  /** Batch sizes; default 64 and 256. */
  batches: list(integer({ min: 1 }), { default: [64, 256], help: 'train suite: comma-separated batch sizes', flag: { name: '--train-batch', value: '<sizes>' } }),
  /** Default 2. */
  epochs: integer({ min: 1, default: 2, help: 'train suite: epochs per run' }),
  /** Images in each of the 5 training files and in the test file; default 512 (2,560 / 512). */
  perFile: integer({ min: 1, default: 512, help: 'train suite: images in each of the 5 training files and in the test file' }),
  /** Runs of each case and implementation, alternating; medians are reported. Default 3. */
  repeats,
  /** Intra-op threads for both; default: this process's count. */
  threads: threadsForBoth,
  /** DataLoader worker processes on the PyTorch side; default 2. */
  workers: integer({ min: 0, default: 2, help: 'train suite: DataLoader worker processes on the PyTorch side' }),
  /** Python with torch + torchvision; default RESNET_NATIVE_BENCH_PYTHON or python3. null: no PyTorch comparison. */
  python,
  /** Default 'cpu'. */
  device: onDevice,
  /** Progress lines; default: none. */
  log,
}, SETTINGS);

/** runDdpBenchmark (`bench --suite ddp`): data-parallel steps, ours against PyTorch DDP. */
export const DDP_BENCH_OPTIONS = declareOptions(
  {
    /** Default resnet50 and resnet18. */
    archs,
    /** The global batch, split evenly over the ranks; default 32. */
    batch: integer({ min: 2, default: 32, help: 'ddp suite: the global batch', flag: '--ddp-batch' }),
    /** Ranks (processes); default 2. */
    world: integer({ min: 2, default: 2, help: 'ddp suite: ranks (one thread each unless --threads)', flag: '--ddp-ranks' }),
    /** Intra-op threads per rank (and for the single process); default 1. */
    threads: threadsForBoth,
    /** Timed steps per run; default 10 (`bench` gives twice --steps). */
    steps: integer({ min: 1, default: 10, flag: false }),
    /** Untimed steps first; default 3 (`bench` gives --warmup + 1). */
    warmup: integer({ min: 0, default: 3, flag: false }),
    /** Runs of each configuration, alternating; medians are reported. Default 3. */
    repeats,
    /** Python with torch + torchvision; default RESNET_NATIVE_BENCH_PYTHON or python3. null: no PyTorch comparison. */
    python,
    /** Progress lines; default: none. */
    log,
  },
  {
    ...SETTINGS,
    together(c) {
      if (c.batch % c.world !== 0) throw new RangeError(`the global batch ${c.batch} must split evenly over ${c.world} ranks`);
    },
  },
);

export type BenchOptions = OptionsOf<typeof STEP_BENCH_OPTIONS>;
export type TrainBenchOptions = OptionsOf<typeof TRAIN_BENCH_OPTIONS>;
export type DdpBenchOptions = OptionsOf<typeof DDP_BENCH_OPTIONS>;
export type DdpBenchConfig = ConfigOf<typeof DDP_BENCH_OPTIONS>;
