// `resnet-native bench` / `npm run bench`: ResNet50 at 32x32, training step and inference, ours
// and (when python can import torch and torchvision) PyTorch eager in the same run, each case in
// a fresh process, repeated; medians and ratios ours/PyTorch. Plus the data pipeline's images/s.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { trainTransforms } from '../data/transforms';
import { checkDevice, getNumThreads } from '../device';
import { STEP_BENCH_OPTIONS, type BenchOptions } from './options';
import { median } from './stats';

export type { BenchOptions } from './options';

export interface CaseResult {
  impl: string;
  mode: 'train' | 'infer';
  batch: number;
  threads: number;
  medianStepSeconds: number;
  imagesPerSecond: number;
  peakRssBytes: number;
  /** Minor page faults per timed step. */
  pageFaultsPerStep: number;
  /** Peak bytes held by tensors on the GPU (the caching allocator's peak allocated), CUDA only. */
  peakCudaBytes?: number | null;
  callsPerStep?: number;
  bindingShare?: number;
  version?: string;
}

export interface BenchRow {
  mode: 'train' | 'infer';
  batch: number;
  ours: CaseResult;
  pytorch: CaseResult | null;
  /** ours / PyTorch images per second. */
  speedRatio: number | null;
  /** ours / PyTorch peak RSS. */
  memoryRatio: number | null;
}

