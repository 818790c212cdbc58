// `resnet-native bench --suite train` / `npm run bench:train`: the whole `train` command as a user
// runs it (CIFAR-10 binary files on disk, prefetching and augmentation, training steps, the
// evaluation and checkpoint writes of every epoch), against the same run written in plain PyTorch
// (bench/torch_train.py), alternately, each run in a fresh process. Wall time of the process and
// where each epoch's time went, medians over repeats, ratio ours / PyTorch.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeSyntheticCifar } from '../data/synthetic';
import { checkDevice, getNumThreads } from '../device';
import type { EpochSeconds } from '../train/events';
import { childError, pytorchAvailable } from './run';
import { TRAIN_BENCH_OPTIONS, type TrainBenchOptions } from './options';
import { median } from './stats';

export interface TrainBenchCase {
  arch: 'resnet18' | 'resnet50';
  batch: number;
}

export type { TrainBenchOptions } from './options';

/** One run: the process's wall time and each epoch's breakdown. */
export interface TrainRun {
  wallSeconds: number;
  epochs: EpochSeconds[];
  accuracy: number;
}

/** Medians over the repeats of one implementation. */
export interface TrainRunSummary {
  /** Whole process: start-up, data loading, model building, every epoch. */
  wallSeconds: number;
  /** Per epoch (median over epochs and repeats) of each phase. */
  epoch: EpochSeconds;
  /** Training images per second of epoch time (steps, data waits, evaluation and checkpoints included). */
  imagesPerSecond: number;
  accuracy: number;
  runs: TrainRun[];
}

export interface TrainBenchRow extends TrainBenchCase {
  ours: TrainRunSummary;
  pytorch: TrainRunSummary | null;
  /** ours / PyTorch process wall time (lower is better; the goal is <= 1). */
  wallRatio: number | null;
  /** ours / PyTorch median epoch time. */
  epochRatio: number | null;
}

export interface TrainBenchResult {
  rows: TrainBenchRow[];
  machine: string;
  trainImages: number;
  testImages: number;
  epochs: number;
}

const PHASES = ['data', 'step', 'eval', 'checkpoint', 'total'] as const;

/** Runs `command args` to completion, timing it; its stdout holds JSON lines with epoch events. */
function timedRun(command: string, args: string[]): TrainRun {
  const t0 = performance.now();
  const res = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (res.error) throw new Error(`${path.basename(command)} could not start: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} failed: ${childError(res.stderr, res.status, res.signal)}`);
  }
  const events = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; seconds?: EpochSeconds; accuracy?: number });
  const epochs = events.filter((e) => e.type === 'epoch');
  if (epochs.length === 0) throw new Error(`${path.basename(command)} printed no epoch line: ${res.stdout.slice(0, 200)}`);
  return { wallSeconds, epochs: epochs.map((e) => e.seconds!), accuracy: epochs.at(-1)!.accuracy! };
}

function summarize(runs: TrainRun[], trainImages: number): TrainRunSummary {
  const epochs = runs.flatMap((r) => r.epochs);
  const epoch = Object.fromEntries(PHASES.map((p) => [p, median(epochs.map((e) => e[p]))])) as unknown as EpochSeconds;
  return {
    wallSeconds: median(runs.map((r) => r.wallSeconds)),
    epoch,
    imagesPerSecond: trainImages / epoch.total,
    accuracy: median(runs.map((r) => r.accuracy)),
    runs,
  };
}

