// The inference server over real HTTP on loopback: every Open Inference Protocol route, JSON and
// binary tensors, the classification extension, the classify route, answers equal to the model
// run here, batching, backpressure, bad input of every kind, a model thread that dies, a client
// that leaves, SIGTERM under load, memory over 10,000 requests, and a standard client (Triton's
// Python tritonclient) that this project did not write.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { createServer, ServedModel, SERVER_YOUNG_GENERATION_MB, imageToChw, inferenceMode, modelFromCheckpoint, normalizeBatch, runTraining, startServerThread, tensor, tidy, type InferenceServer } from '../src/index';
import { WorkerThread } from '../src/worker-thread';
import { assertClose, collectGarbage, syntheticPngs, tempDir } from './helpers';
import { runServeBench } from '../src/bench/serve';
import { getNumThreads } from '../src/device';

const tmp = tempDir('rn-serve-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
let checkpoint: string;
let server: InferenceServer;
let base: string;
const pngs: Buffer[] = [];
let direct: (x: Float32Array, n: number) => { logits: Float32Array; probabilities: Float32Array };
let meta: ReturnType<typeof modelFromCheckpoint>['meta'];

before(async () => {
  const result = await runTraining(
    { arch: 'resnet18', epochs: 1, batchSize: 16, lr: 0.05, maxStepsPerEpoch: 4, device: 'cpu', syntheticSize: { train: 160, test: 32 }, checkpointDir: tmp },
    { onLine: () => {} },
  );
  checkpoint = result.lastCheckpoint;
  const loaded = modelFromCheckpoint(checkpoint, 'cpu');
  meta = loaded.meta;
  direct = (x, n) =>
    inferenceMode(() =>
      tidy(() => {
        const out = loaded.model.forward(tensor(x, [n, 3, 32, 32]));
        return { logits: out.toArray() as Float32Array, probabilities: out.softmax(1).toArray() as Float32Array };
      }),
    );
  pngs.push(...(await syntheticPngs(8, 3)));
  server = await createServer({ models: { cifar: checkpoint }, device: 'cpu', maxQueueDelayMs: 5 });
  base = await server.listen({ port: 0 });
});

after(() => server?.close());

/** What the checkpoint's model says for encoded images, preprocessed as the server does. */
async function expectedForImages(images: Buffer[]): Promise<Float32Array> {
  const chw = await Promise.all(images.map((b) => imageToChw(b, 32)));
  const x = tidy(() => normalizeBatch(chw, 32, meta.mean, meta.std, 'cpu').toArray() as Float32Array);
  return direct(x, images.length).probabilities;
}

async function infer(body: unknown, headers: Record<string, string> = {}, model = 'cifar'): Promise<{ status: number; json: any; headers: Headers; raw: Buffer }> {
  const res = await fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  const raw = Buffer.from(await res.arrayBuffer());
  const headerLength = res.headers.get('inference-header-content-length');
  const json = JSON.parse(raw.subarray(0, headerLength === null ? raw.length : Number(headerLength)).toString());
  return { status: res.status, json, headers: res.headers, raw };
}

function randomInput(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 3072 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 4 - 2);
}

test('health, server and model metadata, readiness; unknown models and routes are 404 with an error body', async () => {
  const get = async (p: string) => {
    const res = await fetch(base + p);
    return { status: res.status, json: (await res.json()) as any };
  };
  assert.deepEqual(await get('/v2/health/live'), { status: 200, json: { live: true } });
  assert.deepEqual(await get('/v2/health/ready'), { status: 200, json: { ready: true } });
  const v2 = await get('/v2');
  assert.equal(v2.json.name, 'resnet-native');
  assert.deepEqual(v2.json.extensions, ['binary_tensor_data', 'classification']);
  const md = await get('/v2/models/cifar');
  assert.equal(md.status, 200);
  assert.deepEqual(md.json.inputs, [
    { name: 'images', datatype: 'BYTES', shape: [-1] },
    { name: 'pixels', datatype: 'UINT8', shape: [-1, -1, -1, 3] },
    { name: 'input', datatype: 'FP32', shape: [-1, 3, 32, 32] },
  ]);
  assert.deepEqual(md.json.outputs, [
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
    { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
  ]);
  assert.deepEqual((await get('/v2/models/cifar/versions/1')).json.name, 'cifar');
  assert.deepEqual(await get('/v2/models/cifar/ready'), { status: 200, json: { name: 'cifar', ready: true } });
  const unknown = await get('/v2/models/dogs');
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.error, /unknown model 'dogs': this server has cifar/);
  assert.equal((await get('/v3/nothing')).status, 404);
  // the same routes as a plain (req, res) handler inside another http server
  const plain = http.createServer((req, res) => server.app.routing(req, res));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  const res = await fetch(`http://127.0.0.1:${(plain.address() as { port: number }).port}/v2/models/cifar/ready`);
  assert.deepEqual(await res.json(), { name: 'cifar', ready: true });
  await new Promise((r) => plain.close(r));
});

test('JSON tensors: FP32 input, UINT8 pixels and base64 BYTES images answer what the model says here; id echoed; outputs chosen; classification', async () => {
  const x = randomInput(2);
  const want = direct(x, 2);
  const fp32 = await infer({ id: 'req-7', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], data: Array.from(x) }] });
  assert.equal(fp32.status, 200, JSON.stringify(fp32.json));
  assert.equal(fp32.json.id, 'req-7');
  assert.equal(fp32.json.model_name, 'cifar');
  assert.deepEqual(fp32.json.outputs.map((o: any) => [o.name, o.datatype, o.shape]), [['probabilities', 'FP32', [2, 10]], ['logits', 'FP32', [2, 10]]]);
  // rtol 1e-5: the same float32 forward pass, in another thread and batch
  assertClose(fp32.json.outputs[0].data, Array.from(want.probabilities), { rtol: 1e-5, atol: 1e-7, what: 'probabilities' });
  assertClose(fp32.json.outputs[1].data, Array.from(want.logits), { rtol: 1e-5, atol: 1e-6, what: 'logits' });
  // nested data is accepted as row-major
  const nested = await infer({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: [[Array.from(x.subarray(0, 3072))]] }], outputs: [{ name: 'logits' }] });
  assert.deepEqual(nested.json.outputs.map((o: any) => o.name), ['logits']);
  assertClose(nested.json.outputs[0].data, Array.from(direct(x.subarray(0, 3072), 1).logits), { rtol: 1e-5, atol: 1e-6, what: 'nested logits' });

  // raw pixels: HWC bytes, resized and normalised by the server with the checkpoint's mean/std
  const hwc = await sharp(pngs[0]).raw().toBuffer();
  const pixels = await infer({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], data: Array.from(hwc) }], outputs: [{ name: 'probabilities' }] });
  assertClose(pixels.json.outputs[0].data, Array.from(await expectedForImages([pngs[0]])), { rtol: 1e-5, atol: 1e-7, what: 'pixels' });

  // encoded images in JSON: base64 strings; the classification extension gives score:index:label
  const imgs = await infer({
    inputs: [{ name: 'images', datatype: 'BYTES', shape: [2], data: [pngs[1].toString('base64'), pngs[2].toString('base64')] }],
    outputs: [{ name: 'probabilities', parameters: { classification: 3 } }, { name: 'probabilities' }],
  });
  const probs = await expectedForImages([pngs[1], pngs[2]]);
  const cls = imgs.json.outputs[0];
  assert.deepEqual([cls.datatype, cls.shape], ['BYTES', [2, 3]]);
  for (let i = 0; i < 2; i++) {
    const row = Array.from(probs.subarray(i * 10, (i + 1) * 10));
    const order = row.map((p, k) => [p, k] as const).sort((a, b) => b[0] - a[0]);
    for (let j = 0; j < 3; j++) {
      const [score, index, label] = (cls.data[i * 3 + j] as string).split(':');
      assert.equal(Number(index), order[j][1]);
      assert.equal(label, meta.classNames[order[j][1]]);
      assertClose([Number(score)], [order[j][0]], { rtol: 1e-5, atol: 1e-7, what: 'score' });
    }
  }
  assertClose(imgs.json.outputs[1].data, Array.from(probs), { rtol: 1e-5, atol: 1e-7, what: 'images' });
});

