// Named pretrained weights (io/pretrained.ts) against a local HTTP server standing in for
// download.pytorch.org (RESNET_NATIVE_WEIGHTS_URL / baseUrl): the registry's facts, download,
// cache hits without a request, resuming a cut download, the SHA-256 check of torch.hub (a wrong
// digest refused and deleted), server failures, unknown names, the synchronous path (a factory's
// `weights`, a training thread) and the `weights` command. Loopback only; nothing real is fetched:
// the file served is test/fixtures/pth/small_net.pth (torch.save of scripts/gen_fixtures.py's
// SmallNet) under a name carrying its own SHA-256 prefix.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  CheckpointError,
  PRETRAINED_WEIGHTS,
  WeightsDownloadError,
  cachedPretrained,
  downloadPretrained,
  downloadWeightsFile,
  downloadWeightsFileSync,
  findPretrained,
  loadWeights,
  resnet18,
  resnet34,
  resnet50,
  resolvePretrained,
  saveWeights,
  train,
  weightsCacheDir,
} from '../src/index';
import { tempDir } from './helpers';
import { SmallNet } from './small-net';

const tmp = tempDir('rn-pretrained-');
const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
const pth = fs.readFileSync(path.join(__dirname, 'fixtures', 'pth', 'small_net.pth'));
const digest = createHash('sha256').update(pth).digest('hex');
const goodName = `small_net-${digest.slice(0, 8)}.pth`;
// The server runs on a thread of its own: the synchronous path (spawnSync) blocks this one while
// its download process fetches. Its mode is shared memory; it logs each request to a file.
const MODES = { normal: 0, 'cut-once': 1, slow: 2, 'fail-500': 3 } as const;
const control = new Int32Array(new SharedArrayBuffer(4));
const setMode = (m: keyof typeof MODES) => Atomics.store(control, 0, MODES[m]);
const requestLog = path.join(tmp, 'requests.ndjson');
const seen = (): { path: string; range?: string }[] =>
  fs.existsSync(requestLog) ? fs.readFileSync(requestLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const clearSeen = () => fs.writeFileSync(requestLog, '');
const SERVER = `
  const fs = require('node:fs');
  const http = require('node:http');
  const { parentPort, workerData } = require('node:worker_threads');
  const files = new Map(workerData.files.map(([p, bytes]) => [p, Buffer.from(bytes)]));
  const control = new Int32Array(workerData.control);
  const server = http.createServer((req, res) => {
    fs.appendFileSync(workerData.log, JSON.stringify({ path: req.url, range: req.headers.range }) + '\\n');
    const mode = Atomics.load(control, 0);
    if (mode === 3) return res.writeHead(500).end('internal error');
    const body = files.get(req.url);
    if (!body) return res.writeHead(404).end();
    const match = /bytes=(\\d+)-/.exec(req.headers.range || '');
    if (match) {
      const start = Number(match[1]);
      res.writeHead(206, { 'Content-Length': body.length - start, 'Content-Range': 'bytes ' + start + '-' + (body.length - 1) + '/' + body.length });
      return res.end(body.subarray(start));
    }
    res.writeHead(200, { 'Content-Length': body.length });
    if (mode === 1) {
      Atomics.store(control, 0, 0);
      return res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
    }
    if (mode === 2) {
      let offset = 0;
      const timer = setInterval(() => {
        if (res.destroyed || offset >= body.length) {
          clearInterval(timer);
          return res.end();
        }
        res.write(body.subarray(offset, (offset += 1024)));
      }, 10);
      return;
    }
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  parentPort.on('message', () => server.close(() => process.exit(0)));
`;
let serverThread: Worker;
let base: string;

// The environment the synchronous path's download process inherits: this test's own cache, an
// empty torch.hub folder, the local server as the mirror.
const env = { RESNET_NATIVE_CACHE: path.join(tmp, 'env-cache'), TORCH_HOME: path.join(tmp, 'torch-home') };
Object.assign(process.env, env);

before(async () => {
  const files: [string, Uint8Array][] = [
    [`/${goodName}`, pth],
    ['/small_net-00000000.pth', pth], // a digest that is not the file's
    ['/models/resnet18-f37072fd.pth', pth], // not torchvision's file: its check fails
    ['/models/resnet50-11ad3fa6.pth', pth],
  ];
  serverThread = new Worker(SERVER, { eval: true, workerData: { files, control: control.buffer, log: requestLog } });
  const port = await new Promise<number>((resolve, reject) => {
    serverThread.once('message', resolve);
    serverThread.once('error', reject);
  });
  base = `http://127.0.0.1:${port}`;
  process.env.RESNET_NATIVE_WEIGHTS_URL = `${base}/models`;
});

after(() => serverThread.postMessage('close'));

/** SmallNet's parameters as loaded, to compare with the fixture's own reading. */
function loadedValues(file: string): number[] {
  const net = new SmallNet();
  const result = loadWeights(net, file);
  assert.equal(result.format, 'pytorch');
  return Array.from(net.stateDict()['conv.weight'].toArray() as Float32Array);
}
const expected = loadedValues(path.join(__dirname, 'fixtures', 'pth', 'small_net.pth'));

test("the registry holds every torchvision ResNet weight with torchvision's address, hash and metadata", () => {
  assert.deepEqual(
    PRETRAINED_WEIGHTS.map((w) => w.name),
    ['resnet18.imagenet1k_v1', 'resnet34.imagenet1k_v1', 'resnet50.imagenet1k_v1', 'resnet50.imagenet1k_v2', 'resnet101.imagenet1k_v1', 'resnet101.imagenet1k_v2', 'resnet152.imagenet1k_v1', 'resnet152.imagenet1k_v2'],
  );
  for (const w of PRETRAINED_WEIGHTS) {
    assert.equal(w.url, `https://download.pytorch.org/models/${w.fileName}`);
    assert.match(w.fileName, new RegExp(`^${w.arch}-[0-9a-f]{8}\\.pth$`));
    assert.equal(w.fileName, `${w.arch}-${w.sha256Prefix}.pth`);
    assert.equal(w.numClasses, 1000);
    const v2 = w.name.endsWith('_v2');
    assert.equal(w.evalTransform.resizeSize, v2 ? 232 : 256, w.name);
    assert.equal(w.evalTransform.cropSize, 224);
    assert.equal(w.evalTransform.interpolation, 'bilinear');
    assert.deepEqual(w.evalTransform.mean, [0.485, 0.456, 0.406]);
    assert.deepEqual(w.evalTransform.std, [0.229, 0.224, 0.225]);
    assert.ok(w.metrics.acc1 > 69 && w.metrics.acc1 < 83 && w.metrics.acc5 > w.metrics.acc1, w.name);
    // torchvision's DEFAULT: V2 where there is one
    assert.equal(w.isDefault, v2 || !PRETRAINED_WEIGHTS.some((o) => o.arch === w.arch && o.name.endsWith('_v2')), w.name);
  }
  assert.equal(resolvePretrained('resnet50.imagenet1k_v2').url, 'https://download.pytorch.org/models/resnet50-11ad3fa6.pth');
  assert.equal(resolvePretrained('resnet50.imagenet1k_v2').metrics.acc1, 80.858);
  assert.equal(resolvePretrained('resnet18.imagenet1k_v1').sha256Prefix, 'f37072fd');
  // the parameter counts torchvision reports are our models' own
  for (const make of [resnet18, resnet50]) {
    const model = make({ device: 'cpu' });
    const count = model.numParameters();
    const arch = make === resnet18 ? 'resnet18' : 'resnet50';
    assert.equal(count, resolvePretrained(`${arch}.imagenet1k_v1`).numParams, arch);
    model.dispose();
  }
});

test("names are matched case-insensitively, in torchvision's spelling too; an unknown one lists the known names", () => {
  for (const spelling of ['resnet50.imagenet1k_v2', 'ResNet50_Weights.IMAGENET1K_V2', 'RESNET50.IMAGENET1K_V2', ' resnet50_weights.imagenet1k_v2 ', 'resnet50.DEFAULT', 'ResNet50_Weights.DEFAULT']) {
    assert.equal(findPretrained(spelling)?.name, 'resnet50.imagenet1k_v2', spelling);
  }
  assert.equal(findPretrained('ResNet18_Weights.DEFAULT')?.name, 'resnet18.imagenet1k_v1');
  assert.equal(resolvePretrained('resnet50.imagenet1k_v2').torchvisionName, 'ResNet50_Weights.IMAGENET1K_V2');
  for (const unknown of ['resnet18.imagenet1k_v2', 'resnet50', 'vgg16.imagenet1k_v1', 'resnet50-11ad3fa6.pth']) {
    assert.equal(findPretrained(unknown), undefined, unknown);
    assert.throws(() => resolvePretrained(unknown), (err: Error) => err instanceof CheckpointError && /is not the name of pretrained weights; known names: resnet18\.imagenet1k_v1, .*resnet152\.imagenet1k_v2/.test(err.message));
  }
});

test('downloads with progress, checks the sha256 in the name, and the second call makes no request', async () => {
  const dir = path.join(tmp, 'a');
  const progress: number[] = [];
  const logs: string[] = [];
  const result = await downloadWeightsFile(`${base}/${goodName}`, { dir, onProgress: (r) => progress.push(r), log: (m) => logs.push(m) });
  assert.equal(result.status, 'downloaded');
  assert.equal(result.file, path.join(dir, goodName));
  assert.equal(progress.at(-1), pth.length);
  assert.ok(logs.some((l) => l.includes(`downloading ${base}/${goodName} to ${result.file}`)));
  assert.deepEqual(fs.readdirSync(dir), [goodName], 'no .part or .lock left');
  assert.deepEqual(loadedValues(result.file), expected, 'the download loads as weights');
  clearSeen();
  assert.deepEqual(await downloadWeightsFile(`${base}/${goodName}`, { dir }), { file: result.file, status: 'present' });
  assert.equal(seen().length, 0, 'a cache hit makes no request');
});

test('a cut download keeps what arrived, no file under the real name, and the next call resumes with a Range request', async () => {
  const dir = path.join(tmp, 'b');
  setMode('cut-once');
  await assert.rejects(downloadWeightsFile(`${base}/${goodName}`, { dir }), (err: Error) => err instanceof WeightsDownloadError && /stopped at \d+ .*run the command again to resume/.test(err.message));
  assert.equal(fs.existsSync(path.join(dir, goodName)), false, 'nothing under the real name');
  const partSize = fs.statSync(path.join(dir, `${goodName}.part`)).size;
  assert.ok(partSize > 0 && partSize < pth.length);
  clearSeen();
  const logs: string[] = [];
  const result = await downloadWeightsFile(`${base}/${goodName}`, { dir, log: (m) => logs.push(m) });
  assert.equal(result.status, 'resumed');
  assert.equal(seen()[0].range, `bytes=${partSize}-`);
  assert.ok(logs.some((l) => /resuming the download at/.test(l)));
  assert.deepEqual(loadedValues(result.file), expected);
  assert.deepEqual(fs.readdirSync(dir), [goodName]);
});

test('a wrong sha256 is refused naming both digests and the download is deleted', async () => {
  const dir = path.join(tmp, 'c');
  await assert.rejects(
    downloadWeightsFile(`${base}/small_net-00000000.pth`, { dir }),
    (err: Error) =>
      err instanceof WeightsDownloadError && err.message.includes(`sha256 is ${digest}, expected one starting with 00000000`) && /the download was deleted/.test(err.message),
  );
  assert.deepEqual(fs.readdirSync(dir), [], 'no file, no .part, no lock');
  // a name without a hash has nothing to be checked against: refused before any request
  clearSeen();
  await assert.rejects(downloadWeightsFile(`${base}/small_net.pth`, { dir }), /carries no SHA-256 prefix of at least 8 hex digits/);
  assert.equal(seen().length, 0);
});

test('a failing server (404, 500, nothing listening) gives a clear error and leaves nothing', async () => {
  const dir = path.join(tmp, 'd');
  await assert.rejects(downloadWeightsFile(`${base}/missing-0123abcd.pth`, { dir }), (err: Error) => err instanceof WeightsDownloadError && err.message === `downloading ${base}/missing-0123abcd.pth failed: HTTP 404`);
  setMode('fail-500');
  try {
    await assert.rejects(downloadWeightsFile(`${base}/${goodName}`, { dir }), /failed: HTTP 500/);
  } finally {
    setMode('normal');
  }
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await assert.rejects(downloadWeightsFile(`http://127.0.0.1:${port}/${goodName}`, { dir }), (err: Error) => err instanceof WeightsDownloadError && /failed: .*ECONNREFUSED/.test(err.message));
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('two downloads of one file at once: one fetches, the other waits for it (one request)', async () => {
  const dir = path.join(tmp, 'e');
  setMode('slow');
  clearSeen();
  const logs: string[] = [];
  try {
    const [a, b] = await Promise.all([downloadWeightsFile(`${base}/${goodName}`, { dir }), downloadWeightsFile(`${base}/${goodName}`, { dir, log: (m) => logs.push(m) })]);
    assert.deepEqual([a.status, b.status].sort(), ['downloaded', 'present']);
  } finally {
    setMode('normal');
  }
  assert.equal(seen().length, 1);
  assert.ok(logs.some((l) => /waiting for another download of/.test(l)));
  // a lock left by a process that is gone does not block
  fs.rmSync(path.join(dir, goodName));
  fs.writeFileSync(path.join(dir, `${goodName}.lock`), `${os.hostname()} 2147483646\n`);
  assert.equal((await downloadWeightsFile(`${base}/${goodName}`, { dir })).status, 'downloaded');
});

test('by name: the address under the mirror, the cache (ours, then torch.hub\'s) hit without a request, and the hash check', async () => {
  const cacheDir = path.join(tmp, 'named-cache');
  const torchHubDir = path.join(tmp, 'hub');
  clearSeen();
  // the local server holds small_net.pth as resnet18-f37072fd.pth: not torchvision's bytes
  await assert.rejects(
    downloadPretrained('ResNet18_Weights.IMAGENET1K_V1', { cacheDir, torchHubDir, baseUrl: `${base}/models/` }),
    (err: Error) => err instanceof WeightsDownloadError && err.message.includes(`${base}/models/resnet18-f37072fd.pth: sha256 is ${digest}, expected one starting with f37072fd`),
  );
  assert.deepEqual(seen().map((s) => s.path), ['/models/resnet18-f37072fd.pth']);
  assert.deepEqual(fs.readdirSync(cacheDir), []);
  // RESNET_NATIVE_WEIGHTS_URL is the default mirror
  await assert.rejects(downloadPretrained('resnet50.imagenet1k_v2', { cacheDir, torchHubDir }), /resnet50-11ad3fa6\.pth: sha256 is .* expected one starting with 11ad3fa6/);
  await assert.rejects(downloadPretrained('resnet101.imagenet1k_v2', { cacheDir, torchHubDir }), /resnet101-cd907fc2\.pth failed: HTTP 404/);
  await assert.rejects(downloadPretrained('resnet9.imagenet1k_v1', { cacheDir }), (err: Error) => err instanceof CheckpointError && /known names: resnet18\.imagenet1k_v1/.test(err.message));

  fs.mkdirSync(torchHubDir, { recursive: true });
  fs.writeFileSync(path.join(torchHubDir, 'resnet34-b627a593.pth'), 'torch.hub downloaded this');
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(path.join(cacheDir, 'resnet50-11ad3fa6.pth'), 'downloaded before');
  clearSeen();
  const own = await downloadPretrained('resnet50.imagenet1k_v2', { cacheDir, torchHubDir });
  assert.deepEqual({ file: own.file, status: own.status, name: own.weights.name }, { file: path.join(cacheDir, 'resnet50-11ad3fa6.pth'), status: 'present', name: 'resnet50.imagenet1k_v2' });
  const hub = await downloadPretrained('resnet34.imagenet1k_v1', { cacheDir, torchHubDir });
  assert.equal(hub.file, path.join(torchHubDir, 'resnet34-b627a593.pth'));
  assert.equal(cachedPretrained('resnet34.imagenet1k_v1', { cacheDir, torchHubDir: null }), null);
  assert.equal(seen().length, 0, 'no request for cached files');
  assert.equal(weightsCacheDir(), path.join(env.RESNET_NATIVE_CACHE, 'weights'));
  assert.equal(weightsCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/resnet-native/weights');
});

test('the synchronous path downloads in a process of its own and passes its errors on', () => {
  const dir = path.join(tmp, 'sync');
  const file = downloadWeightsFileSync(`${base}/${goodName}`, { dir, progress: false });
  assert.equal(file, path.join(dir, goodName));
  assert.deepEqual(loadedValues(file), expected);
  assert.throws(() => downloadWeightsFileSync(`${base}/small_net-00000000.pth`, { dir, progress: false }), (err: Error) => err instanceof WeightsDownloadError && err.message.includes(`sha256 is ${digest}`));
  assert.throws(() => downloadWeightsFileSync(`${base}/gone-01234567.pth`, { dir, progress: false }), (err: Error) => err instanceof WeightsDownloadError && /HTTP 404/.test(err.message));
});

test("resnet18({ weights: name }) starts from the cached file with a new head; a wrong architecture, an unknown name or a failed download say so", () => {
  // torchvision's resnet18 file as it would be cached (our own resnet18's weights stand in for it)
  const cache = path.join(env.RESNET_NATIVE_CACHE, 'weights');
  fs.mkdirSync(cache, { recursive: true });
  const source = resnet18({ device: 'cpu' });
  saveWeights(source, path.join(cache, 'resnet18-f37072fd.pth'));
  clearSeen();
  const model = resnet18({ weights: 'ResNet18_Weights.IMAGENET1K_V1', numClasses: 10, device: 'cpu' });
  assert.deepEqual(model.stateDict()['fc.weight'].shape, [10, 512]);
  assert.deepEqual(model.stateDict()['conv1.weight'].toArray(), source.stateDict()['conv1.weight'].toArray());
  assert.equal(seen().length, 0);
  model.dispose();
  source.dispose();
  assert.throws(() => resnet18({ weights: 'resnet50.imagenet1k_v2', device: 'cpu' }), /resnet50\.imagenet1k_v2 are weights for resnet50, not resnet18: use resnet18\.imagenet1k_v1, or the resnet50 architecture/);
  assert.throws(
    () => resnet50({ weights: path.join(tmp, 'no-such.pth'), device: 'cpu' }),
    (err: Error) => err instanceof CheckpointError && /no-such\.pth does not exist, and it is not the name of pretrained weights: known names are resnet18\.imagenet1k_v1/.test(err.message),
  );
  // not cached: downloaded from RESNET_NATIVE_WEIGHTS_URL, which has no such file
  assert.throws(() => resnet34({ weights: 'resnet34.imagenet1k_v1', device: 'cpu', progress: false }), (err: Error) => err instanceof WeightsDownloadError && /resnet34-b627a593\.pth failed: HTTP 404/.test(err.message));
  assert.deepEqual(seen().map((s) => s.path), ['/models/resnet34-b627a593.pth']);
});

test("train({ weights: name }) starts from the cached weights; a name that cannot be downloaded ends the run before its first step, with the download's error", async () => {
  // (the cached resnet18 file of the test above)
  const result = await train({
    arch: 'resnet18',
    weights: 'resnet18.imagenet1k_v1',
    epochs: 1,
    batchSize: 8,
    maxStepsPerEpoch: 2,
    syntheticSize: { train: 32, test: 16 },
    device: 'cpu',
    checkpointDir: path.join(tmp, 'run'),
    curves: false,
  }).result;
  assert.ok(fs.existsSync(result.bestCheckpoint));
  await assert.rejects(
    train({ arch: 'resnet50', weights: 'resnet50.imagenet1k_v1', epochs: 1, batchSize: 8, syntheticSize: { train: 32, test: 16 }, device: 'cpu', checkpointDir: path.join(tmp, 'run50') }).result,
    (err: Error) => err instanceof WeightsDownloadError && /resnet50-0676ba61\.pth failed: HTTP 404/.test(err.message),
  );
});

test('the weights command lists the names and downloads into the cache; an unknown name is bad usage', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'weights', ...args], { encoding: 'utf8', env: process.env, timeout: 60_000 });
  const list = run('list');
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /cache: .*env-cache\/weights/);
  assert.match(list.stdout, /resnet50\.imagenet1k_v2 +ResNet50_Weights\.IMAGENET1K_V2 +acc@1 80\.858 +resize 232 crop 224/);
  assert.match(list.stdout, /resnet18\.imagenet1k_v1 .*env-cache\/weights\/resnet18-f37072fd\.pth/);
  const json = JSON.parse(run('list', '--json').stdout) as { name: string; cached: string | null }[];
  assert.equal(json.length, PRETRAINED_WEIGHTS.length);

  const cached = run('download', 'RESNET18.IMAGENET1K_V1');
  assert.equal(cached.status, 0, cached.stderr);
  assert.match(cached.stdout, /resnet18\.imagenet1k_v1 is already in .*resnet18-f37072fd\.pth/);
  const unknown = run('download', 'resnet18.imagenet1k_v1', 'resnet18.imagenet1k_v9');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /'resnet18\.imagenet1k_v9' is not the name of pretrained weights; known names: resnet18\.imagenet1k_v1/);
  const wrong = run('download', 'resnet50.imagenet1k_v2');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /resnet50\.imagenet1k_v2: 100%/, 'the download progress');
  assert.match(wrong.stderr, new RegExp(`sha256 is ${digest}, expected one starting with 11ad3fa6`));
  assert.equal(fs.existsSync(path.join(env.RESNET_NATIVE_CACHE, 'weights', 'resnet50-11ad3fa6.pth.part')), false);
});

