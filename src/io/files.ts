// Files given by users are opened only when they are regular files: opening a FIFO blocks until
// something writes to it, and a device such as /dev/zero never ends. Symbolic links are followed.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a file that is not a regular file is: 'a folder', 'a FIFO (named pipe)', 'a device'... */
export function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why `file` cannot be looked at: 'does not exist', 'cannot be read (permission denied)', ... */
export function whyUnreachable(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'cannot be read (permission denied)' : e.code === 'ELOOP' ? 'is a loop of symbolic links' : e.code === 'ENOTDIR' ? 'does not exist (a part of its path is a file)' : (e.code ?? e.message);
}

/** The size of `file`; throws (via `fail`) naming it ("<what> <file> does not exist") when it is
 * missing, unreadable or not a regular file. */
export function regularFileSize(file: string, what = 'file', fail: (message: string) => Error = (m) => new Error(m)): number {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw fail(`${what} ${file} ${whyUnreachable(err)}`);
  }
  if (!stat.isFile()) throw fail(`${what} ${file} is ${kindOf(stat)}, not a regular file`);
  return stat.size;
}

/** The whole of a regular file (read with a bound: its size when checked). */
export function readRegularFile(file: string, what?: string, fail?: (message: string) => Error): Buffer {
  const size = regularFileSize(file, what, fail);
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const out = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, out, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? out : out.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}

function isFolder(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false; // a dangling link, or gone again
  }
}

/**
 * mkdir -p that ends: Node's recursive mkdir retries for ever where mkdir answers ENOENT under a
 * folder that exists (/proc, some FUSE file systems). Each missing folder is made once, in
 * order from the deepest one that exists; the first failure throws, naming the folder.
 */
export function makeFolder(dir: string, what = 'folder'): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    let stat: fs.Stats | null = null;
    try {
      stat = fs.statSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a part of the path is a file, found below as the first ancestor that exists
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${what} ${dir} cannot be made: ${at} ${whyUnreachable(err)}`);
    }
    if (stat) {
      if (!stat.isDirectory()) throw new Error(`${what} ${dir} cannot be made: ${at} is ${stat.isFile() ? 'a file' : kindOf(stat)}, not a folder`);
      break;
    }
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // made meanwhile by someone else: fine when it is a folder
      if (e.code === 'EEXIST' && isFolder(folder)) continue;
      throw new Error(`${what} ${dir} cannot be made: mkdir ${folder} failed (${e.code ?? e.message})`);
    }
  }
}