test('binary tensor data extension: binary inputs (FP32, length-prefixed BYTES) and binary outputs appended in order', async () => {
  const x = randomInput(3, 5);
  const want = direct(x, 3);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 3, 32, 32], parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'logits', parameters: { binary_data: true } }, { name: 'probabilities', parameters: { binary_data: false } }, { name: 'probabilities', parameters: { binary_data: true, classification: 1 } }],
    }),
  );
  const r = await infer(Buffer.concat([header, Buffer.from(x.buffer)]), { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const headerLength = Number(r.headers.get('inference-header-content-length'));
  const [logitsOut, probsOut, clsOut] = r.json.outputs;
  assert.equal(logitsOut.parameters.binary_data_size, 3 * 10 * 4);
  assert.ok(probsOut.data, 'JSON output stays in the JSON');
  const binary = r.raw.subarray(headerLength);
  const logits = new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + 120));
  assertClose(Array.from(logits), Array.from(want.logits), { rtol: 1e-5, atol: 1e-6, what: 'binary logits' });
  // BYTES output: 4-byte little-endian length, then the string
  const rest = binary.subarray(120);
  assert.equal(rest.length, clsOut.parameters.binary_data_size);
  const first = rest.subarray(4, 4 + rest.readUInt32LE(0)).toString();
  assert.match(first, /^[\d.e-]+:\d:synthetic-\w+$/);

  // encoded images as binary BYTES
  const parts = [pngs[3], pngs[4]].flatMap((b) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  });
  const data = Buffer.concat(parts);
  const h2 = Buffer.from(JSON.stringify({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: data.length } }], parameters: { binary_data_output: true } }));
  const r2 = await infer(Buffer.concat([h2, data]), { 'inference-header-content-length': String(h2.length) });
  assert.equal(r2.status, 200, JSON.stringify(r2.json));
  const off = Number(r2.headers.get('inference-header-content-length'));
  const probs = new Float32Array(r2.raw.buffer.slice(r2.raw.byteOffset + off, r2.raw.byteOffset + off + 80));
  assertClose(Array.from(probs), Array.from(await expectedForImages([pngs[3], pngs[4]])), { rtol: 1e-5, atol: 1e-7, what: 'binary images' });
});

