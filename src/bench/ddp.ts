// `resnet-native bench --suite ddp` / `npm run bench:ddp`: data-parallel training steps, ours
// (DistributedDataParallel on libtorch's Reducer, Gloo) against PyTorch DDP (bench/torch_ddp.py),
// same model, global batch, ranks and threads, alternately, each run in fresh processes. Reports
// images/s of the global batch, the ratio to PyTorch, the scaling efficiency over one process
// with one rank's threads, and the share of a step not spent computing (communication and
// waiting: 1 - one process's step on a rank's share / the data-parallel step).
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { freePort } from '../distributed/ports';
import { childError, pytorchAvailable } from './run';
import { DDP_BENCH_OPTIONS, type DdpBenchOptions } from './options';
import { median } from './stats';

export type { DdpBenchOptions } from './options';

interface Side {
  /** Global-batch images/s of the data-parallel run. */
  ddp: number;
  /** One process, whole batch, one rank's threads. */
  single: number;
  /** One process, one rank's share of the batch: a step without communication. */
  shareStepSeconds: number;
  ddpStepSeconds: number;
}

export interface DdpBenchRow {
  arch: string;
  batch: number;
  world: number;
  threads: number;
  ours: Side;
  pytorch: Side | null;
}

/** Our run: per-step seconds of the slowest rank. */
async function ours(arch: string, batch: number, world: number, threads: number, steps: number, warmup: number): Promise<number[]> {
  const script = path.join(__dirname, 'ddp-rank.js');
  const port = await freePort();
  const ranks = await Promise.all(
    Array.from({ length: world }, (_, rank) => {
      const child = spawn(process.execPath, [script, arch, String(batch), String(steps), String(warmup), String(world), String(threads)], {
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: String(threads) },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      return new Promise<number[]>((resolve, reject) =>
        child.on('exit', (code, signal) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`our rank ${rank} failed: ${childError(err, code, signal)}`)))),
      );
    }),
  );
  return ranks[0].map((_, i) => Math.max(...ranks.map((r) => r[i])));
}

function pytorch(python: string, arch: string, batch: number, world: number, threads: number, steps: number, warmup: number): number[] {
  const script = path.resolve(__dirname, '..', '..', 'bench', 'torch_ddp.py');
  const res = spawnSync(python, [script, arch, String(batch), String(steps), String(warmup), String(world), String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (res.status !== 0) throw new Error(`PyTorch DDP run failed: ${childError(res.stderr, res.status, res.signal)}`);
  return (JSON.parse(res.stdout.trim().split('\n').pop()!) as { seconds: number[] }).seconds;
}

export async function runDdpBenchmark(options: DdpBenchOptions = {}): Promise<{ rows: DdpBenchRow[] }> {
  const c = DDP_BENCH_OPTIONS.resolve(options);
  const log = c.log ?? (() => {});
  const { batch, world, steps, warmup, repeats, python } = c;
  const threads = c.threads ?? 1;
  const torchVersion = python ? pytorchAvailable(python) : null;
  if (python && !torchVersion) log(`PyTorch (with torchvision) not found for ${python}: our figures only`);
  const rows: DdpBenchRow[] = [];
  for (const arch of c.archs) {
    const runs = { ours: { ddp: [] as number[], single: [] as number[], share: [] as number[] }, torch: { ddp: [] as number[], single: [] as number[], share: [] as number[] } };
    for (let r = 0; r < repeats; r++) {
      log(`ddp ${arch} batch ${batch}, ${world} ranks x ${threads} thread(s): repeat ${r + 1}/${repeats}`);
      // alternate: ours, PyTorch, for each configuration
      for (const [key, w, b] of [['ddp', world, batch], ['single', 1, batch], ['share', 1, batch / world]] as const) {
        runs.ours[key].push(median(await ours(arch, b, w, threads, steps, warmup)));
        if (torchVersion) runs.torch[key].push(median(pytorch(python!, arch, b, w, threads, steps, warmup)));
      }
    }
    const side = (s: { ddp: number[]; single: number[]; share: number[] }): Side => ({
      ddp: batch / median(s.ddp),
      single: batch / median(s.single),
      shareStepSeconds: median(s.share),
      ddpStepSeconds: median(s.ddp),
    });
    rows.push({ arch, batch, world, threads, ours: side(runs.ours), pytorch: torchVersion ? side(runs.torch) : null });
  }
  return { rows };
}

export function formatDdpBenchmark({ rows }: { rows: DdpBenchRow[] }): string {
  const f = (x: number, d = 0) => x.toFixed(d);
  const lines = [
    '| model | global batch | ranks x threads | ours DDP images/s | PyTorch DDP images/s | ratio | scaling ours, PyTorch | not computing: ours, PyTorch |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const eff = (s: Side) => `${f((100 * s.ddp) / (r.world * s.single))}%`;
    const idle = (s: Side) => `${f(100 * (1 - s.shareStepSeconds / s.ddpStepSeconds))}%`;
    lines.push(
      `| ${r.arch} | ${r.batch} | ${r.world} x ${r.threads} | ${f(r.ours.ddp)} | ${r.pytorch ? f(r.pytorch.ddp) : '-'} | ${r.pytorch ? f(r.ours.ddp / r.pytorch.ddp, 2) : '-'} | ` +
        `${eff(r.ours)}, ${r.pytorch ? eff(r.pytorch) : '-'} | ${idle(r.ours)}, ${r.pytorch ? idle(r.pytorch) : '-'} |`,
    );
  }
  return lines.join('\n');
}
