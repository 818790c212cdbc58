// Downloads the official CIFAR-10 binary archive: resumable (HTTP Range on a .part file, the
// downloader of io/http-download.ts), md5 verified, extracted with `tar` into a temporary folder
// that is renamed into place only when complete, so a half-extracted folder is never presented as
// the dataset.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar';
import { DatasetError, RECORD_BYTES, TEST_FILES, TRAIN_FILES } from './cifar10';
import { makeFolder } from '../io/files';
import { fetchToPart, fileDigest, type PartDownloadOptions } from '../io/http-download';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
export const CIFAR10_ARCHIVE_BYTES = 170_052_171;

export interface DownloadOptions extends PartDownloadOptions {
  /** Where the archive and cifar-10-batches-bin/ go; default './data'. */
  dir?: string;
  url?: string;
  /** Expected md5 of the archive; default the official one. */
  md5?: string;
  /** Progress messages (resuming, verifying, extracting). */
  log?: (message: string) => void;
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
  if (!(fs.existsSync(archive) && (await fileDigest(archive, 'md5')) === md5)) {
    status = await fetchToPart(url, part, options, (m) => new DatasetError(m));
    log('verifying md5');
    const actual = await fileDigest(part, 'md5');
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