test('train --weights <name> on the command line: downloaded (progress on stderr) before training, or a clear error', () => {
  const train = (weights: string) =>
    spawnSync(process.execPath, [cli, 'train', '--arch', 'resnet50', '--weights', weights, '--epochs', '1', '--device', 'cpu', '--checkpoint-dir', path.join(tmp, `cli-${weights}`)], {
      encoding: 'utf8',
      env: process.env,
      timeout: 60_000,
    });
  const failed = train('resnet50.imagenet1k_v2'); // the mirror serves bytes that are not torchvision's
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /downloading http:\/\/127\.0\.0\.1:\d+\/models\/resnet50-11ad3fa6\.pth to .*env-cache\/weights\/resnet50-11ad3fa6\.pth/);
  assert.match(failed.stderr, new RegExp(`resnet-native: .*resnet50-11ad3fa6\\.pth: sha256 is ${digest}, expected one starting with 11ad3fa6`));
  assert.doesNotMatch(failed.stdout, /Steps:/);
  const unknown = train('resnet50.imagenet21k');
  assert.equal(unknown.status, 1, unknown.stderr);
  assert.match(unknown.stderr, /weights file resnet50\.imagenet21k does not exist, and it is not the name of pretrained weights: known names are resnet18\.imagenet1k_v1/);
});
