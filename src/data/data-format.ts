// What a `data` path holds: class folders (root/<class>/<image>), train/ with val/ or test/ of
// class folders, a .csv or .jsonl manifest, or CIFAR-10's binary files. Decided from the top
// level only (names and kinds, no file read), or forced with `format`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DatasetError } from '../error-classes';
import { whyUnreachable } from '../io/files';
import { TEST_FILES, TRAIN_FILES, resolveCifarFolder } from './cifar10';
import { hasImageExtension } from './image-folder';

export type DataFormat = 'image-folder' | 'split-folders' | 'csv' | 'jsonl' | 'cifar10';
export const DATA_FORMATS: readonly DataFormat[] = ['image-folder', 'split-folders', 'csv', 'jsonl', 'cifar10'];

export interface DetectedData {
  format: DataFormat;
  /** The data path, absolute; for 'cifar10', the folder holding the .bin files. */
  path: string;
  /** 'split-folders': the folder of each split present. */
  splits?: { train: string; val?: string; test?: string };
}

const LOOKED_FOR =
  'class folders (<data>/<class>/<images>), train/ with val/ or test/ of class folders (<data>/train/<class>/<images>), ' +
  "CIFAR-10's binary files (cifar-10-batches-bin/, data_batch_1.bin ... test_batch.bin), or a .csv or .jsonl manifest";

function topLevel(dir: string): { folders: string[]; files: string[] } {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(`data folder ${dir} ${whyUnreachable(err)}`);
  }
  // a link counts by what it points to; a broken one or a loop is no folder (the listing names it)
  const linksToFolder = (name: string) => {
    try {
      return fs.statSync(path.join(dir, name)).isDirectory();
    } catch {
      return false;
    }
  };
  const isFolder = (e: fs.Dirent) => e.isDirectory() || (e.isSymbolicLink() && linksToFolder(e.name));
  return { folders: entries.filter(isFolder).map((e) => e.name), files: entries.filter((e) => !isFolder(e)).map((e) => e.name) };
}

// the names cifar10.ts's resolveCifarFolder knows (binary and Python versions)
const CIFAR_NAMES = ['cifar-10-batches-bin', 'cifar-10-batches-py', 'data_batch_1', 'test_batch', 'batches.meta', ...TRAIN_FILES, ...TEST_FILES];

function splitFolders(dir: string, folders: string[]): DetectedData {
  const has = (name: string) => folders.includes(name);
  if (!has('train') || !(has('val') || has('test'))) {
    throw new DatasetError(`data folder ${dir} has no train/ with val/ or test/ beside it (it holds ${folders.length ? folders.join(', ') : 'no folder'})`);
  }
  const others = folders.filter((f) => !['train', 'val', 'test'].includes(f) && !f.startsWith('.'));
  if (others.length) throw new DatasetError(`data folder ${dir} holds train/ and ${has('val') ? 'val/' : 'test/'}, and also ${others.join(', ')}: a split layout holds only train/, val/ and test/`);
  const at = (name: string) => (has(name) ? path.join(dir, name) : undefined);
  return { format: 'split-folders', path: dir, splits: { train: path.join(dir, 'train'), val: at('val'), test: at('test') } };
}

function detectFolder(dir: string, format: DataFormat | 'auto'): DetectedData {
  if (format === 'cifar10') return { format, path: resolveCifarFolder(dir) };
  const { folders, files } = topLevel(dir);
  if (format === 'split-folders') return splitFolders(dir, folders);
  if (format === 'image-folder') return { format, path: dir };
  if (format !== 'auto') throw new DatasetError(`data ${dir} is a folder, and format '${format}' is a manifest file`);
  if ([...folders, ...files].some((n) => CIFAR_NAMES.includes(n))) return { format: 'cifar10', path: resolveCifarFolder(dir) };
  if (folders.includes('train') && (folders.includes('val') || folders.includes('test'))) return splitFolders(dir, folders);
  if (folders.length) return { format: 'image-folder', path: dir };
  const images = files.filter(hasImageExtension).length;
  throw new DatasetError(
    `data folder ${dir} is none of the data sets resnet-native reads: looked for ${LOOKED_FOR}; it holds ${files.length} file${files.length === 1 ? '' : 's'} and no folder` +
      (images ? ` (${images} of them images: put each class's images in a folder of its own)` : ''),
  );
}

/** What `data` holds (or, with `format`, checks that it can be read as that). */
export function detectDataFormat(data: string, format: DataFormat | 'auto' = 'auto'): DetectedData {
  if (format !== 'auto' && !DATA_FORMATS.includes(format)) throw new DatasetError(`format '${format}' is not one of auto, ${DATA_FORMATS.join(', ')}`);
  const at = path.resolve(data);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(at);
  } catch (err) {
    throw new DatasetError(`data ${data} ${whyUnreachable(err)}`);
  }
  if (stat.isDirectory()) return detectFolder(at, format);
  if (!stat.isFile()) throw new DatasetError(`data ${data} is neither a folder nor a file: looked for ${LOOKED_FOR}`);
  if (format === 'csv' || format === 'jsonl') return { format, path: at };
  if (format !== 'auto') throw new DatasetError(`data ${data} is a file, and format '${format}' is a folder`);
  if (/\.csv$/i.test(at)) return { format: 'csv', path: at };
  if (/\.(jsonl|ndjson)$/i.test(at)) return { format: 'jsonl', path: at };
  throw new DatasetError(`data ${data} is a file but not a .csv or .jsonl manifest: looked for ${LOOKED_FOR}`);
}