test('the classify route: an image body or multipart files, {label, index, probability, top} per image', async () => {
  const one = await fetch(`${base}/v1/models/cifar/classify?top=2`, { method: 'POST', body: pngs[5], headers: { 'content-type': 'image/png' } });
  assert.equal(one.status, 200);
  const p = (await one.json()) as any;
  const want = await expectedForImages([pngs[5]]);
  const best = Array.from(want).indexOf(Math.max(...want));
  assert.equal(p.index, best);
  assert.equal(p.label, meta.classNames[best]);
  assert.equal(p.top.length, 2);
  assertClose([p.probability], [want[best]], { rtol: 1e-5, atol: 1e-7, what: 'probability' });
  const form = new FormData();
  form.append('a', new Blob([pngs[5]], { type: 'image/png' }), 'a.png');
  form.append('b', new Blob([pngs[6]], { type: 'image/png' }), 'b.png');
  const many = await fetch(`${base}/v1/models/cifar/classify`, { method: 'POST', body: form });
  const body = (await many.json()) as any;
  assert.equal(many.status, 200, JSON.stringify(body));
  assert.equal(body.predictions.length, 2);
  assert.equal(body.predictions[0].index, best);
  const wrongType = await fetch(`${base}/v1/models/cifar/classify`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
  assert.equal(wrongType.status, 415);
  const notImage = await fetch(`${base}/v1/models/cifar/classify`, { method: 'POST', body: Buffer.from('not an image'), headers: { 'content-type': 'image/png' } });
  assert.equal(notImage.status, 400);
  assert.match(((await notImage.json()) as any).error, /the image: cannot read image/);
});

test('bad requests of every kind get the right 4xx naming the problem, and the server stays healthy', async () => {
  const input = (over: Record<string, unknown>) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array(3072).fill(0), ...over }] });
  const cases: [unknown, number, RegExp, Record<string, string>?][] = [
    ['{not json', 400, /not valid JSON/],
    [[1, 2], 400, /must be a JSON object with "inputs"/],
    [{ inputs: [] }, 400, /"inputs" must hold exactly one input/],
    [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] }, 400, /inputs\[0\]\.name must be one of images, pixels, input/],
    [input({ datatype: 'FP16' }), 400, /inputs\[0\]\.datatype must be FP32 for 'input', got "FP16"/],
    [input({ shape: [1, 3, 16, 16] }), 400, /inputs\[0\]\.shape must be \[N, 3, 32, 32\] for 'input', got \[1,3,16,16\]/],
    [input({ shape: [1, 3, -32, 32] }), 400, /inputs\[0\]\.shape must be an array of non-negative integers/],
    [input({ data: [1, 2, 3] }), 400, /inputs\[0\]\.data holds 3 values but shape \[1,3,32,32\] needs 3072/],
    [input({ data: ['a', ...Array(3071).fill(0)] }), 400, /inputs\[0\]\.data\[0\] is "a", not a finite number/],
    [input({ data: undefined }), 400, /neither "data" nor parameters\.binary_data_size/],
    [{ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 2, 2, 3], data: Array(12).fill(300) }] }, 400, /inputs\[0\]\.data\[0\] is 300, not a UINT8 value/],
    [{ inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: ['bm90IGFuIGltYWdl'] }] }, 400, /inputs\[0\] element 0: cannot read image/],
    [{ inputs: [{ name: 'images', datatype: 'BYTES', shape: [2], data: ['x'] }] }, 400, /holds 1 elements but the shape says 2/],
    [{ ...input({}), outputs: [{ name: 'scores' }] }, 400, /outputs\[0\]\.name must be one of probabilities, logits, got "scores"/],
    [{ ...input({}), outputs: [{ name: 'logits', parameters: { classification: 11 } }] }, 400, /classification must be an integer from 1 to 10, got 11/],
    [input({ parameters: { binary_data_size: 12288 } }), 400, /binary_data_size is 12288 but only 0 bytes follow/],
    [input({ parameters: { binary_data_size: 100 } }), 400, /'input' of shape \[1,3,32,32\] needs 12288 bytes of FP32, but inputs\[0\]\.parameters\.binary_data_size is 100/],
    ['{}', 400, /Inference-Header-Content-Length is 99/, { 'inference-header-content-length': '99' }],
    [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], parameters: { binary_data_size: 0 } }] }, 400, /'input' of shape \[2,3,32,32\] needs 24576 bytes of FP32, but inputs\[0\]\.parameters\.binary_data_size is 0/],
  ];
  for (const [body, status, message, headers] of cases) {
    const r = await infer(body, headers);
    assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)} -> ${JSON.stringify(r.json)}`);
    assert.match(r.json.error, message);
  }
  // more images than one batch holds
  const big = randomInput(65);
  const h = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [65, 3, 32, 32], parameters: { binary_data_size: big.byteLength } }] }));
  const tooMany = await infer(Buffer.concat([h, Buffer.from(big.buffer)]), { 'inference-header-content-length': String(h.length) });
  assert.equal(tooMany.status, 413);
  assert.match(tooMany.json.error, /65 images in one request is more than maxBatch 64/);
  // a PNG declaring 100,000 x 100,000 pixels (a decompression bomb) is refused from its header
  const bomb = Buffer.from(pngs[0]);
  bomb.writeUInt32BE(100_000, 16);
  bomb.writeUInt32BE(100_000, 20);
  const refused = await infer({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [bomb.toString('base64')] }] });
  assert.equal(refused.status, 413);
  assert.match(refused.json.error, /100,000,000-pixel limit/);
  // still healthy and right
  assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
  const ok = await infer(input({}));
  assert.equal(ok.status, 200);
});

/** A body in the binary tensor extension: the JSON header, then the raw bytes. */
function binaryBody(header: unknown, data: Buffer): { body: Buffer; headers: Record<string, string> } {
  const h = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([h, data]), headers: { 'inference-header-content-length': String(h.length) } };
}

/** BYTES elements as the binary extension sends them: a 4-byte little-endian length, then the bytes. */
function lengthPrefixed(items: Buffer[]): Buffer {
  return Buffer.concat(
    items.flatMap((b) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(b.length);
      return [length, b];
    }),
  );
}

const zeros = (n: number) => new Array<number>(n).fill(0);

/** A valid PNG whose header declares width x height (its data is a real 32 x 32 image's): what a
 * small file declaring a huge image looks like. The header's CRC is recomputed, so readers accept it. */
function pngDeclaring(width: number, height: number): Buffer {
  const png = Buffer.from(pngs[0]);
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)) >>> 0, 29); // IHDR type + data
  return png;
}

test('issue 29 item 3: many small images declaring large sizes are refused from their headers, before any is decoded (the pixels of one request are bounded together)', async () => {
  // each under the 100 Mpx limit of one image, three of them over it together
  const large = pngDeclaring(6000, 6000); // 36 Mpx
  const started = performance.now();
  const refused = await infer({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [3], data: [pngs[1], large, large, large].slice(1).map((b) => b.toString('base64')) }] });
  assert.equal(refused.status, 413, JSON.stringify(refused.json));
  assert.match(refused.json.error, /inputs\[0\] element 2: the images up to this one hold 108,000,000 pixels together, more than the 100,000,000-pixel limit of one request/);
  // the classify route's form files likewise
  const form = new FormData();
  for (let i = 0; i < 3; i++) form.append('file', new Blob([large], { type: 'image/png' }), `big${i}.png`);
  const classify = await fetch(`${base}/v1/models/cifar/classify`, { method: 'POST', body: form });
  assert.equal(classify.status, 413);
  assert.match(((await classify.json()) as { error: string }).error, /file 3: the images up to this one hold 108,000,000 pixels together/);
  assert.ok(performance.now() - started < 5000, `refused after ${(performance.now() - started).toFixed(0)} ms: nothing was decoded`);
  // under the bound, small images still decode and answer
  const ok = await infer({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [2], data: [pngs[1], pngs[2]].map((b) => b.toString('base64')) }] });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
});

test('issue 29 item 3: counts, shapes and sizes are checked from the header before anything is decoded, on every input path: 413 at once, other clients not kept waiting', async () => {
  const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
  const pixels = Buffer.alloc(300_000, 7); // 100,000 images of 1 x 1 pixels: 300 KB
  const cases: [string, { body: Buffer | string; headers: Record<string, string> }, RegExp][] = [
    ['binary UINT8 pixels [100000,1,1,3]', binaryBody({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [100_000, 1, 1, 3], parameters: { binary_data_size: pixels.length } }] }, pixels), /'pixels' of shape \[100000,1,1,3\]: 100000 images in one request is more than maxBatch 64/],
    ['JSON UINT8 pixels [100000,1,1,3]', { body: JSON.stringify({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [100_000, 1, 1, 3], data: zeros(300_000) }] }), headers: {} }, /100000 images in one request is more than maxBatch 64/],
    ['binary BYTES of 20,000 PNGs', binaryBody({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [20_000], parameters: { binary_data_size: 20_000 * (4 + tiny.length) } }] }, lengthPrefixed(new Array<Buffer>(20_000).fill(tiny))), /'images' of shape \[20000\]: 20000 images in one request is more than maxBatch 64/],
    ['JSON BYTES of 20,000 PNGs', { body: JSON.stringify({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [20_000, 1], data: new Array<string>(20_000).fill(tiny.toString('base64')) }] }), headers: {} }, /'images' of shape \[20000,1\]: 20000 images/],
    ['binary FP32 [65,3,32,32]', binaryBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [65, 3, 32, 32], parameters: { binary_data_size: 65 * 3072 * 4 } }] }, Buffer.alloc(65 * 3072 * 4)), /'input' of shape \[65,3,32,32\]: 65 images in one request is more than maxBatch 64/],
    ['JSON FP32 [65,3,32,32]', { body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [65, 3, 32, 32], data: zeros(65 * 3072) }] }), headers: {} }, /65 images in one request is more than maxBatch 64/],
    // the data does not match the shape: the shape alone is refused first
    ['JSON BYTES [100000] with one element', { body: JSON.stringify({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [100_000], data: ['x'] }] }), headers: {} }, /100000 images in one request is more than maxBatch 64/],
    ['JSON pixels of one image over the pixel limit', { body: JSON.stringify({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 20_000, 20_000, 3], data: [] }] }), headers: {} }, /'pixels' of shape \[1,20000,20000,3\]: 20000 x 20000 pixels is more than the 100,000,000-pixel limit/],
    ['binary pixels of one image over the pixel limit', binaryBody({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 1, 100_000_001, 3], parameters: { binary_data_size: 3 } }] }, Buffer.alloc(3)), /1 x 100000001 pixels is more than the 100,000,000-pixel limit/],
  ];
  const model = server.models.get('cifar')!;
  const imagesBefore = model.stats.images;
  const normal = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: zeros(3072) }] };
  for (const [what, { body, headers }, message] of cases) {
    const started = performance.now();
    // another client's request, sent with it, is answered as quickly as ever
    const [r, other] = await Promise.all([infer(body, headers).then((x) => ({ ...x, ms: performance.now() - started })), infer(normal).then((x) => ({ ...x, ms: performance.now() - started }))]);
    assert.equal(r.status, 413, `${what}: ${JSON.stringify(r.json)}`);
    assert.match(r.json.error, message, what);
    assert.ok(r.ms < 2000, `${what}: refused after ${r.ms.toFixed(0)} ms`);
    assert.equal(other.status, 200, what);
    assert.ok(other.ms < 3000, `${what}: the other client waited ${other.ms.toFixed(0)} ms`);
  }
  assert.equal(model.stats.images - imagesBefore, cases.length, 'only the other clients\' images were computed');

  // the classify route: a form is read file by file, and one more file than a batch is refused
  // before any is decoded; so are files over the body limit together, and a form it cannot read
  const small = await createServer({ models: { m: checkpoint }, device: 'cpu', maxBatch: 2, maxBodyBytes: 50_000 });
  const url = await small.listen({ port: 0 });
  try {
    const form = (files: Buffer[]) => {
      const f = new FormData();
      files.forEach((b, i) => f.append(`f${i}`, new Blob([b], { type: 'image/png' }), `${i}.png`));
      return f;
    };
    const classify = async (body: FormData | Buffer, headers: Record<string, string> = {}) => {
      const r = await fetch(`${url}/v1/models/m/classify`, { method: 'POST', body, headers });
      return { status: r.status, json: (await r.json()) as any };
    };
    const three = await classify(form([tiny, tiny, tiny]));
    assert.equal(three.status, 413, JSON.stringify(three.json));
    assert.match(three.json.error, /the form holds more than 2 files, more than maxBatch 2: split it/);
    const heavy = await classify(form([tiny, Buffer.alloc(60_000)]));
    assert.equal(heavy.status, 413, JSON.stringify(heavy.json));
    assert.match(heavy.json.error, /request body too large: the form's files hold more than 50000 bytes/);
    assert.equal(small.models.get('m')!.stats.images, 0, 'nothing was computed');
    const two = await classify(form([pngs[0], pngs[1]]));
    assert.equal(two.status, 200, JSON.stringify(two.json));
    assert.equal(two.json.predictions.length, 2);
    // the same limits on the infer route of this server
    const three2 = await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'images', datatype: 'BYTES', shape: [3], data: ['', '', ''] }] }) });
    assert.equal(three2.status, 413);
    assert.match(((await three2.json()) as any).error, /3 images in one request is more than maxBatch 2/);
  } finally {
    await small.close();
  }
});

test('issue 29 item 6: non-finite inputs are 400 naming the input and the element, in JSON and binary tensors, wherever they are; only FP32 is taken', async () => {
  const n = 2 * 3072;
  const shape = [2, 3, 32, 32];
  // JSON: a number past float32's range would become Infinity (1e39), flat or nested
  for (const [value, at] of [[1e39, 0], [-1e39, 3071], [3.5e38, 3072], [-Number.MAX_VALUE, n - 1], [1e308, 4000]] as const) {
    const data = zeros(n);
    data[at] = value;
    for (const nested of [false, true]) {
      const body = { inputs: [{ name: 'input', datatype: 'FP32', shape, data: nested ? [[data.slice(0, 3072)], [data.slice(3072)]] : data }] };
      const r = await infer(body);
      assert.equal(r.status, 400, `${value} at ${at}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error, `'input' (FP32): inputs[0].data[${at}] is ${value}, which overflows FP32 (largest finite 3.4028234663852886e+38)`);
    }
  }
  // binary: NaN and infinities anywhere in any image
  for (const value of [NaN, Infinity, -Infinity]) {
    for (const at of [0, 1234, 3072, n - 1]) {
      const x = new Float32Array(n);
      x[at] = value;
      const { body, headers } = binaryBody({ inputs: [{ name: 'input', datatype: 'FP32', shape, parameters: { binary_data_size: x.byteLength } }] }, Buffer.from(x.buffer));
      const r = await infer(body, headers);
      assert.equal(r.status, 400, `${value} at ${at}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error, `'input' (FP32): element ${at} of the binary data (image ${Math.floor(at / 3072)}) is ${value}: inputs must be finite numbers`);
    }
  }
  // the model takes FP32 only: other float types are refused by name, in JSON and binary
  for (const datatype of ['FP64', 'FP16', 'BF16']) {
    const json = await infer({ inputs: [{ name: 'input', datatype, shape: [1, 3, 32, 32], data: zeros(3072) }] });
    assert.equal(json.status, 400);
    assert.equal(json.json.error, `inputs[0].datatype must be FP32 for 'input', got "${datatype}"`);
    const { body, headers } = binaryBody({ inputs: [{ name: 'input', datatype, shape: [1, 3, 32, 32], parameters: { binary_data_size: 3072 * 8 } }] }, Buffer.alloc(3072 * 8));
    const bin = await infer(body, headers);
    assert.equal(bin.status, 400);
    assert.match(bin.json.error, new RegExp(`datatype must be FP32 for 'input', got "${datatype}"`));
  }
  // the largest float32 (and a double that rounds to it) is finite and taken
  const edge = zeros(3072);
  edge[0] = 3.4028234663852886e38;
  edge[1] = -3.4028235e38;
  assert.equal((await infer({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: edge }] })).status, 200);
});

test('issue 29 item 12: a 200,000-deep JSON value anywhere in the request, and a multipart form without a boundary or cut short, are 400 with a clear message; the server keeps serving', async () => {
  const deepArray = '['.repeat(200_000) + ']'.repeat(200_000);
  const deepObject = '{"a":'.repeat(200_000) + '1' + '}'.repeat(200_000);
  const input = { name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: zeros(3072) };
  // "@" marks where the deep value goes
  const places: [string, unknown, RegExp, 'array'?][] = [
    ['the body', '@', /the request must be a JSON object with "inputs"|"inputs" must hold exactly one input/],
    ['inputs', { inputs: '@' }, /"inputs" must hold exactly one input|inputs\[0\] must be an object/],
    ['inputs[0]', { inputs: ['@'] }, /inputs\[0\] must be an object|inputs\[0\]\.name must be one of images, pixels, input, got nothing/],
    ['inputs[0].name', { inputs: [{ ...input, name: '@' }] }, /inputs\[0\]\.name must be one of images, pixels, input, got (\[\[\.\.\.\]\]|an object)/],
    ['inputs[0].datatype', { inputs: [{ ...input, datatype: '@' }] }, /inputs\[0\]\.datatype must be FP32 for 'input', got (\[\[\.\.\.\]\]|an object)/],
    ['inputs[0].shape', { inputs: [{ ...input, shape: '@' }] }, /inputs\[0\]\.shape must be an array of non-negative integers \(at most 8\), got (\[\[\.\.\.\]\]|an object)/],
    ['inputs[0].data', { inputs: [{ ...input, data: '@' }] }, /inputs\[0\]\.data (is nested deeper than the 4 dimensions of its shape|must be an array)/],
    ['inputs[0].data[5]', { inputs: [{ ...input, data: [0, 0, 0, 0, 0, '@'] }] }, /inputs\[0\]\.data is nested deeper than the 4 dimensions of its shape|inputs\[0\]\.data holds 6 values but shape \[1,3,32,32\] needs 3072/],
    ['images data', { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: '@' }] }, /inputs\[0\]\.data (is nested deeper than the 1 dimensions of its shape|must be an array)/],
    ['pixels data', { inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 1, 1, 3], data: ['@'] }] }, /inputs\[0\]\.data is nested deeper than the 4 dimensions of its shape|inputs\[0\]\.data holds 1 values but shape \[1,1,1,3\] needs 3/],
    ['inputs[0].parameters.binary_data_size', { inputs: [{ ...input, parameters: { binary_data_size: '@' } }] }, /binary_data_size must be a non-negative integer, got (\[\[\.\.\.\]\]|an object)/],
    ['id', { id: '@', inputs: [input] }, /"id" must be a string/],
    ['outputs', { inputs: [input], outputs: '@' }, /"outputs" must be a non-empty array when given|outputs\[0\] must be an object/],
    ['outputs[0].name', { inputs: [input], outputs: [{ name: '@' }] }, /outputs\[0\]\.name must be one of probabilities, logits, got (\[\[\.\.\.\]\]|an object)/],
    ['outputs[0].parameters.classification', { inputs: [input], outputs: [{ name: 'logits', parameters: { classification: '@' } }] }, /classification must be an integer from 1 to 10, got (\[\[\.\.\.\]\]|an object)/],
    ['outputs[0].parameters.binary_data', { inputs: [input], outputs: [{ name: 'logits', parameters: { binary_data: '@' } }] }, /outputs\[0\]\.parameters\.binary_data must be true or false/],
    // (parameters are objects: a deep one is only unknown parameters, ignored; a deep array is refused)
    ['inputs[0].parameters', { inputs: [{ ...input, parameters: '@' }] }, /inputs\[0\]\.parameters must be an object, got \[\[\.\.\.\]\]/, 'array'],
    ['outputs[0].parameters', { inputs: [input], outputs: [{ name: 'logits', parameters: '@' }] }, /outputs\[0\]\.parameters must be an object, got \[\[\.\.\.\]\]/, 'array'],
    ['parameters', { inputs: [input], parameters: '@' }, /^parameters must be an object, got \[\[\.\.\.\]\]/, 'array'],
    ['parameters.binary_data_output', { inputs: [input], parameters: { binary_data_output: '@' } }, /parameters\.binary_data_output must be true or false, got (\[\[\.\.\.\]\]|an object)/],
  ];
  for (const [place, template, message, only] of places) {
    for (const deep of only === 'array' ? [deepArray] : [deepArray, deepObject]) {
      const body = JSON.stringify(template).replace('"@"', deep);
      const r = await infer(body);
      assert.equal(r.status, 400, `${place}: ${JSON.stringify(r.json).slice(0, 200)}`);
      assert.match(r.json.error, message, place);
    }
  }
  // the same in a binary extension's JSON header
  const { body, headers } = binaryBody({ inputs: [{ ...input, data: undefined, shape: [1, 3, 32, 32], parameters: { binary_data_size: 12288 } }], outputs: [{ name: '@' }] }, Buffer.alloc(12288));
  const h = Number(headers['inference-header-content-length']);
  const header = body.subarray(0, h).toString().replace('"@"', deepArray);
  const r = await infer(Buffer.concat([Buffer.from(header), body.subarray(h)]), { 'inference-header-content-length': String(Buffer.byteLength(header)) });
  assert.equal(r.status, 400, JSON.stringify(r.json).slice(0, 200));
  assert.match(r.json.error, /outputs\[0\]\.name must be one of probabilities, logits, got \[\[\.\.\.\]\]/);

  // multipart forms the reader cannot read
  const png = pngs[0].toString('latin1');
  const part = `--XX\r\nContent-Disposition: form-data; name="a"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${png}`;
  const forms: [string, string, string, RegExp][] = [
    ['no boundary', 'multipart/form-data', `${part}\r\n--XX--\r\n`, /the multipart form cannot be read: Multipart: Boundary not found/],
    ['an empty boundary', 'multipart/form-data; boundary=', `${part}\r\n--XX--\r\n`, /the multipart form cannot be read: /],
    ['cut short in a file', 'multipart/form-data; boundary=XX', part.slice(0, part.length - 100), /the multipart form cannot be read: .*(end|terminated)/i],
    ['cut short in the part headers', 'multipart/form-data; boundary=XX', '--XX\r\nContent-Disposition: form-da', /the multipart form cannot be read: .*(end|terminated)/i],
    ['without its closing boundary', 'multipart/form-data; boundary=XX', `${part}\r\n`, /the multipart form cannot be read: .*(end|terminated)/i],
    ['not multipart at all', 'multipart/form-data; boundary=XX', 'hello', /the multipart form cannot be read: .*end/i],
  ];
  for (const [what, type, form, message] of forms) {
    const res = await fetch(`${base}/v1/models/cifar/classify`, { method: 'POST', body: Buffer.from(form, 'latin1'), headers: { 'content-type': type } });
    const json = (await res.json()) as any;
    assert.equal(res.status, 400, `${what}: ${JSON.stringify(json)}`);
    assert.match(json.error, message, what);
  }
  // still healthy and right
  assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
  assert.equal((await infer({ inputs: [input] })).status, 200);
  const good = new FormData();
  good.append('a', new Blob([pngs[0]], { type: 'image/png' }), 'a.png');
  assert.equal((await fetch(`${base}/v1/models/cifar/classify`, { method: 'POST', body: good })).status, 200);
});

test('issue 29 item 14: names of Object.prototype members (constructor, __proto__, toString, hasOwnProperty) are names like any other: models, inputs, outputs, parameters, the CLI', async () => {
  const builtins = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
  const good = { name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: zeros(3072) };
  for (const name of builtins) {
    // an input or output so named is an unknown name, never a member of a prototype
    const i = await infer({ inputs: [{ ...good, name }] });
    assert.equal(i.status, 400, name);
    assert.equal(i.json.error, `inputs[0].name must be one of images, pixels, input, got "${name}"`);
    const o = await infer({ inputs: [good], outputs: [{ name }] });
    assert.equal(o.status, 400, name);
    assert.equal(o.json.error, `outputs[0].name must be one of probabilities, logits, got "${name}"`);
    // parameters so named are unknown parameters, ignored; nor do they stand in for known ones
    // (JSON text: "__proto__" is then an own member, as a client sends it)
    const withParameters = `{"inputs":[${JSON.stringify({ ...good, parameters: { x: 1 } }).replace('"x":1', `"${name}":{"binary_data_size":0}`)}],"parameters":{"${name}":{"binary_data_output":true}},"outputs":[{"name":"logits","parameters":{"${name}":{"classification":3,"binary_data":true}}}]}`;
    const p = await infer(withParameters);
    assert.equal(p.status, 200, `${name}: ${JSON.stringify(p.json)}`);
    assert.deepEqual([p.json.outputs[0].name, p.json.outputs[0].datatype, p.json.outputs[0].shape, p.json.outputs[0].data.length], ['logits', 'FP32', [1, 10], 10]);
    // a request whose member so named holds the inputs has no inputs
    const nested = await infer(`{"${name}":${JSON.stringify({ inputs: [good] })}}`);
    assert.equal(nested.status, 400);
    assert.match(nested.json.error, /"inputs" must hold exactly one input/);
    // no model is so named here
    const m = await fetch(`${base}/v2/models/${name}`);
    assert.equal(m.status, 404, name);
    assert.match(((await m.json()) as any).error, new RegExp(`unknown model '${name}': this server has cifar`));
  }
  // models so named are served, given as a Map or as an object's own properties
  const s = await createServer({ models: new Map([['constructor', checkpoint], ['toString', checkpoint]]), device: 'cpu' });
  const url = await s.listen({ port: 0 });
  try {
    assert.deepEqual([...s.models.keys()], ['constructor', 'toString']);
    for (const name of ['constructor', 'toString']) {
      const md = await fetch(`${url}/v2/models/${name}`);
      assert.equal(md.status, 200, name);
      assert.equal(((await md.json()) as any).name, name);
      const r = await fetch(`${url}/v2/models/${name}/infer`, { method: 'POST', body: JSON.stringify({ inputs: [good] }) });
      assert.equal(r.status, 200, name);
      assert.equal(((await r.json()) as any).model_name, name);
    }
    for (const name of ['hasOwnProperty', '__proto__', 'valueOf']) assert.equal((await fetch(`${url}/v2/models/${name}/ready`)).status, 404, name);
    assert.match(await (await fetch(`${url}/metrics`)).text(), /resnet_native_requests_total\{model="constructor",route="\/v2\/models\/:name\/infer",status="200"\} 1/);
  } finally {
    await s.close();
  }
  await assert.rejects(createServer({ models: JSON.parse(`{"__proto__": ${JSON.stringify(checkpoint)}}`) }), /model name "__proto__" must start with a letter or digit/);
  await assert.rejects(createServer({ models: { hasOwnProperty: path.join(tmp, 'none.safetensors') } }), /model 'hasOwnProperty': checkpoint .*none\.safetensors does not exist/);
  // the CLI: models named like members are not "given twice" (the bad port is what stops it, before loading)
  const cliRun = (...args: string[]) => spawnSync(process.execPath, [cli, 'serve', ...args], { encoding: 'utf8' });
  const three = cliRun('--model', `constructor=${checkpoint}`, '--model', `toString=${checkpoint}`, '--model', `hasOwnProperty=${checkpoint}`, '--port', '70000');
  assert.equal(three.status, 2, three.stderr);
  assert.match(three.stderr, /--port must be an integer from 0 to 65535/);
  const twice = cliRun('--model', 'constructor=a.safetensors', '--model', 'constructor=b.safetensors');
  assert.equal(twice.status, 2);
  assert.match(twice.stderr, /model 'constructor' is given twice/);
  const proto = cliRun('--model', `__proto__=${checkpoint}`);
  assert.equal(proto.status, 2);
  assert.match(proto.stderr, /model name "__proto__" must start with a letter or digit/);
});

test('issue 29 item 5: an empty or blank host is refused (CLI exit 2, API error) instead of listening on every interface', async () => {
  const message = /host must be an address or host name to listen on \(e\.g\. 127\.0\.0\.1, or 0\.0\.0\.0 for every interface\), got .*: an empty one would listen on every interface/;
  for (const host of ['', ' ', '\t', ' 127.0.0.1']) {
    const r = spawnSync(process.execPath, [cli, 'serve', '--model', `m=${checkpoint}`, '--host', host, '--port', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2, JSON.stringify(host));
    assert.match(r.stderr, /option '--host <host>' argument .* is invalid\. expected an address or host name .*: an empty one would listen on every interface/);
    assert.doesNotMatch(r.stdout, /listening/);
    await assert.rejects(server.listen({ host, port: 0 }), message);
    const threads = WorkerThread.live.size;
    await assert.rejects(startServerThread({ models: { m: checkpoint } }, { host, port: 0 }), message);
    assert.equal(WorkerThread.live.size, threads, 'refused before a thread starts');
  }
  await assert.rejects(server.listen({ port: 65536 }), /port must be an integer from 0 to 65535/);
});

test('issue 29 item 15: every serve option is checked before any model is loaded, naming it and its range (the CLI exits 2 naming the flag)', async () => {
  const junk = path.join(tmp, 'junk-options.safetensors');
  fs.writeFileSync(junk, 'not a checkpoint');
  // with a checkpoint that cannot load: exit 2 and the option's message (not the load error, exit 1)
  const cliCases: [string[], RegExp][] = [
    [['--max-body-mb', '0'], /--max-body-mb must be more than 0 and at most 2048 \(MiB\), got 0$/m],
    [['--max-body-mb', '4096'], /--max-body-mb must be more than 0 and at most 2048 \(MiB\), got 4096$/m],
    [['--port', '70000'], /--port must be an integer from 0 to 65535 \(0: any free port\), got 70000/],
    [['--timeout-ms', '3000000000'], /--timeout-ms must be an integer from 1 to 2147483647 ms, got 3000000000/],
    [['--device', 'gpu'], /'cpu', 'cuda' or 'cuda:N' for --device but received 'gpu'/],
  ];
  for (const [args, message] of cliCases) {
    const r = spawnSync(process.execPath, [cli, 'serve', '--model', `m=${junk}`, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /could not be loaded|bodyLimit|FST_/);
  }
  // the API: each bad option rejects naming it, before a checkpoint is looked at or a thread starts
  const options: [Record<string, unknown>, RegExp][] = [
    [{ maxBodyBytes: 0 }, /maxBodyBytes must be an integer from 1 to 2147483648 bytes, got 0/],
    [{ maxBodyBytes: 1.5 }, /maxBodyBytes must be an integer from 1 to 2147483648 bytes, got 1\.5/],
    [{ maxBatch: 0 }, /maxBatch must be an integer from 1 to 65536, got 0/],
    [{ maxQueue: -1 }, /maxQueue must be an integer from 1 to 1073741824, got -1/],
    [{ maxQueueDelayMs: NaN }, /maxQueueDelayMs must be a number from 0 to 2147483647 ms, got NaN/],
    [{ requestTimeoutMs: 2 ** 31 }, /requestTimeoutMs must be an integer from 1 to 2147483647 ms, got 2147483648/],
    [{ headersTimeoutMs: 0 }, /headersTimeoutMs must be an integer from 1 to 2147483647 ms, got 0/],
    [{ headersTimeoutMs: 5000, bodyTimeoutMs: 1000 }, /headersTimeoutMs \(5000 ms\) must not be longer than bodyTimeoutMs \(1000 ms\)/],
    [{ keepAliveTimeoutMs: 'soon' }, /keepAliveTimeoutMs must be an integer from 1 to 2147483647 ms, got "soon"/],
    [{ shutdownGraceMs: -5 }, /shutdownGraceMs must be an integer from 0 to 2147483647 ms, got -5/],
    [{ device: 'gpu' }, /'cpu', 'cuda' or 'cuda:N' for device/],
    [{ threads: 0 }, /threads must be an integer from 1 to \d+, got 0/],
    [{ log: 'loud' }, /log must be 'off', 'terse' or 'json', got "loud"/],
    [{ models: {} }, /the server needs at least one model/],
    [{ models: { m: 42 } }, /model 'm': the checkpoint must be a file name, got 42/],
    [{ models: { 'a/b': junk } }, /model name "a\/b" must start with a letter or digit/],
  ];
  const threads = WorkerThread.live.size;
  for (const [bad, message] of options) {
    const o = { models: { m: path.join(tmp, 'absent.safetensors') }, ...bad } as never;
    await assert.rejects(createServer(o), message, JSON.stringify(bad));
    await assert.rejects(startServerThread(o, { port: 0 }), message, JSON.stringify(bad));
  }
  assert.equal(WorkerThread.live.size, threads, 'no thread started');
});

/** A raw connection that sends `data` (or nothing) and never finishes: when it closed, and what it got. */
function rawClient(url: string, data: string): { socket: net.Socket; sent: Promise<void>; closed: Promise<{ at: number; received: string }> } {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d));
  socket.on('error', () => {});
  const sent = new Promise<void>((resolve) => socket.once('connect', () => (data ? socket.write(data, () => resolve()) : resolve())));
  const closed = new Promise<{ at: number; received: string }>((resolve) => socket.once('close', () => resolve({ at: performance.now(), received })));
  return { socket, sent, closed };
}

const PARTIAL_HEADERS = 'POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: appl';
const PARTIAL_BODY = 'POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs":';

test('issue 29 item 4: header, body and keep-alive timeouts always apply; close() ends within its grace period while clients hold connections that sent nothing, half the headers or half a body, and still answers the request in flight', { timeout: 30_000 }, async () => {
  const s = await createServer({ models: { m: checkpoint }, device: 'cpu', maxQueueDelayMs: 1500, headersTimeoutMs: 600, bodyTimeoutMs: 1200, keepAliveTimeoutMs: 600, shutdownGraceMs: 500 });
  const url = await s.listen({ port: 0 });
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: zeros(3072) }] });
  // (a request that does not reach the model: the batcher's view of arrivals stays fresh)
  const fullRequest = 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n';
  // while serving: a silent client and half headers get 408 after the headers timeout, half a
  // body after the request timeout, and a kept-alive connection closes once idle for its timeout
  let started = performance.now();
  const [silent, halfHeaders, halfBody, keptAlive] = await Promise.all([rawClient(url, ''), rawClient(url, PARTIAL_HEADERS), rawClient(url, PARTIAL_BODY), rawClient(url, fullRequest)].map((c) => c.closed));
  for (const [what, c, low, high] of [['silent', silent, 500, 2500], ['half headers', halfHeaders, 500, 2500], ['half a body', halfBody, 1100, 3500]] as const) {
    assert.match(c.received, /^HTTP\/1\.1 408 Request Timeout/, what);
    const ms = c.at - started;
    assert.ok(ms >= low && ms < high, `${what}: closed after ${ms.toFixed(0)} ms`);
  }
  assert.match(keptAlive.received, /^HTTP\/1\.1 200 OK/);
  assert.ok(keptAlive.at - started >= 550 && keptAlive.at - started < 4000, `kept-alive connection closed after ${(keptAlive.at - started).toFixed(0)} ms`);

  // shutdown: one request in flight (queued, waiting for company: after a first request, the
  // next follows closely), an idle kept-alive connection, and the three slow clients, all
  // connected when close() is called
  assert.equal((await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body })).status, 200);
  const inFlight = fetch(`${url}/v2/models/m/infer`, { method: 'POST', body }).then(async (r) => ({ status: r.status, json: (await r.json()) as any, at: performance.now() }));
  while (s.models.get('m')!.queueDepth < 1) await new Promise((r) => setTimeout(r, 10));
  const idle = rawClient(url, fullRequest); // answered at once, then idle until close()
  const slow = [rawClient(url, ''), rawClient(url, PARTIAL_HEADERS), rawClient(url, PARTIAL_BODY)];
  // and one that finishes sending its request within the grace period: it is answered
  const late = rawClient(url, 'GET /v2/models/m/ready HTTP/1.1\r\nHost: x\r\n');
  await new Promise((r) => setTimeout(r, 100));
  setTimeout(() => late.socket.write('\r\n'), 250);
  await Promise.all(slow.map((c) => c.sent));
  started = performance.now();
  await s.close();
  const closedAfter = performance.now() - started;
  const [nothing, headers, partialBody] = await Promise.all(slow.map((c) => c.closed));
  const idleClosed = await idle.closed;
  const lateClosed = await late.closed;
  assert.match(lateClosed.received, /^HTTP\/1\.1 200 OK[\s\S]*connection: close[\s\S]*\{"name":"m","ready":true\}$/i);
  assert.ok(lateClosed.at - started < 450, `the request finished in the grace period was answered ${(lateClosed.at - started).toFixed(0)} ms after close()`);
  assert.match(idleClosed.received, /^HTTP\/1\.1 200 OK/);
  assert.ok(idleClosed.at - started < 300, `the idle kept-alive connection closed ${(idleClosed.at - started).toFixed(0)} ms after close()`);
  assert.ok(nothing.at - started < 300, `the silent connection closed ${(nothing.at - started).toFixed(0)} ms after close()`);
  for (const [what, c] of [['half headers', headers], ['half a body', partialBody]] as const) {
    const ms = c.at - started;
    assert.ok(ms >= 450 && ms < 1500, `${what}: closed ${ms.toFixed(0)} ms after close(), with a grace period of 500 ms`);
  }
  const answered = await inFlight;
  assert.equal(answered.status, 200, JSON.stringify(answered.json));
  assert.deepEqual(answered.json.outputs.map((o: { name: string }) => o.name), ['probabilities', 'logits']);
  // the in-flight request waited up to 1.5 s for company; nothing else held close() open
  assert.ok(closedAfter < 3000, `close() took ${closedAfter.toFixed(0)} ms`);
  await assert.rejects(fetch(`${url}/v2/health/live`), 'nothing listens after close()');
});

test('concurrent requests are batched (fewer forward passes than requests), each answer equal to the model run alone', async () => {
  const model = server.models.get('cifar')!;
  const before = { ...model.stats };
  const inputs = Array.from({ length: 24 }, (_, i) => randomInput(1, 100 + i));
  const answers = await Promise.all(inputs.map((x) => infer({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(x) }], outputs: [{ name: 'logits' }] })));
  const batches = model.stats.batches - before.batches;
  assert.equal(model.stats.images - before.images, 24);
  assert.ok(batches < 24, `${batches} forward passes for 24 requests`);
  // rtol/atol 1e-4: the same float32 model, but each image computed inside a batch of others,
  // where the convolution kernels add in another order
  answers.forEach((a, i) => assertClose(a.json.outputs[0].data, Array.from(direct(inputs[i], 1).logits), { rtol: 1e-4, atol: 1e-4, what: `request ${i}` }));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /resnet_native_requests_total\{model="cifar",route="\/v2\/models\/:name\/infer",status="200"\} \d+/);
  const batchCount = Number(/resnet_native_batch_size_count\{model="cifar"\} (\d+)/.exec(metrics)![1]);
  assert.equal(batchCount, model.stats.batches, 'the batch-size histogram counts every forward pass');
  for (const name of ['resnet_native_request_duration_seconds_bucket', 'resnet_native_queue_duration_seconds_sum', 'resnet_native_compute_duration_seconds_sum', 'resnet_native_queue_depth']) {
    assert.ok(metrics.includes(name), name);
  }
});

test('under steady load batches are evened out and queued behind the running one: 16 closed-loop clients settle at 8 + 8, not 1 + 15', async () => {
  const sizes: number[] = [];
  const observer = { batch: (_: string, images: number) => sizes.push(images), queued: () => {}, depth: () => {} };
  const model = await ServedModel.load('m', checkpoint, { device: 'cpu', maxQueueDelayMs: 0 }, observer);
  try {
    const x = randomInput(1, 7);
    // each client sends its next request as soon as its answer comes (what 16 connections of a load generator do)
    const client = async () => {
      for (let i = 0; i < 10; i++) await model.infer([{ kind: 'f32', count: 1, data: x.slice() }]);
    };
    await Promise.all(Array.from({ length: 16 }, client));
    assert.equal(sizes.reduce((n, b) => n + b, 0), 160);
    // the first request finds the thread idle and goes alone; the 15 behind it split 8 + 7, then 8 + 8
    const steady = sizes.slice(3, -2);
    assert.ok(steady.length > 10 && steady.every((b) => b >= 7 && b <= 9), `batch sizes ${sizes.join(' ')}`);
    // once the thread's timing is known, each batch waits on the thread behind the running one
    assert.ok(model.stats.queuedAhead >= steady.length / 2, `${model.stats.queuedAhead} of ${model.stats.batches} batches queued ahead`);
  } finally {
    await model.close();
  }
});

test('backpressure: a full queue answers 503 with Retry-After; a body over the limit 413; a client that left is not computed', async () => {
  const small = await createServer({ models: { m: checkpoint }, device: 'cpu', maxQueue: 2, maxBatch: 1, maxBodyBytes: 200_000, maxQueueDelayMs: 0 });
  const url = await small.listen({ port: 0 });
  try {
    const x = randomInput(1, 7);
    const h = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: x.byteLength } }] }));
    const body = Buffer.concat([h, Buffer.from(x.buffer)]);
    const send = () => fetch(`${url}/v2/models/m/infer`, { method: 'POST', body, headers: { 'inference-header-content-length': String(h.length) } });
    const responses = await Promise.all(Array.from({ length: 16 }, send));
    const statuses = responses.map((r) => r.status);
    assert.ok(statuses.includes(503), `statuses ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses ${statuses}`);
    const overloaded = responses.find((r) => r.status === 503)!;
    assert.equal(overloaded.headers.get('retry-after'), '1');
    assert.match(((await overloaded.json()) as any).error, /overloaded: 2 requests are waiting \(maxQueue 2\)/);
    const large = await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: Buffer.alloc(300_000, 32), headers: { 'content-type': 'application/json' } });
    assert.equal(large.status, 413);
    assert.match(((await large.json()) as any).error, /request body too large/);
  } finally {
    await small.close();
  }
  // the queue delay: a request to an idle model after a quiet spell is not held back; one that
  // follows closely waits for company, and if its client gives up meanwhile it is dropped, not computed
  const slow = await createServer({ models: { m: checkpoint }, device: 'cpu', maxQueueDelayMs: 2000 });
  const slowUrl = await slow.listen({ port: 0 });
  try {
    const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array(3072).fill(0) }] });
    const started = performance.now();
    assert.equal((await fetch(`${slowUrl}/v2/models/m/infer`, { method: 'POST', body })).status, 200);
    assert.ok(performance.now() - started < 1000, `a lone request waited ${performance.now() - started} ms for others`);
    assert.equal(slow.models.get('m')!.stats.batches, 1);
    const controller = new AbortController();
    const pending = fetch(`${slowUrl}/v2/models/m/infer`, { method: 'POST', body, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(slow.models.get('m')!.queueDepth, 1, 'the second request waits for others');
    controller.abort();
    await assert.rejects(pending);
    await new Promise((r) => setTimeout(r, 2200));
    assert.equal(slow.models.get('m')!.stats.batches, 1, 'no forward pass for a client that left');
  } finally {
    await slow.close();
  }
});

test('a model whose thread dies: its requests get 503 at once, it reports not ready, then comes back', async () => {
  const s = await createServer({ models: { m: checkpoint }, device: 'cpu', maxQueueDelayMs: 1000 });
  const url = await s.listen({ port: 0 });
  try {
    const model = s.models.get('m')!;
    // a first request, so that the next one (following closely) waits in the queue for company
    assert.equal((await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array(3072).fill(0) }] }) })).status, 200);
    const queued = fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array(3072).fill(0) }] }) });
    await new Promise((r) => setTimeout(r, 50));
    model.crashForTesting();
    const r = await queued;
    assert.equal(r.status, 503);
    assert.match(((await r.json()) as any).error, /model 'm' is restarting: its thread ended/);
    const ready = await fetch(`${url}/v2/models/m/ready`);
    assert.equal(ready.status, 503);
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 503);
    for (let i = 0; i < 100 && !model.ready; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(model.stats.restarts, 1);
    assert.equal((await fetch(`${url}/v2/models/m/ready`)).status, 200);
    const again = await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array(3072).fill(0) }] }) });
    assert.equal(again.status, 200);
  } finally {
    await s.close();
  }
});

test('serve CLI: a bad checkpoint exits 1 before listening; --help; SIGTERM under load answers every accepted request and exits 0', async () => {
  const missing = spawnSync(process.execPath, [cli, 'serve', '--model', `m=${path.join(tmp, 'nope.safetensors')}`, '--port', '0'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /model 'm': checkpoint .*nope\.safetensors does not exist/);
  const junk = path.join(tmp, 'junk.safetensors');
  fs.writeFileSync(junk, 'not a checkpoint');
  const corrupt = spawnSync(process.execPath, [cli, 'serve', '--model', `m=${junk}`, '--port', '0'], { encoding: 'utf8' });
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, /model 'm' \(.*junk\.safetensors\) could not be loaded: /);
  assert.doesNotMatch(corrupt.stdout, /listening/);
  const usage = spawnSync(process.execPath, [cli, 'serve', '--model', 'nocheckpoint'], { encoding: 'utf8' });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /expected NAME=CHECKPOINT, got 'nocheckpoint'/);
  const help = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8' });
  for (const flag of ['--model', '--host', '--port', '--max-batch', '--max-queue-delay-ms', '--max-queue', '--device', '--threads']) assert.ok(help.stdout.includes(flag), flag);

  // the batch waits up to 1.5 s for more: the requests are all accepted and queued when SIGTERM
  // comes; clients that sent nothing, half their headers or half a body do not hold it open
  const child = spawn(process.execPath, [cli, 'serve', '--model', `cifar=${checkpoint}`, '--port', '0', '--max-queue-delay-ms', '1500', '--shutdown-grace-ms', '500', '--log', 'json']);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const address = await new Promise<string>((resolve) => child.stdout.on('data', () => /listening on (http:\S+);/.test(out) && resolve(/listening on (http:\S+);/.exec(out)![1])));
  assert.match(out, /ready: cifar \(resnet18, 10 classes, cpu\)/);
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array(3072).fill(0.5) }] });
  // (after a first request, the next ones follow closely, so they all wait in the queue)
  assert.equal((await fetch(`${address}/v2/models/cifar/infer`, { method: 'POST', body })).status, 200);
  const requests = Array.from({ length: 20 }, () => fetch(`${address}/v2/models/cifar/infer`, { method: 'POST', body }));
  for (let depth = 0; depth < 20; ) {
    await new Promise((r) => setTimeout(r, 20));
    depth = Number(/resnet_native_queue_depth\{model="cifar"\} (\d+)/.exec(await (await fetch(`${address}/metrics`)).text())?.[1] ?? 0);
  }
  const slow = [rawClient(address, ''), rawClient(address, PARTIAL_HEADERS), rawClient(address, PARTIAL_BODY)];
  await Promise.all(slow.map((c) => c.sent));
  const signalled = performance.now();
  child.kill('SIGTERM');
  const statuses = await Promise.all(requests.map((p) => p.then((r) => r.status)));
  assert.deepEqual(statuses, Array(20).fill(200));
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 20 s after SIGTERM'), 20_000))]);
  if (typeof code === 'string') child.kill('SIGKILL');
  assert.equal(code, 0);
  const stoppedAfter = performance.now() - signalled;
  // the queued requests waited up to 1.5 s; the slow clients had 0.5 s
  assert.ok(stoppedAfter < 6000, `exited ${stoppedAfter.toFixed(0)} ms after SIGTERM`);
  for (const c of await Promise.all(slow.map((x) => x.closed))) assert.ok(c.at - signalled < 4000, `a slow client's connection closed ${(c.at - signalled).toFixed(0)} ms after SIGTERM`);
  assert.match(out, /SIGTERM: answering requests in flight, then stopping/);
  // structured request logs: one JSON line per request
  const logged = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const inferLines = logged.filter((l) => l.url === '/v2/models/cifar/infer');
  assert.equal(inferLines.length, 21);
  assert.ok(inferLines.every((l) => l.method === 'POST' && l.status === 200 && l.model === 'cifar' && l.ms > 0 && !Number.isNaN(Date.parse(l.time))));
});

test('startServerThread: the server on a thread of its own, with a young generation sized for a server, answers as the model does; close() answers what is in flight; a bad checkpoint rejects naming it', async () => {
  const threadsBefore = WorkerThread.live.size;
  const junk = path.join(tmp, 'junk-thread.safetensors');
  fs.writeFileSync(junk, 'not a checkpoint');
  await assert.rejects(startServerThread({ models: { m: junk } }, { port: 0 }), /model 'm' \(.*junk-thread\.safetensors\) could not be loaded: /);
  assert.equal(WorkerThread.live.size, threadsBefore, 'the thread of a server that failed to start has ended');

  const s = await startServerThread({ models: { cifar: checkpoint }, device: 'cpu', maxQueueDelayMs: 1500 }, { port: 0 });
  assert.equal(s.resourceLimits.maxYoungGenerationSizeMb, SERVER_YOUNG_GENERATION_MB);
  assert.match(s.address, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(
    s.models.map((m) => [m.name, m.info.arch, m.info.classNames.length]),
    [['cifar', 'resnet18', 10]],
  );
  const x = randomInput(2, 5);
  const h = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 32, 32], parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
  const post = () => fetch(`${s.address}/v2/models/cifar/infer`, { method: 'POST', body: Buffer.concat([h, Buffer.from(x.buffer)]), headers: { 'inference-header-content-length': String(h.length) } });
  const first = await post();
  assert.equal(first.status, 200);
  const raw = Buffer.from(await first.arrayBuffer());
  const headerLength = Number(first.headers.get('inference-header-content-length'));
  const answer = JSON.parse(raw.subarray(0, headerLength).toString());
  assert.deepEqual(answer.outputs.map((o: { name: string }) => o.name), ['probabilities', 'logits']);
  const probabilities = new Float32Array(raw.buffer.slice(raw.byteOffset + headerLength, raw.byteOffset + headerLength + 2 * 10 * 4));
  assertClose(probabilities, Array.from(direct(x, 2).probabilities), { rtol: 1e-5, atol: 1e-7, what: 'probabilities from the server thread' });

  // accepted and queued (the batch waits up to 1.5 s for more) when close() is called: all answered
  const requests = Array.from({ length: 8 }, () => post().then((r) => r.status));
  for (let depth = 0; depth < 8; ) {
    await new Promise((r) => setTimeout(r, 20));
    depth = Number(/resnet_native_queue_depth\{model="cifar"\} (\d+)/.exec(await (await fetch(`${s.address}/metrics`)).text())?.[1] ?? 0);
  }
  await s.close();
  assert.deepEqual(await Promise.all(requests), Array(8).fill(200));
  assert.equal(WorkerThread.live.size, threadsBefore, 'close() ends the thread');
  await assert.rejects(fetch(`${s.address}/v2/health/live`), 'nothing listens after close()');
});

test('memory stays flat over 10,000 requests', async () => {
  const x = randomInput(1, 11);
  const h = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
  const body = Buffer.concat([h, Buffer.from(x.buffer)]);
  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next++ < n) {
        const r = await fetch(`${base}/v2/models/cifar/infer`, { method: 'POST', body, headers: { 'inference-header-content-length': String(h.length) } });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  };
  await run(2000);
  collectGarbage();
  const warm = process.memoryUsage().rss;
  await run(8000);
  collectGarbage();
  const grown = (process.memoryUsage().rss - warm) / 2 ** 20;
  assert.ok(grown < 64, `RSS grew ${grown.toFixed(0)} MiB over the last 8,000 requests`);
});

