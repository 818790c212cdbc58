// The serve benchmark: `resnet-native serve` in its own process, loaded by autocannon (a well-kept
// HTTP load generator) with binary FP32 tensors and with encoded images, at several
// concurrencies; against the same model called in-process (forward passes of the batch size the
// server formed; for images, decoding included), measured in the same run.
//
// Shared machines drift by tens of percent within a minute, so a case is not one long run: it is
// several rounds, each a short load on the server and the same length of in-process work right
// after it (or, every other round, right before it: on this machine the second of two identical
// servers measured in turn did better, so neither side always goes second). Throughput is the
// median of the rounds' figures and ratios; latency percentiles are taken over every request of
// all rounds on each side (a 3 s round at concurrency 1 holds about 200 requests: its own p99
// would be its 2nd-worst one).
import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { inferenceMode } from '../autograd';
import { setThreadNumThreads } from '../device';
import { imageToChw, concatChw, normalizeChw } from '../inference/preprocess';
import { tensor, tidy, type Tensor } from '../tensor';
import { modelFromCheckpoint } from '../train/checkpoint';
import { workerFile } from '../worker-file';
import { median, quantile } from './stats';

export interface ServeBenchOptions {
  checkpoint: string;
  concurrency: number[];
  /** Seconds of load per round (and as many of in-process work after it). */
  seconds: number;
  rounds: number;
  threads: number;
  maxBatch: number;
  maxQueueDelayMs: number;
}

export type Payload = 'tensor' | 'image';

/** One case: medians over its rounds. */
export interface ServeBenchRow {
  payload: Payload;
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  meanBatch: number;
  /** The same model in-process at the batch size the server formed. */
  inProcess: { imagesPerSecond: number; p50Ms: number; p99Ms: number };
  /** requests/s over in-process images/s, the median of the rounds' ratios. */
  ratio: number;
  /** p99 over the in-process p99 at that batch, both over all rounds' samples. */
  p99OverModelMs: number;
  /** Requests answered by the server and forward passes timed in-process, over all rounds. */
  samples: { served: number; inProcess: number };
}

/** One side of one round: its throughput, and every request's (or forward pass's) time. */
interface Measured {
  perSecond: number;
  timesMs: number[];
}


type Loaded = ReturnType<typeof modelFromCheckpoint>;

/** What the server does with one batch, done in-process for `seconds`: images/s and batch latency. */
async function inProcess({ model, meta }: Loaded, payload: Payload, batch: number, png: Buffer, x: Float32Array, seconds: number): Promise<Measured> {
  const size = meta.imageSize;
  // the batch's floats made once (the server gets them ready-made in the request bodies)
  const floats = new Float32Array(batch * x.length);
  for (let i = 0; i < batch; i++) floats.set(x, i * x.length);
  const input = (): Promise<Tensor> | Tensor =>
    payload === 'tensor'
      ? tensor(floats, [batch, 3, size, size])
      : Promise.all(Array.from({ length: batch }, () => imageToChw(png, size))).then((chw) => normalizeChw(concatChw(chw), batch, size, meta.mean, meta.std, 'cpu'));
  const once = async () => {
    const t = performance.now();
    const xs = await input();
    inferenceMode(() => tidy(() => model.forward(xs).softmax(1).toArray()));
    xs.dispose();
    return performance.now() - t;
  };
  await once(); // warm-up
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end || times.length < 3) times.push(await once());
  const total = times.reduce((s, t) => s + t, 0);
  return { perSecond: (batch * times.length) / (total / 1000), timesMs: times };
}

async function startServer(options: ServeBenchOptions): Promise<{ child: ChildProcess; url: string }> {
  const cli = workerFile('cli/index.js'); // the compiled CLI, from dist/ or next to this file
  const args = ['serve', '--model', `m=${options.checkpoint}`, '--port', '0', '--threads', String(options.threads), '--max-batch', String(options.maxBatch)];
  args.push('--max-queue-delay-ms', String(options.maxQueueDelayMs), '--max-queue', '1024');
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`serve exited with code ${code}: ${out}`)));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\S+);/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  return { child, url };
}

async function batchStats(url: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (k: string) => Number(new RegExp(`resnet_native_batch_size_${k}\\{model="m"\\} ([\\d.e+]+)`).exec(text)?.[1] ?? 0);
  return { count: read('count'), sum: read('sum') };
}

/** Request bodies in the binary tensor data extension: one FP32 image, or one PNG as BYTES. */
function requestBodies(x: Float32Array, png: Buffer, size: number): Record<Payload, { body: Buffer; headerLength: number }> {
  const withHeader = (inputs: unknown[], binary: Buffer) => {
    const header = Buffer.from(JSON.stringify({ inputs, parameters: { binary_data_output: true } }));
    return { body: Buffer.concat([header, binary]), headerLength: header.length };
  };
  const length = Buffer.alloc(4);
  length.writeUInt32LE(png.length);
  const imageBytes = Buffer.concat([length, png]);
  return {
    tensor: withHeader([{ name: 'input', datatype: 'FP32', shape: [1, 3, size, size], parameters: { binary_data_size: x.byteLength } }], Buffer.from(x.buffer)),
    image: withHeader([{ name: 'images', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: imageBytes.length } }], imageBytes),
  };
}

