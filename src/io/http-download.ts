// Resumable HTTP(S) downloads, shared by `download` (CIFAR-10, data/download.ts) and the
// pretrained weights (io/pretrained.ts): a GET that follows redirects, bytes appended to a .part
// file (continued with a Range request when one is already there and the server allows it), and
// the digest of a file. Whoever downloads checks the digest and renames the .part into place.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

export interface PartDownloadOptions {
  /** Called as bytes arrive (total null when the server does not say). */
  onProgress?: (received: number, total: number | null) => void;
  /** Progress messages (resuming, restarting). */
  log?: (message: string) => void;
  /** Per-request inactivity timeout in ms; default 60,000. */
  timeoutMs?: number;
}

/** The hex digest of a file's bytes ('md5', 'sha256'). */
export function fileDigest(file: string, algorithm: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    fs.createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** GET with redirects; resolves with the response once headers arrive. */
export function httpGet(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        resolve(httpGet(new URL(res.headers.location, url).toString(), headers, timeoutMs, redirects - 1));
        return;
      }
      resolve(res);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data from ${url} for ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

/**
 * Fetches `url` into `part`, resuming from its current size when the server allows. Failures
 * (an HTTP error status, a cut connection, fewer bytes than announced) throw `fail(message)`;
 * what arrived before a cut stays in `part` for the next call to continue.
 */
export async function fetchToPart(url: string, part: string, options: PartDownloadOptions, fail: (message: string) => Error): Promise<'downloaded' | 'resumed'> {
  const log = options.log ?? (() => {});
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const res = await httpGet(url, have > 0 ? { Range: `bytes=${have}-` } : {}, options.timeoutMs ?? 60_000);
  const status = res.statusCode ?? 0;
  let offset = 0;
  if (status === 206 && have > 0) {
    offset = have;
    log(`resuming the download at ${have} bytes`);
  } else if (status === 416 && have > 0) {
    // The part already holds everything the server has: let the digest check decide.
    res.resume();
    return 'resumed';
  } else if (status === 200) {
    if (have > 0) log('the server cannot resume this download: starting again');
  } else {
    res.resume();
    throw fail(`downloading ${url} failed: HTTP ${status}`);
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
    throw fail(`downloading ${url} stopped at ${received} bytes (${err.message}); run the command again to resume`);
  });
  if (total !== null && received < total) {
    throw fail(`downloading ${url} stopped at ${received} of ${total} bytes; run the command again to resume`);
  }
  return offset > 0 ? 'resumed' : 'downloaded';
}