// A standard client of the protocol, not written here: NVIDIA's tritonclient (PyPI).
const tritonPython = [process.env.RESNET_NATIVE_TRITON_PYTHON, '/work/venv/bin/python'].find((p): p is string => p !== undefined && fs.existsSync(p) && spawnSync(p, ['-c', 'import tritonclient.http']).status === 0);

test('bench:serve measures the server and the model in-process in alternating rounds, latency over every request of them', async () => {
  const lines: string[] = [];
  // the thread count this thread has already, so the in-process side changes nothing for later tests
  const rows = await runServeBench({ checkpoint, concurrency: [1, 4], seconds: 0.4, rounds: 2, threads: getNumThreads(), maxBatch: 8, maxQueueDelayMs: 2 }, (l) => lines.push(l));
  assert.deepEqual(rows.map((r) => `${r.payload} ${r.concurrency}`), ['tensor 1', 'tensor 4', 'image 1', 'image 4']);
  assert.equal(lines.length, 4);
  for (const row of rows) {
    assert.equal(row.errors, 0, lines.join('\n'));
    assert.ok(row.samples.served >= row.concurrency && row.samples.inProcess >= 6, `${JSON.stringify(row.samples)}: each round times at least 3 passes`);
    assert.ok(row.p50Ms > 0 && row.p50Ms <= row.p99Ms && row.inProcess.p50Ms > 0 && row.inProcess.p50Ms <= row.inProcess.p99Ms);
    assert.ok(Math.abs(row.p99OverModelMs - (row.p99Ms - row.inProcess.p99Ms)) < 1e-9, 'p99 over the model is the difference of the pooled p99s');
    assert.ok(Number.isFinite(row.ratio) && row.ratio > 0 && row.requestsPerSecond > 0 && row.inProcess.imagesPerSecond > 0);
    // (a request the load generator left in flight at the end of one round can share a batch with
    // the next round's first)
    assert.ok(row.meanBatch >= 1 && row.meanBatch <= Math.min(8, row.concurrency) + 0.25, `mean batch ${row.meanBatch} at concurrency ${row.concurrency}`);
  }
  assert.match(lines[0], /^tensor c= 1: .* -> [\d.]+x, p99 [+-][\d.]+ ms \(ratio: median of 2 rounds: [\d.]+, [\d.]+; latency over \d+ requests \/ \d+ passes\)$/);
  rows.forEach((row, i) => {
    const [a, b] = /median of 2 rounds: ([\d.]+), ([\d.]+);/.exec(lines[i])!.slice(1).map(Number);
    assert.ok(Math.abs(row.ratio - (a + b) / 2) <= 0.006, `the median of two rounds is their mean: ${row.ratio} from ${a}, ${b}`);
  });
});