export async function runServeBench(options: ServeBenchOptions, onLine: (line: string) => void = console.log): Promise<ServeBenchRow[]> {
  setThreadNumThreads(options.threads); // the in-process side computes with the threads the server's model thread has
  const loaded = modelFromCheckpoint(options.checkpoint, 'cpu');
  const size = loaded.meta.imageSize;
  const x = new Float32Array(3 * size * size).map(() => Math.random() * 2 - 1);
  const png = await sharp({ create: { width: size, height: size, channels: 3, background: { r: 120, g: 30, b: 200 } } }).png().toBuffer();
  const bodies = requestBodies(x, png, size);

  const { child, url } = await startServer(options);
  const rows: ServeBenchRow[] = [];
  try {
    for (const payload of ['tensor', 'image'] as const) {
      for (const concurrency of options.concurrency) {
        const rounds: { served: Measured; errors: number; meanBatch: number; model: Measured }[] = [];
        for (let round = 0; round < options.rounds; round++) {
          const serve = async () => {
            const before = await batchStats(url);
            const { result, timesMs } = await load({
              url: `${url}/v2/models/m/infer`,
              method: 'POST',
              connections: concurrency,
              duration: options.seconds,
              body: bodies[payload].body,
              headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bodies[payload].headerLength) },
            });
            const after = await batchStats(url);
            return { result, timesMs, meanBatch: (after.sum - before.sum) / Math.max(1, after.count - before.count) };
          };
          // Odd rounds run the in-process side first (at the batch the server formed the round
          // before), so that whatever favours the second half of a round favours both sides alike.
          const inProcessFirst = round % 2 === 1;
          const early = inProcessFirst ? await inProcess(loaded, payload, Math.max(1, Math.round(rounds[round - 1].meanBatch)), png, x, options.seconds) : null;
          const { result, timesMs, meanBatch } = await serve();
          const model = early ?? (await inProcess(loaded, payload, Math.max(1, Math.round(meanBatch)), png, x, options.seconds));
          const served = { perSecond: result.requests.average, timesMs };
          rounds.push({ served, errors: result.errors + result.timeouts + result.non2xx, meanBatch, model });
        }
        const served = pooled(rounds.map((r) => r.served.timesMs));
        const model = pooled(rounds.map((r) => r.model.timesMs));
        const p99Ms = quantile(served, 0.99);
        const modelP99Ms = quantile(model, 0.99);
        const row: ServeBenchRow = {
          payload,
          concurrency,
          requestsPerSecond: median(rounds.map((r) => r.served.perSecond)),
          p50Ms: quantile(served, 0.5),
          p99Ms,
          errors: rounds.reduce((n, r) => n + r.errors, 0),
          meanBatch: median(rounds.map((r) => r.meanBatch)),
          inProcess: { imagesPerSecond: median(rounds.map((r) => r.model.perSecond)), p50Ms: quantile(model, 0.5), p99Ms: modelP99Ms },
          ratio: median(rounds.map((r) => r.served.perSecond / r.model.perSecond)),
          p99OverModelMs: p99Ms - modelP99Ms,
          samples: { served: served.length, inProcess: model.length },
        };
        rows.push(row);
        onLine(
          `${payload.padEnd(6)} c=${String(concurrency).padStart(2)}: ${row.requestsPerSecond.toFixed(1).padStart(6)} req/s, p50 ${row.p50Ms.toFixed(1)} ms, p99 ${row.p99Ms.toFixed(1)} ms, ` +
            `errors ${row.errors}, mean batch ${row.meanBatch.toFixed(1)}; in-process at that batch ${row.inProcess.imagesPerSecond.toFixed(1)} images/s, ` +
            `p50 ${row.inProcess.p50Ms.toFixed(1)} ms, p99 ${row.inProcess.p99Ms.toFixed(1)} ms -> ${row.ratio.toFixed(2)}x, p99 ${signed(row.p99OverModelMs)} ms ` +
            `(ratio: median of ${options.rounds} rounds: ${rounds.map((r) => (r.served.perSecond / r.model.perSecond).toFixed(2)).join(', ')}; ` +
            `latency over ${row.samples.served} requests / ${row.samples.inProcess} passes)`,
        );
      }
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    loaded.model.dispose();
  }
  return rows;
}

/** autocannon's run, with every answered request's time (its summary has percentiles, not samples). */
async function load(options: autocannon.Options): Promise<{ result: autocannon.Result; timesMs: number[] }> {
  const timesMs: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (err, result) => (err ? reject(err) : resolve(result)));
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status === 200) timesMs.push(ms);
    });
  });
  return { result, timesMs };
}

/** All rounds' samples, sorted. */
const pooled = (rounds: number[][]) => rounds.flat().sort((a, b) => a - b);

const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;
