// The soak run: what a long-lived Node service does with this library, round after round (a
// training on a worker thread, an evaluation of its checkpoint on the main thread, a Classifier
// answering concurrent requests), recording after each round what would show a leak: RSS, live
// tensors and their bytes, active handles, worker threads, and how long the event loop stalled.
// `npm run soak -- --minutes N` runs it by hand; the test suite runs a few rounds.
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { DataLoader } from '../data/loader';
import { syntheticDataset } from '../data/synthetic';
import { testTransforms } from '../data/transforms';
import { Classifier } from '../inference/classifier';
import { dispose, memory } from '../tensor';
import { train } from '../train/api';
import { modelFromCheckpoint } from '../train/checkpoint';
import { evaluate } from '../train/evaluate';
import { WorkerThread } from '../worker-thread';

export interface SoakOptions {
  /** Folder for the rounds' checkpoints (overwritten each round). */
  dir: string;
  /** Stop after this many rounds (default: no limit). */
  rounds?: number;
  /** Stop once this much time has passed, finishing the round under way (default: no limit). */
  minutes?: number;
  /** Called after each round. */
  onRound?: (sample: SoakSample) => void;
}

export interface SoakSample {
  round: number;
  seconds: number;
  rssMiB: number;
  tensors: number;
  tensorMiB: number;
  /** process.getActiveResourcesInfo(): timers, sockets, worker handles... */
  activeResources: number;
  workerThreads: number;
  /** Event-loop delay during the round, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  accuracy: number;
}

export interface SoakSummary {
  samples: SoakSample[];
  /** RSS growth from the second round (the first one warms up allocators and code) to the last. */
  rssGrowthMiB: number;
  /** Live tensors and active resources at the end minus after the first round. */
  tensorGrowth: number;
  resourceGrowth: number;
}

const MiB = 2 ** 20;

async function pngsOf(count: number): Promise<Uint8Array[]> {
  const data = syntheticDataset('test', { size: count, seed: 7 });
  const hwc = data.images.permute([0, 2, 3, 1]).contiguous();
  const bytes = hwc.toArray() as Uint8Array;
  dispose([hwc, data.images, data.labels]);
  const pngs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const image = bytes.subarray(i * 3072, (i + 1) * 3072);
    pngs.push(await sharp(image, { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer());
  }
  return pngs;
}

/** One round: train on a worker, evaluate on this thread, classify concurrently; returns the accuracy. */
async function round(dir: string, pngs: Uint8Array[]): Promise<number> {
  const run = train({
    arch: 'resnet18',
    batchSize: 16,
    epochs: 1,
    device: 'cpu',
    syntheticSize: { train: 128, test: 32 },
    checkpointDir: path.join(dir, 'run'),
    overwrite: true,
  });
  const { bestCheckpoint } = await run.result;

  const { model } = modelFromCheckpoint(bestCheckpoint, 'cpu');
  const data = syntheticDataset('test', { size: 32 });
  const loader = new DataLoader(data, { batchSize: 16, shuffle: false, transform: testTransforms() });
  let accuracy: number;
  try {
    accuracy = (await evaluate(model, loader)).accuracy;
  } finally {
    loader.dispose();
    dispose([data.images, data.labels]);
    model.dispose();
  }

  const classifier = await Classifier.load(bestCheckpoint, { maxBatch: 8 });
  try {
    await Promise.all(pngs.map((png) => classifier.classify(png)));
  } finally {
    await classifier.close();
  }
  return accuracy;
}

export async function runSoak(options: SoakOptions): Promise<SoakSummary> {
  const pngs = await pngsOf(24);
  const samples: SoakSample[] = [];
  const start = performance.now();
  const deadline = options.minutes === undefined ? Infinity : start + options.minutes * 60_000;
  const rounds = options.rounds ?? Infinity;
  for (let i = 1; i <= rounds && performance.now() < deadline; i++) {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const accuracy = await round(options.dir, pngs);
    delay.disable();
    const m = memory();
    const sample: SoakSample = {
      round: i,
      seconds: (performance.now() - start) / 1000,
      rssMiB: process.memoryUsage().rss / MiB,
      tensors: m.tensors,
      tensorMiB: m.bytes / MiB,
      activeResources: process.getActiveResourcesInfo().length,
      workerThreads: WorkerThread.live.size,
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      loopDelayMaxMs: delay.max / 1e6,
      accuracy,
    };
    samples.push(sample);
    options.onRound?.(sample);
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const warm = samples[Math.min(1, samples.length - 1)];
  return {
    samples,
    rssGrowthMiB: last.rssMiB - warm.rssMiB,
    tensorGrowth: last.tensors - first.tensors,
    resourceGrowth: last.activeResources - first.activeResources,
  };
}

export function formatSoakSample(s: SoakSample): string {
  return (
    `round ${String(s.round).padStart(4)}  ${s.seconds.toFixed(0).padStart(6)} s  RSS ${s.rssMiB.toFixed(0).padStart(5)} MiB  ` +
    `tensors ${s.tensors} (${s.tensorMiB.toFixed(1)} MiB)  resources ${s.activeResources}  workers ${s.workerThreads}  ` +
    `loop delay p99 ${s.loopDelayP99Ms.toFixed(1)} ms, max ${s.loopDelayMaxMs.toFixed(1)} ms  accuracy ${s.accuracy.toFixed(3)}`
  );
}
