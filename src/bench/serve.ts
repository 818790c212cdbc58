// The serve benchmark: `resnet-native serve` in its own process, loaded by autocannon (a well-kept
// HTTP load generator) with binary FP32 tensors and with encoded images, at several
// concurrencies; against the same model called in-process (forward passes of the batch size the
// server formed, and of one image for latency), measured in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { inferenceMode } from '../autograd';
import { setThreadNumThreads } from '../device';
import { randn, tidy } from '../tensor';
import { modelFromCheckpoint } from '../train/checkpoint';
import { workerFile } from '../worker-file';

export interface ServeBenchOptions {
  checkpoint: string;
  concurrency: number[];
  seconds: number;
  threads: number;
  maxBatch: number;
}

export interface ServeBenchRow {
  payload: 'tensor' | 'image';
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  meanBatch: number;
  inProcessPerSecond: number;
  ratio: number;
}

export interface ServeBenchResult {
  rows: ServeBenchRow[];
  modelLatencyMs: number;
}

/** Median seconds of one forward pass of `batch` images on this thread. */
function forwardSeconds(model: ReturnType<typeof modelFromCheckpoint>['model'], batch: number, size: number, repeats = 7): number {
  const x = randn([batch, 3, size, size]);
  const times: number[] = [];
  for (let i = 0; i < repeats + 2; i++) {
    const t = performance.now();
    inferenceMode(() => tidy(() => model.forward(x).softmax(1).toArray()));
    if (i >= 2) times.push((performance.now() - t) / 1000);
  }
  x.dispose();
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

async function startServer(options: ServeBenchOptions): Promise<{ child: ChildProcess; url: string }> {
  const cli = workerFile('cli/index.js'); // the compiled CLI, from dist/ or next to this file
  const child = spawn(process.execPath, [cli, 'serve', '--model', `m=${options.checkpoint}`, '--port', '0', '--threads', String(options.threads), '--max-batch', String(options.maxBatch), '--max-queue', '1024'], { stdio: ['ignore', 'pipe', 'inherit'] });
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

export async function runServeBench(options: ServeBenchOptions, onLine: (line: string) => void = console.log): Promise<ServeBenchResult> {
  setThreadNumThreads(options.threads);
  const { model, meta } = modelFromCheckpoint(options.checkpoint, 'cpu');
  const size = meta.imageSize;
  const modelLatencyMs = forwardSeconds(model, 1, size) * 1000;
  onLine(`model alone (in-process, ${options.threads} thread(s)): one image ${modelLatencyMs.toFixed(2)} ms`);
  const inProcessRate = new Map<number, number>();
  const rate = (batch: number) => {
    const b = Math.max(1, Math.round(batch));
    if (!inProcessRate.has(b)) inProcessRate.set(b, b / forwardSeconds(model, b, size));
    return inProcessRate.get(b)!;
  };

  const x = new Float32Array(3 * size * size).map(() => Math.random() * 2 - 1);
  const tensorHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, size, size], parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
  const png = await sharp({ create: { width: size, height: size, channels: 3, background: { r: 120, g: 30, b: 200 } } }).png().toBuffer();
  const length = Buffer.alloc(4);
  length.writeUInt32LE(png.length);
  const imageBytes = Buffer.concat([length, png]);
  const imageHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: imageBytes.length } }], parameters: { binary_data_output: true } }));
  const payloads = {
    tensor: { body: Buffer.concat([tensorHeader, Buffer.from(x.buffer)]), headerLength: tensorHeader.length },
    image: { body: Buffer.concat([imageHeader, imageBytes]), headerLength: imageHeader.length },
  };

  const { child, url } = await startServer(options);
  const rows: ServeBenchRow[] = [];
  try {
    for (const payload of ['tensor', 'image'] as const) {
      for (const concurrency of options.concurrency) {
        const before = await batchStats(url);
        const result = await autocannon({
          url: `${url}/v2/models/m/infer`,
          method: 'POST',
          connections: concurrency,
          duration: options.seconds,
          body: payloads[payload].body,
          headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(payloads[payload].headerLength) },
        });
        const after = await batchStats(url);
        const meanBatch = (after.sum - before.sum) / Math.max(1, after.count - before.count);
        const inProcessPerSecond = rate(meanBatch);
        const row: ServeBenchRow = {
          payload,
          concurrency,
          requestsPerSecond: result.requests.average,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
          meanBatch,
          inProcessPerSecond,
          ratio: result.requests.average / inProcessPerSecond,
        };
        rows.push(row);
        onLine(
          `${payload.padEnd(6)} c=${String(concurrency).padStart(2)}: ${row.requestsPerSecond.toFixed(1).padStart(7)} req/s, p50 ${row.p50Ms.toFixed(1)} ms, p99 ${row.p99Ms.toFixed(1)} ms, ` +
            `errors ${row.errors + row.non2xx}, mean batch ${meanBatch.toFixed(1)}; in-process at that batch ${inProcessPerSecond.toFixed(1)} images/s -> ${row.ratio.toFixed(2)}x`,
        );
      }
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    model.dispose();
  }
  return { rows, modelLatencyMs };
}