export function runTrainBenchmark(options: TrainBenchOptions = {}): TrainBenchResult {
  const c = TRAIN_BENCH_OPTIONS.resolve(options);
  const log = c.log ?? (() => {});
  const { epochs, perFile, repeats, workers, python } = c;
  const threads = c.threads ?? getNumThreads();
  const device = checkDevice('device', c.device);
  const torchVersion = python ? pytorchAvailable(python) : null;
  if (python && !torchVersion) log(`PyTorch comparison skipped: ${python} cannot import torch and torchvision`);
  const cli = path.resolve(__dirname, '..', 'cli', 'index.js');
  const torchScript = path.resolve(__dirname, '..', '..', 'bench', 'torch_train.py');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rn-bench-train-'));
  const rows: TrainBenchRow[] = [];
  try {
    const data = writeSyntheticCifar(work, { perFile });
    const trainImages = 5 * perFile;
    for (const [arch, batch] of c.archs.flatMap((a) => c.batches.map((b) => [a, b] as const))) {
      const common = ['--data', data, '--arch', arch, '--batch-size', String(batch), '--epochs', String(epochs), '--device', device, '--threads', String(threads)];
      const ours: TrainRun[] = [];
      const theirs: TrainRun[] = [];
      for (let r = 0; r < repeats; r++) {
        // Alternate the two so that machine noise falls on both alike; a fresh folder each run.
        const dir = (name: string) => path.join(work, `${name}-${arch}-${batch}-${r}`);
        ours.push(timedRun(process.execPath, [cli, 'train', ...common, '--checkpoint-dir', dir('ours'), '--json']));
        fs.rmSync(dir('ours'), { recursive: true, force: true });
        if (torchVersion) {
          theirs.push(timedRun(python!, [torchScript, ...common, '--workers', String(workers), '--checkpoint-dir', dir('torch')]));
          fs.rmSync(dir('torch'), { recursive: true, force: true });
        }
        const last = (runs: TrainRun[]) => `${runs.at(-1)!.wallSeconds.toFixed(1)} s`;
        log(`${arch} batch ${batch}, run ${r + 1}/${repeats}: ours ${last(ours)}${torchVersion ? `, PyTorch ${last(theirs)}` : ''}`);
      }
      const o = summarize(ours, trainImages);
      const p = theirs.length ? summarize(theirs, trainImages) : null;
      rows.push({ arch, batch, ours: o, pytorch: p, wallRatio: p ? o.wallSeconds / p.wallSeconds : null, epochRatio: p ? o.epoch.total / p.epoch.total : null });
    }
    const machine =
      `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${threads} intra-op threads, device ${device}` +
      `${torchVersion ? `, PyTorch ${torchVersion} with ${workers} DataLoader workers` : ''}`;
    return { rows, machine, trainImages, testImages: perFile, epochs };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function formatTrainBenchmark(result: TrainBenchResult): string {
  const s = (x: number) => x.toFixed(2);
  const phases = (e: EpochSeconds) => `${s(e.data)}/${s(e.step)}/${s(e.eval)}/${s(e.checkpoint)}`;
  const lines = [
    `train end to end: ${result.epochs} epochs of ${result.trainImages} training / ${result.testImages} test images (CIFAR-10 binary files); ${result.machine}`,
    'case             ours wall  PyTorch wall  ratio   ours epoch  PyTorch epoch  ratio  ours img/s  PyTorch img/s  ours data/step/eval/ckpt s  PyTorch data/step/eval/ckpt s',
  ];
  for (const r of result.rows) {
    lines.push(
      [
        `${r.arch} ${r.batch}`.padEnd(15),
        `${r.ours.wallSeconds.toFixed(1)} s`.padStart(10),
        (r.pytorch ? `${r.pytorch.wallSeconds.toFixed(1)} s` : '-').padStart(13),
        (r.wallRatio ? r.wallRatio.toFixed(3) : '-').padStart(6),
        `${r.ours.epoch.total.toFixed(1)} s`.padStart(11),
        (r.pytorch ? `${r.pytorch.epoch.total.toFixed(1)} s` : '-').padStart(14),
        (r.epochRatio ? r.epochRatio.toFixed(3) : '-').padStart(6),
        r.ours.imagesPerSecond.toFixed(0).padStart(11),
        (r.pytorch ? r.pytorch.imagesPerSecond.toFixed(0) : '-').padStart(14),
        phases(r.ours.epoch).padStart(27),
        (r.pytorch ? phases(r.pytorch.epoch) : '-').padStart(30),
      ].join(' '),
    );
  }
  lines.push('wall: the whole process (start-up included); epoch: median epoch (data waits, steps, evaluation, checkpoint writes)');
  return lines.join('\n');
}
