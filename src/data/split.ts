// Which images validate: given by the layout (train/ and val/ folders, a manifest's split column)
// or drawn here, stratified: within each class, a seeded permutation of its images in index order
// (sorted by code point, so the same on every machine) picks round(n x fraction) of them. The
// draw is recorded as its seed, its fraction and a SHA-256 of the file list it was drawn from:
// a few dozen bytes whatever the data set's size, which `eval` (or a resume) recreates and
// checks; a list of the validation files would grow with the data set and say no more.
import { createHash } from 'node:crypto';
import { DatasetError } from '../error-classes';
import { SeededRandom } from './random';

/** How the validation images were chosen; a checkpoint records it, `indexImages({ split })` recreates it. */
export interface SplitDescription {
  /** 'fraction': drawn here; 'folders': train/, val/, test/ folders; 'column': a manifest's split column. */
  kind: 'fraction' | 'folders' | 'column';
  /** The share of each class drawn for validation ('fraction' only). */
  valFraction?: number;
  /** The seed of the draw ('fraction' only). */
  seed?: number;
  /** How many images were listed (before any bad one was left out). */
  files: number;
  /** SHA-256 (hex) of the listed images: each `class\tpath\n`, in index order. */
  sha256: string;
}

// a stream of the project's generator of its own, apart from those of shuffling and augmentation
const SPLIT_STREAM = 0x53504c54;

/** How many of a class's n images validate: round(n x fraction), yet at least one (when there are
 * two or more and fraction > 0) and never all (a class keeps a training image). */
export function validationCount(n: number, fraction: number): number {
  if (fraction <= 0 || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
}

/** Positions (in the order given) of training and validation images, stratified by `labels`. */
export function stratifiedSplit(labels: ArrayLike<number>, fraction: number, seed: number): { train: number[]; val: number[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`valFraction must be from 0 to less than 1, got ${fraction}`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byClass.get(labels[i]);
    if (list) list.push(i);
    else byClass.set(labels[i], [i]);
  }
  const isVal = new Uint8Array(labels.length);
  for (const [label, positions] of byClass) {
    const order = new SeededRandom(seed, SPLIT_STREAM + label).permutation(positions.length);
    const count = validationCount(positions.length, fraction);
    for (let k = 0; k < count; k++) isVal[positions[order[k]]] = 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < labels.length; i++) (isVal[i] ? val : train).push(i);
  return { train, val };
}

/** SHA-256 (hex) of a file list: `class\tpath\n` per image, in the order given. */
export function fileListHash(samples: readonly { path: string; label: number }[], classes: readonly string[]): string {
  const hash = createHash('sha256');
  for (const s of samples) hash.update(`${classes[s.label]}\t${s.path}\n`);
  return hash.digest('hex');
}

/** Refuses to recreate `recorded` on another file list than the one it was made of. */
export function checkSameFiles(recorded: SplitDescription, now: SplitDescription, source: string): void {
  if (recorded.kind !== now.kind) {
    throw new DatasetError(`${source}: the recorded split was made by ${recorded.kind}, and this data set's comes from ${now.kind}: not the same data set`);
  }
  if (recorded.sha256 !== now.sha256) {
    throw new DatasetError(
      `${source}: its images are not those the recorded split was made of (${now.files} listed now, ${recorded.files} then; ` +
        `file list SHA-256 ${now.sha256.slice(0, 12)}... against ${recorded.sha256.slice(0, 12)}...): its validation images cannot be recreated`,
    );
  }
}
