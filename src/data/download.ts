// Downloads the official CIFAR-10 binary archive: resumable (HTTP Range on a .part file), md5
// verified, extracted with `tar` into a temporary folder that is renamed into place only when
// complete, so a half-extracted folder is never presented as the dataset.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as tar from 'tar';
import { DatasetError, RECORD_BYTES, TEST_FILES, TRAIN_FILES } from './cifar10';
import { makeFolder } from '../io/files';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
export const CIFAR10_ARCHIVE_BYTES = 170_052_171;

export interface DownloadOptions {
  /** Where the archive and cifar-10-batches-bin/ go; default './data'. */
  dir?: string;
  url?: string;
  /** Expected md5 of the archive; default the official one. */
  md5?: string;
  /** Called as bytes arrive (total null when the server does not say). */
  onProgress?: (received: number, total: number | null) => void;
  /** Progress messages (resuming, verifying, extracting). */
  log?: (message: string) => void;
  /** Per-request inactivity timeout in ms; default 60,000. */
  timeoutMs?: number;
}

export interface DownloadResult {
  folder: string;
  /** 'present': nothing to do; 'downloaded' or 'resumed': fetched now. */
  status: 'present' | 'downloaded' | 'resumed';
}

const ALL_FILES = [...TRAIN_FILES, ...TEST_FILES];

/** True when `folder` holds every data file, each a whole number of records. */
export function isCompleteCifarFolder(folder: string): boolean {
  return ALL_FILES.every((name) => {
    const file = path.join(folder, name);
    if (!fs.existsSync(file)) return false;
    const size = fs.statSync(file).size;
    return size > 0 && size % RECORD_BYTES === 0;
  });
}

function md5Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('md5');
    fs.createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** GET with redirects; resolves with the response once headers arrive. */
function request(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        resolve(request(new URL(res.headers.location, url).toString(), headers, timeoutMs, redirects - 1));
        return;
      }
      resolve(res);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data from ${url} for ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

/** Fetches `url` into `part`, resuming from its current size when the server allows. */
async function fetchToPart(url: string, part: string, options: DownloadOptions): Promise<'downloaded' | 'resumed'> {
  const log = options.log ?? (() => {});
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const res = await request(url, have > 0 ? { Range: `bytes=${have}-` } : {}, options.timeoutMs ?? 60_000);
  const status = res.statusCode ?? 0;
  let offset = 0;
  if (status === 206 && have > 0) {
    offset = have;
    log(`resuming the download at ${have} bytes`);
  } else if (status === 416 && have > 0) {
    // The part already holds everything the server has: let the md5 check decide.
    res.resume();
    return 'resumed';
  } else if (status === 200) {
    if (have > 0) log('the server cannot resume this download: starting again');
  } else {
    res.resume();
    throw new DatasetError(`downloading ${url} failed: HTTP ${status}`);
  }
  const length = Number(res.headers['content-length']);
  const total = Number.isFinite(length) ? offset + length : null;
  const out = fs.createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' });
  let received = offset;
  await new Promise<void>((resolve, reject) => {
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      options.onProgress?.(received, total);
    });
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('connection closed by the server')));
    out.on('error', reject);
    res.pipe(out);
    out.on('finish', () => resolve());
  }).catch(async (err: Error) => {
    // Flush what arrived before giving up, so that the .part file is whole up to its size.
    res.unpipe(out);
    await new Promise((resolve) => out.end(resolve));
    throw new DatasetError(`downloading ${url} stopped at ${received} bytes (${err.message}); run the command again to resume`);
  });
  if (total !== null && received < total) {
    throw new DatasetError(`downloading ${url} stopped at ${received} of ${total} bytes; run the command again to resume`);
  }
  return offset > 0 ? 'resumed' : 'downloaded';
}

/** Downloads, verifies and extracts CIFAR-10 (binary version) into `dir`. */
export async function downloadCifar10(options: DownloadOptions = {}): Promise<DownloadResult> {
  const dir = path.resolve(options.dir ?? 'data');
  const url = options.url ?? CIFAR10_URL;
  const md5 = (options.md5 ?? CIFAR10_MD5).toLowerCase();
  const log = options.log ?? (() => {});
  const folder = path.join(dir, 'cifar-10-batches-bin');
  if (isCompleteCifarFolder(folder)) return { folder, status: 'present' };

  makeFolder(dir, 'data folder');
  const archive = path.join(dir, path.basename(new URL(url).pathname) || 'cifar-10-binary.tar.gz');
  const part = `${archive}.part`;
  let status: DownloadResult['status'] = 'downloaded';
  if (!(fs.existsSync(archive) && (await md5Of(archive)) === md5)) {
    status = await fetchToPart(url, part, options);
    log('verifying md5');
    const actual = await md5Of(part);
    if (actual !== md5) {
      fs.rmSync(part, { force: true });
      throw new DatasetError(`${url}: md5 is ${actual}, expected ${md5}; the download was deleted, run the command again`);
    }
    fs.renameSync(part, archive);
  }

  log('extracting');
  const staging = fs.mkdtempSync(path.join(dir, '.extract-'));
  try {
    await tar.x({ file: archive, cwd: staging, strict: true });
    const extracted = path.join(staging, 'cifar-10-batches-bin');
    if (!isCompleteCifarFolder(extracted)) {
      throw new DatasetError(`${archive} does not hold a complete cifar-10-batches-bin folder (${ALL_FILES.join(', ')})`);
    }
    fs.rmSync(folder, { recursive: true, force: true });
    fs.renameSync(extracted, folder);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return { folder, status };
}