test('tritonclient (Triton\'s Python HTTP client) talks to the server in binary and JSON modes', { skip: !tritonPython && 'no Python with tritonclient[http] (set RESNET_NATIVE_TRITON_PYTHON; .ci/run installs one)' }, async () => {
  const x = randomInput(2, 21);
  const xFile = path.join(tmp, 'x.bin');
  fs.writeFileSync(xFile, Buffer.from(x.buffer));
  fs.writeFileSync(path.join(tmp, 'img.png'), pngs[7]);
  const res = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(tritonPython!, [path.join(__dirname, 'serve_tritonclient.py'), base.replace('http://', ''), xFile, path.join(tmp, 'img.png')]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
  assert.equal(res.code, 0, res.err);
  const got = JSON.parse(res.out);
  assert.deepEqual([got.live, got.ready, got.modelReady], [true, true, true]);
  assert.deepEqual(got.inputNames, ['images', 'pixels', 'input']);
  const want = direct(x, 2);
  for (const mode of ['binary', 'json']) {
    assertClose(got[mode].probabilities, Array.from(want.probabilities), { rtol: 1e-5, atol: 1e-7, what: `${mode} probabilities` });
    assert.equal(got[mode].id, 'tc-1');
    const best = Array.from(want.logits.subarray(0, 10)).indexOf(Math.max(...want.logits.subarray(0, 10)));
    assert.match(got[mode].top[0], new RegExp(`^[-\\d.e]+:${best}:${meta.classNames[best]}$`));
  }
  assertClose(got.image, Array.from(await expectedForImages([pngs[7]])), { rtol: 1e-5, atol: 1e-7, what: 'image via BYTES' });
});

