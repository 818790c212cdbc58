// Atomic file writes: the data goes to a temporary file in the same folder, is flushed to disk,
// then renamed over the target. A crash at any moment leaves the old file or the new one whole.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFolder } from './files';

/** A temporary file name in the target's folder (created if needed), for an atomic write. */
export function temporaryFor(target: string): string {
  const dir = path.dirname(path.resolve(target));
  makeFolder(dir);
  return path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
}

export function writeFileAtomic(target: string, chunks: Uint8Array[]): void {
  const tmp = temporaryFor(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.length) written += fs.writeSync(fd, chunk, written);
    }
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
