// `npm run bench:data -- --folder`: the training input pipeline on a folder of JPEGs (read,
// decode, RandomResizedCrop 224, flip, normalise, batch), ImageFileLoader against torchvision's
// ImageFolder + DataLoader (bench/torch_folder.py) with as many worker processes as we use
// decode threads, on the same files, alternately; each epoch timed from its start (threads or
// worker processes started) to its last batch; medians of repeats.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { listImageFolder } from '../data/image-folder';
import { ImageFileLoader } from '../data/image-loader';
import { imagenetTrainPipeline } from '../data/image-transforms';
import { SeededRandom } from '../data/random';
import { getNumThreads } from '../device';
import { childError, pytorchAvailable } from './run';
import { median } from './stats';

export interface FolderBenchOptions {
  /** The folder of class folders; default a generated one under the temporary folder (kept). */
  folder?: string;
  /** JPEGs generated (500 x 375, quality 90, 10 classes); default 3000. */
  images?: number;
  /** Default 64. */
  batch?: number;
  /** Decode threads, and DataLoader worker processes; default one per core. */
  workers?: number;
  /** Images each decode thread decodes at once; the loader's default. */
  decodes?: number;
  transfer?: 'uint8' | 'float32';
  /** Default 224. */
  size?: number;
  /** Epochs of each, alternating; default 3. */
  repeats?: number;
  /** Python with torch + torchvision; null: no comparison. */
  python?: string | null;
  log?: (line: string) => void;
}

/** One timed epoch. */
export interface FolderRun {
  images: number;
  seconds: number;
  /** CPU seconds of every thread (ours) or of the process and its workers (PyTorch). */
  cpuSeconds: number;
}

export interface FolderBenchResult {
  folder: string;
  images: number;
  machine: string;
  ours: FolderRun[];
  pytorch: FolderRun[];
  oursImagesPerSecond: number;
  pytorchImagesPerSecond: number | null;
  ratio: number | null;
}

/** A photograph-like texture: noise at every scale, the same amplitude an octave (the 1/f
 * amplitude spectrum of natural images), so JPEGs of it are as large as photographs'. */
