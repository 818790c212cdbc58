// CIFAR-10, binary version (cifar-10-batches-bin): each record is 1 label byte then 3,072 pixel
// bytes (1,024 red, 1,024 green, 1,024 blue, each 32x32 row-major). A split is read into one
// contiguous uint8 tensor [N, 3, 32, 32] plus int64 labels.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import { readRegularFile, whyUnreachable } from '../io/files';
import { Tensor, fromBytes, tensor } from '../tensor';
import { DatasetError } from '../error-classes';
export { DatasetError };

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const RECORD_BYTES = 3073;
export const IMAGE_BYTES = 3072;

export const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const TEST_FILES = ['test_batch.bin'];

export type Split = 'train' | 'test';

/** Images, labels and class names of one split, held in libtorch memory. */
export interface ImageDataset {
  /** uint8 [N, 3, H, W] */
  readonly images: Tensor;
  /** int64 [N] */
  readonly labels: Tensor;
  /** The labels as bytes, for samplers and per-class statistics. */
  readonly labelArray: Uint8Array;
  readonly classNames: string[];
  readonly size: number;
  /** Where it came from ('synthetic' for the built-in set). */
  readonly source: string;
}

/** The folder holding the .bin files: `dir` itself or its cifar-10-batches-bin child. */
export function resolveCifarFolder(dir: string): string {
  const nested = path.join(dir, 'cifar-10-batches-bin');
  const folder = fs.existsSync(nested) ? nested : dir;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(folder);
  } catch (err) {
    const why = whyUnreachable(err);
    throw new DatasetError(`CIFAR-10 folder ${dir} ${why}${why === 'does not exist' ? ` (run \`npx resnet-native download --dir ${dir}\`)` : ''}`);
  }
  if (!stat.isDirectory()) {
    throw new DatasetError(`CIFAR-10 folder ${dir} is a file, not a folder: pass the folder holding data_batch_1.bin ... test_batch.bin`);
  }
  const pythonVersion = ['data_batch_1', 'test_batch', 'batches.meta'].some((f) => fs.existsSync(path.join(folder, f)));
  const pythonFolder = fs.existsSync(path.join(dir, 'cifar-10-batches-py'));
  if ((pythonVersion && !fs.existsSync(path.join(folder, 'data_batch_1.bin'))) || (pythonFolder && !fs.existsSync(nested))) {
    throw new DatasetError(
      `${dir} holds the Python (pickle) version of CIFAR-10; resnet-native reads the binary version: ` +
        'download cifar-10-binary.tar.gz (`npx resnet-native download`) and point --data at its cifar-10-batches-bin folder',
    );
  }
  return folder;
}

/** Class names from batches.meta.txt (one a line), or the standard ten when it is absent. */
export function readClassNames(folder: string): string[] {
  const file = path.join(folder, 'batches.meta.txt');
  if (!fs.existsSync(file)) return [...CIFAR10_CLASSES];
  const names = readRegularFile(file, 'CIFAR-10 file', (m) => new DatasetError(m)).toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (names.length !== 10) throw new DatasetError(`${file}: expected 10 class names, found ${names.length}`);
  const seen = new Set<string>();
  const twice = names.find((n) => seen.size === seen.add(n).size);
  if (twice !== undefined) throw new DatasetError(`${file}: class name '${twice}' appears more than once: each class needs its own name`);
  return names;
}

/** Reads `files` of `folder` into one uint8 image tensor and int64 labels, validating each file. */
export function readRecordFiles(folder: string, files: string[], source = folder): ImageDataset {
  const contents = files.map((name) => {
    const file = path.join(folder, name);
    // existsSync is false for an unreadable folder and a symbolic-link loop too: say which.
    const missing = (message: string) => new DatasetError(message.endsWith('does not exist') ? `${message} (expected ${files.join(', ')})` : message);
    return { name: file, bytes: readRegularFile(file, 'CIFAR-10 file', missing) };
  });
  return parseRecords(contents, readClassNames(folder), source);
}

/** Validates and assembles CIFAR-10 records (label byte + 3,072 CHW pixel bytes). */
export function parseRecords(contents: { name: string; bytes: Buffer }[], classNames: string[], source: string): ImageDataset {
  for (const { name, bytes } of contents) {
    if (bytes.length === 0 || bytes.length % RECORD_BYTES !== 0) {
      throw new DatasetError(
        `${name} has ${bytes.length} bytes, not a whole number of ${RECORD_BYTES}-byte records ` +
          `(${Math.floor(bytes.length / RECORD_BYTES)} records and ${bytes.length % RECORD_BYTES} bytes left over): truncated or not CIFAR-10`,
      );
    }
  }
  const n = contents.reduce((sum, c) => sum + c.bytes.length / RECORD_BYTES, 0);
  const pixels = Buffer.allocUnsafe(n * IMAGE_BYTES);
  const labels = new Uint8Array(n);
  let i = 0;
  for (const { name, bytes } of contents) {
    for (let r = 0; r < bytes.length; r += RECORD_BYTES, i++) {
      const label = bytes[r];
      if (label >= classNames.length) {
        throw new DatasetError(`${name}: record ${r / RECORD_BYTES} has label ${label}; labels are 0-${classNames.length - 1}`);
      }
      labels[i] = label;
      bytes.copy(pixels, i * IMAGE_BYTES, r + 1, r + RECORD_BYTES);
    }
  }
  const images = fromBytes(pixels, [n, 3, 32, 32], 'uint8', 'cpu');
  const labelTensor = tensor(labels, [n], { dtype: 'int64', device: 'cpu' });
  return { images, labels: labelTensor, labelArray: labels, classNames, size: n, source };
}

/** One split of CIFAR-10 from `dir` (the extracted archive or its cifar-10-batches-bin folder). */
export function loadCifar10(dir: string, split: Split): ImageDataset {
  if (split !== 'train' && split !== 'test') throw invalidArgument("'train' or 'test'", 'split', split);
  const folder = resolveCifarFolder(dir);
  return readRecordFiles(folder, split === 'train' ? TRAIN_FILES : TEST_FILES);
}
