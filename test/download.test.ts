// `download` against a local HTTP server serving a small archive in CIFAR-10's layout: md5
// verification, resuming an interrupted download, restarting when the server cannot resume, and
// never a half-extracted folder. Loopback only.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import * as tar from 'tar';
import { downloadCifar10, loadCifar10, writeSyntheticCifar } from '../src/index';
import { tempDir } from './helpers';

const tmp = tempDir('rn-download-');
let archive: Buffer;
let md5: string;
let server: http.Server;
let base: string;
const seen: { path: string; range?: string }[] = [];
let mode: 'normal' | 'cut-once' | 'no-range' | 'slow' = 'normal';

before(async () => {
  const src = path.join(tmp, 'src');
  writeSyntheticCifar(src, { perFile: 30 });
  const file = path.join(tmp, 'cifar-10-binary.tar.gz');
  await tar.c({ gzip: true, file, cwd: src }, ['cifar-10-batches-bin']);
  archive = fs.readFileSync(file);
  md5 = createHash('md5').update(archive).digest('hex');
  server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', range: req.headers.range });
    if (req.url === '/moved') {
      res.writeHead(302, { Location: '/cifar-10-binary.tar.gz' }).end();
      return;
    }
    if (req.url !== '/cifar-10-binary.tar.gz') {
      res.writeHead(404).end();
      return;
    }
    const match = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    if (match && mode !== 'no-range') {
      const start = Number(match[1]);
      res.writeHead(206, { 'Content-Length': archive.length - start, 'Content-Range': `bytes ${start}-${archive.length - 1}/${archive.length}` });
      res.end(archive.subarray(start));
      return;
    }
    res.writeHead(200, { 'Content-Length': archive.length });
    if (mode === 'slow') {
      // 16 KiB every 10 ms, so a client can be killed in the middle
      let offset = 0;
      const timer = setInterval(() => {
        if (res.destroyed || offset >= archive.length) {
          clearInterval(timer);
          res.end();
          return;
        }
        res.write(archive.subarray(offset, (offset += 16 * 1024)));
      }, 10);
      return;
    }
    if (mode === 'cut-once') {
      mode = 'normal';
      res.write(archive.subarray(0, Math.floor(archive.length / 2)), () => res.destroy());
      return;
    }
    res.end(archive);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

test('downloads with progress, verifies md5, extracts, and is a no-op the second time', async () => {
  const dir = path.join(tmp, 'a');
  const progress: number[] = [];
  const result = await downloadCifar10({ dir, url: `${base}/moved`, md5, onProgress: (r) => progress.push(r) });
  assert.equal(result.status, 'downloaded');
  assert.equal(progress.at(-1), archive.length);
  assert.equal(loadCifar10(dir, 'train').size, 150);
  assert.ok(!fs.readdirSync(dir).some((f) => f.startsWith('.extract-') || f.endsWith('.part')), 'no leftovers');
  assert.equal((await downloadCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5 })).status, 'present');
});

test('an interrupted download resumes with a Range request', async () => {
  const dir = path.join(tmp, 'b');
  mode = 'cut-once';
  const url = `${base}/cifar-10-binary.tar.gz`;
  await assert.rejects(downloadCifar10({ dir, url, md5 }), /stopped at \d+ .*run the command again to resume/);
  assert.equal(fs.existsSync(path.join(dir, 'cifar-10-batches-bin')), false, 'no folder from a partial download');
  const partSize = fs.statSync(path.join(dir, 'cifar-10-binary.tar.gz.part')).size;
  assert.ok(partSize > 0 && partSize < archive.length);
  seen.length = 0;
  const logs: string[] = [];
  const result = await downloadCifar10({ dir, url, md5, log: (m) => logs.push(m) });
  assert.equal(result.status, 'resumed');
  assert.equal(seen[0].range, `bytes=${partSize}-`);
  assert.ok(logs.some((l) => /resuming the download at/.test(l)));
  assert.equal(loadCifar10(dir, 'test').size, 30);
});

test('a server without Range support restarts cleanly; a wrong md5 deletes the file and says so', async () => {
  const dir = path.join(tmp, 'c');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cifar-10-binary.tar.gz.part'), archive.subarray(0, 1000));
  mode = 'no-range';
  const logs: string[] = [];
  const result = await downloadCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5, log: (m) => logs.push(m) });
  mode = 'normal';
  assert.equal(result.status, 'downloaded');
  assert.ok(logs.some((l) => /cannot resume this download: starting again/.test(l)));
  assert.equal(loadCifar10(dir, 'train').size, 150);

  const bad = path.join(tmp, 'd');
  await assert.rejects(
    downloadCifar10({ dir: bad, url: `${base}/cifar-10-binary.tar.gz`, md5: '0'.repeat(32) }),
    /md5 is [0-9a-f]{32}, expected 0{32}; the download was deleted/,
  );
  assert.deepEqual(fs.readdirSync(bad), []);
  await assert.rejects(downloadCifar10({ dir: bad, url: `${base}/missing/x.tar.gz`, md5 }), /x\.tar\.gz failed: HTTP 404/);
});

test('the download command shows progress and reports where the data is', async () => {
  const dir = path.join(tmp, 'cli');
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const child = spawn(process.execPath, [cli, 'download', '--dir', dir, '--url', `${base}/cifar-10-binary.tar.gz`, '--md5', md5]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0, stderr);
  assert.match(stderr, /CIFAR-10: 100%/);
  assert.match(stdout, /CIFAR-10 ready in .*cifar-10-batches-bin/);
});

test('kill -9 at any moment of a download never leaves a half-made data folder, and the next run finishes', { timeout: 90_000 }, async () => {
  const dir = path.join(tmp, 'killed');
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const args = [cli, 'download', '--dir', dir, '--url', `${base}/cifar-10-binary.tar.gz`, '--md5', md5];
  mode = 'slow';
  try {
    for (const delay of [100, 250, 400, 600]) {
      const child = spawn(process.execPath, args, { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r)); // it may finish before the kill
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      const folder = path.join(dir, 'cifar-10-batches-bin');
      if (fs.existsSync(folder)) {
        const test = loadCifar10(dir, 'test'); // whole, or not there at all
        assert.equal(test.size, 30);
        test.images.dispose();
        test.labels.dispose();
      }
    }
  } finally {
    mode = 'normal';
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  const exited = new Promise((r) => child.once('exit', r));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  assert.equal(await exited, 0, stderr);
  const train = loadCifar10(dir, 'train');
  assert.equal(train.size, 150);
  train.images.dispose();
  train.labels.dispose();
});