function runJson(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): CaseResult {
  const res = spawnSync(command, args, { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(`${path.basename(command)} ${args.slice(0, 3).join(' ')} failed: ${childError(res.stderr, res.status, res.signal)}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

/** The error a failed child printed: its last lines that are not a stack frame or Node's version. */
export function childError(stderr: string, status: number | null, signal: string | null): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('at ') && !/^Node\.js v\d/.test(l) && l !== '^');
  return lines.slice(-2).join(' | ') || `exit code ${status}, signal ${signal}`;
}

function combine(results: CaseResult[]): CaseResult {
  const m = median(results.map((r) => r.medianStepSeconds));
  return {
    ...results[0],
    medianStepSeconds: m,
    imagesPerSecond: results[0].batch / m,
    peakRssBytes: median(results.map((r) => r.peakRssBytes)),
    pageFaultsPerStep: median(results.map((r) => r.pageFaultsPerStep)),
    peakCudaBytes: results[0].peakCudaBytes == null ? null : median(results.map((r) => r.peakCudaBytes!)),
    bindingShare: results[0].bindingShare === undefined ? undefined : median(results.map((r) => r.bindingShare!)),
  };
}

export function pytorchAvailable(python: string): string | null {
  const res = spawnSync(python, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : null;
}

export function runBenchmark(options: BenchOptions = {}): { rows: BenchRow[]; dataImagesPerSecond: number; machine: string } {
  const c = STEP_BENCH_OPTIONS.resolve(options);
  const log = c.log ?? (() => {});
  if (c.cudaGraph && c.device === 'cpu') throw new Error('CUDA graphs need a CUDA device: pass --device cuda');
  if (c.amp && c.half) throw new Error('--amp and --half are alternatives: pick one');
  checkDevice('device', c.device);
  const threads = c.threads ?? getNumThreads();
  const steps = String(c.steps);
  const warmup = String(c.warmup);
  const { repeats, python } = c;
  const torchVersion = python ? pytorchAvailable(python) : null;
  if (python && !torchVersion) log(`PyTorch comparison skipped: ${python} cannot import torch and torchvision`);
  const caseScript = path.join(__dirname, 'case.js');
  const torchScript = path.resolve(__dirname, '..', '..', 'bench', 'torch_bench.py');
  const rows: BenchRow[] = [];
  for (const mode of ['train', 'infer'] as const) {
    for (const batch of c.batches) {
      const common = ['--mode', mode, '--batch', String(batch), '--steps', steps, '--warmup', warmup, '--threads', String(threads), '--device', c.device];
      if (c.amp) common.push('--amp', c.amp);
      if (c.half) common.push('--half', c.half);
      if (c.channelsLast) common.push('--channels-last');
      if (c.cudaGraph) common.push('--cuda-graph');
      const ours: CaseResult[] = [];
      const theirs: CaseResult[] = [];
      // Alternate the two so that machine noise falls on both alike.
      for (let r = 0; r < repeats; r++) {
        ours.push(runJson(process.execPath, [caseScript, ...common]));
        if (torchVersion) theirs.push(runJson(python!, [torchScript, ...common]));
      }
      const o = combine(ours);
      const p = theirs.length ? combine(theirs) : null;
      rows.push({
        mode,
        batch,
        ours: o,
        pytorch: p,
        speedRatio: p ? o.imagesPerSecond / p.imagesPerSecond : null,
        memoryRatio: p ? o.peakRssBytes / p.peakRssBytes : null,
      });
      log(`${mode} batch ${batch}: ours ${o.imagesPerSecond.toFixed(0)} images/s${p ? `, PyTorch ${p.imagesPerSecond.toFixed(0)}, ratio ${(o.imagesPerSecond / p.imagesPerSecond).toFixed(3)}` : ''}`);
    }
  }
  const loader = new DataLoader(syntheticDataset('train', { size: 10_240 }), { batchSize: 256, transform: trainTransforms() });
  const rates: number[] = [];
  for (let e = 0; e < 3; e++) {
    const t0 = performance.now();
    for (const b of loader.epoch(e)) {
      b.images.dispose();
      b.labels.dispose();
    }
    rates.push(loader.dataset.size / ((performance.now() - t0) / 1000));
  }
  const machine =
    `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${threads} intra-op threads, device ${c.device}` +
    `${c.amp ? `, autocast ${c.amp}` : ''}${c.half ? `, ${c.half} model (float32 BatchNorm)` : ''}${c.channelsLast ? ', channels-last' : ''}${c.cudaGraph ? ', CUDA graphs' : ''}${torchVersion ? `, PyTorch ${torchVersion}` : ''}`;
  return { rows, dataImagesPerSecond: median(rates), machine };
}

export function formatBenchmark(result: ReturnType<typeof runBenchmark>): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  const lines = [
    `ResNet50, 10 classes, 32x32 input; ${result.machine}`,
    'case          ours img/s  PyTorch img/s  ratio   ours RSS  PyTorch RSS  RSS ratio  binding share  faults/step ours, PyTorch',
  ];
  for (const r of result.rows) {
    lines.push(
      [
        `${r.mode} ${r.batch}`.padEnd(13),
        r.ours.imagesPerSecond.toFixed(0).padStart(10),
        (r.pytorch ? r.pytorch.imagesPerSecond.toFixed(0) : '-').padStart(14),
        (r.speedRatio ? r.speedRatio.toFixed(3) : '-').padStart(6),
        mb(r.ours.peakRssBytes).padStart(10),
        (r.pytorch ? mb(r.pytorch.peakRssBytes) : '-').padStart(12),
        (r.memoryRatio ? r.memoryRatio.toFixed(2) : '-').padStart(10),
        `${((r.ours.bindingShare ?? 0) * 100).toFixed(2)}%`.padStart(14),
        `${r.ours.pageFaultsPerStep.toFixed(0).padStart(12)}, ${r.pytorch ? r.pytorch.pageFaultsPerStep.toFixed(0) : '-'}`,
      ].join(' '),
    );
  }
  const gpu = result.rows.filter((r) => r.ours.peakCudaBytes != null);
  if (gpu.length > 0) {
    lines.push('GPU memory (peak allocated by tensors): ' + gpu.map((r) => {
      const theirs = r.pytorch?.peakCudaBytes;
      return `${r.mode} ${r.batch} ours ${mb(r.ours.peakCudaBytes!)}${theirs ? `, PyTorch ${mb(theirs)} (${(r.ours.peakCudaBytes! / theirs).toFixed(2)}x)` : ''}`;
    }).join('; '));
  }
  lines.push(`data pipeline (augment + normalize + batch 256): ${result.dataImagesPerSecond.toFixed(0)} images/s`);
  return lines.join('\n');
}