async function texture(width: number, height: number, rng: SeededRandom): Promise<Buffer> {
  const n = width * height * 3;
  const sum = new Float32Array(n);
  for (let cells = 4; cells <= width; cells *= 2) {
    const gw = cells;
    const gh = Math.max(2, Math.round((cells * height) / width));
    const grid = Buffer.alloc(gw * gh * 3);
    for (let i = 0; i < grid.length; i++) grid[i] = rng.nextUint32() & 255;
    const up = await sharp(grid, { raw: { width: gw, height: gh, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
    for (let i = 0; i < n; i++) sum[i] += up[i] - 128;
  }
  let mean = 0;
  let square = 0;
  for (let i = 0; i < n; i++) {
    mean += sum[i];
    square += sum[i] * sum[i];
  }
  mean /= n;
  const sd = Math.sqrt(square / n - mean * mean);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.max(0, Math.min(255, Math.round(120 + ((sum[i] - mean) / sd) * 55)));
  return out;
}

/** `count` 500 x 375 JPEGs (quality 90) in 10 class folders: crops of a large texture at random
 * places, some mirrored. Kept once made (a marker file says for how many). */
export async function makeJpegFolder(dir: string, count: number, log: (line: string) => void = () => {}): Promise<void> {
  const marker = path.join(dir, `.complete-${count}`);
  if (fs.existsSync(marker)) return;
  log(`writing ${count} JPEGs (500 x 375, quality 90) to ${dir}...`);
  const rng = new SeededRandom(25);
  const [tw, th] = [1500, 1125];
  const pixels = await texture(tw, th, rng);
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `class${i % 10}`, `${String(i).padStart(6, '0')}.jpg`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let image = sharp(pixels, { raw: { width: tw, height: th, channels: 3 } }).extract({ left: rng.int(tw - 500), top: rng.int(th - 375), width: 500, height: 375 });
    if (rng.next() < 0.5) image = image.flop();
    fs.writeFileSync(file, await image.jpeg({ quality: 90 }).toBuffer());
  }
  fs.writeFileSync(marker, '');
}

async function timeOurs(folder: string, o: Required<Omit<FolderBenchOptions, 'folder' | 'python' | 'log' | 'decodes'>> & { decodes?: number }, epoch: number): Promise<FolderRun> {
  const { classes, samples } = await listImageFolder(folder);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loader = new ImageFileLoader(samples, classes, {
    batchSize: o.batch,
    seed: epoch,
    pipeline: imagenetTrainPipeline(o.size),
    workers: o.workers,
    decodesPerWorker: o.decodes,
    transfer: o.transfer,
  });
  let images = 0;
  try {
    for await (const b of loader.prefetch(epoch)) {
      images += b.images.shape[0];
      b.images.dispose();
      b.labels.dispose();
    }
  } finally {
    loader.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { images, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

function timePytorch(python: string, folder: string, o: { batch: number; workers: number; size: number }): FolderRun {
  const script = path.resolve(__dirname, '..', '..', 'bench', 'torch_folder.py');
  const args = [script, '--folder', folder, '--batch', String(o.batch), '--workers', String(o.workers), '--size', String(o.size)];
  const res = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (res.status !== 0) throw new Error(`bench/torch_folder.py failed: ${childError(res.stderr, res.status, res.signal)}`);
  const run = JSON.parse(res.stdout.split('\n').filter((l) => l.startsWith('{')).pop()!);
  return { images: run.images, seconds: run.seconds, cpuSeconds: run.cpu_seconds };
}

export async function runFolderBenchmark(options: FolderBenchOptions = {}): Promise<FolderBenchResult> {
  const log = options.log ?? (() => {});
  const o = {
    images: options.images ?? 3000,
    batch: options.batch ?? 64,
    workers: options.workers ?? os.availableParallelism(),
    size: options.size ?? 224,
    repeats: options.repeats ?? 3,
    transfer: options.transfer ?? ('float32' as const),
    decodes: options.decodes,
  };
  const folder = options.folder ?? path.join(os.tmpdir(), 'resnet-native-bench-jpegs');
  if (!options.folder) await makeJpegFolder(folder, o.images, log);
  const python = options.python === undefined ? (process.env.RESNET_NATIVE_BENCH_PYTHON ?? 'python3') : options.python;
  const torchVersion = python ? pytorchAvailable(python) : null;
  if (python && !torchVersion) log(`PyTorch comparison skipped: ${python} cannot import torch and torchvision`);
  const ours: FolderRun[] = [];
  const pytorch: FolderRun[] = [];
  for (let r = 0; r < o.repeats; r++) {
    // alternate which goes first, so that drift on a shared machine falls on both alike
    const sides = [async () => ours.push(await timeOurs(folder, o, r)), async () => torchVersion && pytorch.push(timePytorch(python!, folder, o))];
    for (const side of r % 2 === 0 ? sides : sides.reverse()) await side();
    const rate = (runs: FolderRun[]) => (runs.length ? `${Math.round(runs.at(-1)!.images / runs.at(-1)!.seconds)} images/s` : '-');
    log(`run ${r + 1}/${o.repeats}: ours ${rate(ours)}, PyTorch ${rate(pytorch)}`);
  }
  const rateOf = (runs: FolderRun[]) => (runs.length ? median(runs.map((x) => x.images / x.seconds)) : null);
  const oursRate = rateOf(ours)!;
  const torchRate = rateOf(pytorch);
  const machine =
    `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores; ours: ${o.workers} decode threads, ${getNumThreads()} intra-op threads, ` +
    `transfer ${o.transfer}${torchVersion ? `; PyTorch ${torchVersion}: ${o.workers} DataLoader workers` : ''}; batch ${o.batch}, ${o.size} x ${o.size}`;
  return { folder, images: ours[0]?.images ?? 0, machine, ours, pytorch, oursImagesPerSecond: oursRate, pytorchImagesPerSecond: torchRate, ratio: torchRate ? oursRate / torchRate : null };
}

export function formatFolderBenchmark(r: FolderBenchResult): string {
  const cores = os.availableParallelism();
  const row = (name: string, runs: FolderRun[], rate: number | null) => {
    if (rate === null) return `${name.padEnd(8)} -`;
    const cpuPerImage = median(runs.map((x) => (1000 * x.cpuSeconds) / x.images));
    return `${name.padEnd(8)} ${rate.toFixed(0).padStart(8)} ${(rate / cores).toFixed(0).padStart(15)} ${cpuPerImage.toFixed(2).padStart(13)}   ${runs.map((x) => (x.images / x.seconds).toFixed(0)).join(', ')}`;
  };
  return [
    `input pipeline on ${r.images} JPEGs in ${r.folder} (read, decode, RandomResizedCrop, flip, normalise, batch); ${r.machine}`,
    'side     images/s  images/s/core  CPU ms/image   runs (images/s)',
    row('ours', r.ours, r.oursImagesPerSecond),
    row('PyTorch', r.pytorch, r.pytorchImagesPerSecond),
    r.ratio === null ? '' : `ratio ours / PyTorch: ${r.ratio.toFixed(2)}x (medians of ${r.ours.length} epochs each)`,
  ].join('\n');
}
