// The index of a data set of the user's own images: which files, which classes, which split, and
// every bad file found and named before training starts. Listing follows torchvision's ImageFolder
// (image-folder.ts) or a manifest (manifest.ts); every listed file's header is checked
// (image-check.ts); the split comes from the layout or is drawn, stratified (split.ts).
import * as path from 'node:path';
import { checkChoice, checkInteger, invalidArgument } from '../errors';
import { BadImagesError, DatasetError } from '../error-classes';
import { detectDataFormat, type DataFormat, type DetectedData } from './data-format';
import { checkImageFiles, type BadFile, type ImageCheckOptions } from './image-check';
import { listImageFolder, type ImageSample } from './image-folder';
import { readManifest, type SplitName } from './manifest';
import { checkSameFiles, fileListHash, stratifiedSplit, type SplitDescription } from './split';

export interface ImageIndexOptions extends ImageCheckOptions {
  /** What `data` is; default 'auto' (detected). */
  format?: DataFormat | 'auto';
  /** The class list (a checkpoint's): its order gives the indices; folders and labels outside it are refused. */
  classes?: readonly string[];
  /** Share of each class drawn for validation where the layout gives no split; default 0.2. */
  valFraction?: number;
  /** Seed of that draw; default 0. */
  seed?: number;
  /** A recorded split (ImageIndex.split) to recreate: its seed and fraction are used, and the
   * files must be the same ones (their hash), or the index is refused. */
  split?: SplitDescription;
  /** 'fail' (default): any bad file is an error naming them; 'skip': they are left out and listed in `skipped`. */
  badImages?: 'fail' | 'skip';
  /** Bad files named in the error; default 20 (the count says how many in all). */
  maxNamed?: number;
}

export interface ImageIndex {
  format: Exclude<DataFormat, 'cifar10'>;
  /** The data path, absolute. */
  source: string;
  /** The folder that samples' `path`s are relative to. */
  root: string;
  /** Class names in index order. */
  classes: string[];
  train: ImageSample[];
  /** Empty with train/ and test/ folders only, or valFraction 0. */
  val: ImageSample[];
  /** Only from a test/ folder or a manifest's split column. */
  test: ImageSample[];
  split: SplitDescription;
  /** Files left out under badImages 'skip' (folders and links the walk could not follow too). */
  skipped: BadFile[];
}

/** The listed data set, before checks. */
interface Listed {
  root: string;
  classes: string[];
  samples: ImageSample[];
  /** Each sample's split when the layout gives it. */
  splits: SplitName[] | null;
  bad: BadFile[];
  /** Where a sample's path was written (a manifest's line), for messages. */
  lines?: Map<string, number>;
}

async function listSplitFolders(found: DetectedData, classes: readonly string[] | undefined): Promise<Listed> {
  const { train, val, test } = found.splits!;
  const first = await listImageFolder(train, { classes });
  const listed: Listed = { root: found.path, classes: first.classes, samples: [], splits: [], bad: [] };
  const add = (name: SplitName, part: { samples: ImageSample[]; bad: BadFile[] }) => {
    for (const s of part.samples) {
      listed.samples.push({ ...s, path: `${name}/${s.path}` });
      listed.splits!.push(name);
    }
    for (const b of part.bad) listed.bad.push({ ...b, file: `${name}/${b.file}` });
  };
  add('train', first);
  // val/ and test/ take train/'s classes: a class folder train/ lacks is refused
  if (val) add('val', await listImageFolder(val, { classes: first.classes }));
  if (test) add('test', await listImageFolder(test, { classes: first.classes }));
  return listed;
}

async function listData(found: DetectedData, classes: readonly string[] | undefined): Promise<Listed> {
  if (found.format === 'split-folders') return listSplitFolders(found, classes);
  if (found.format === 'image-folder') return { root: found.path, splits: null, ...(await listImageFolder(found.path, { classes })) };
  const m = readManifest(found.path, { format: found.format === 'csv' ? 'csv' : 'jsonl', classes });
  const lines = new Map(m.samples.map((s, i) => [s.path, m.lines[i]]));
  return { root: path.dirname(found.path), classes: m.classes, samples: m.samples, splits: m.splits, bad: [], lines };
}

/** Positions of each split, and how they were chosen. */
function splitPositions(listed: Listed, valFraction: number, seed: number): { parts: Record<SplitName, number[]>; split: SplitDescription } {
  const files = listed.samples.length;
  const sha256 = fileListHash(listed.samples, listed.classes);
  if (listed.splits) {
    const parts: Record<SplitName, number[]> = { train: [], val: [], test: [] };
    listed.splits.forEach((name, i) => parts[name].push(i));
    return { parts, split: { kind: listed.lines ? 'column' : 'folders', files, sha256 } };
  }
  const { train, val } = stratifiedSplit(listed.samples.map((s) => s.label), valFraction, seed);
  return { parts: { train, val, test: [] }, split: { kind: 'fraction', valFraction, seed, files, sha256 } };
}

/** The error for bad files: the first `maxNamed` named, and the count. */
export function badImagesError(source: string, bad: BadFile[], maxNamed = 20): BadImagesError {
  const named = bad.slice(0, maxNamed).map((b) => `${b.file}: ${b.reason}`);
  const more = bad.length > maxNamed ? `; and ${bad.length - maxNamed} more` : '';
  return new BadImagesError(
    `${source}: ${bad.length} bad image file${bad.length === 1 ? '' : 's'}${bad.length > maxNamed ? ` (the first ${maxNamed} named)` : ''}: ${named.join('; ')}${more}. ` +
      "Fix or remove them, or use badImages 'skip' to leave them out (they are then listed)",
    bad,
  );
}

function checkOptions(options: ImageIndexOptions) {
  const recorded = options.split;
  const kinds = ['fraction', 'folders', 'column'];
  if (recorded !== undefined && (typeof recorded !== 'object' || recorded === null || !kinds.includes(recorded.kind) || typeof recorded.sha256 !== 'string')) {
    throw invalidArgument('a recorded split ({ kind, files, sha256, valFraction?, seed? } as ImageIndex.split)', 'split', recorded);
  }
  const valFraction = recorded?.valFraction ?? options.valFraction ?? 0.2;
  if (typeof valFraction !== 'number' || !(valFraction >= 0 && valFraction < 1)) throw invalidArgument('number from 0 to less than 1', 'valFraction', valFraction);
  if (options.classes !== undefined) {
    const c = options.classes;
    if (!Array.isArray(c) || c.length === 0 || !c.every((n) => typeof n === 'string' && n !== '') || new Set(c).size !== c.length) {
      throw invalidArgument('a non-empty array of distinct class names', 'classes', c);
    }
  }
  return {
    valFraction,
    seed: checkInteger('seed', recorded?.seed ?? options.seed ?? 0, 0, 0xffffffff),
    badImages: checkChoice('badImages', options.badImages, ['fail', 'skip'], 'fail'),
    maxNamed: checkInteger('maxNamed', options.maxNamed ?? 20, 1),
  };
}

/** Leaves out the skipped samples; refuses classes left without images and an empty train split. */
function keep(listed: Listed, parts: Record<SplitName, number[]>, skipped: Set<string>): Record<SplitName, ImageSample[]> {
  const pick = (positions: number[]) => positions.map((i) => listed.samples[i]).filter((s) => !skipped.has(s.path));
  const out = { train: pick(parts.train), val: pick(parts.val), test: pick(parts.test) };
  const counts = new Array<number>(listed.classes.length).fill(0);
  for (const s of [...out.train, ...out.val, ...out.test]) counts[s.label]++;
  const had = new Set(listed.samples.map((s) => s.label));
  const emptied = listed.classes.filter((_, i) => counts[i] === 0 && had.has(i));
  if (emptied.length) throw new DatasetError(`${listed.root}: class${emptied.length > 1 ? 'es' : ''} ${emptied.join(', ')} ha${emptied.length > 1 ? 've' : 's'} no image left: all of ${emptied.length > 1 ? 'their' : 'its'} files were left out as bad`);
  if (out.train.length === 0) throw new DatasetError(`${listed.root}: no image to train on (the train split is empty)`);
  return out;
}

/**
 * Indexes the data set at `data` (class folders, train/ + val/ or test/ folders, or a .csv /
 * .jsonl manifest; CIFAR-10's binary folder is read by loadCifar10 instead): lists it, draws or
 * takes the split, and checks every image's header. Throws DatasetError for a layout it cannot
 * read (naming what it looked for), and BadImagesError naming the bad files under badImages 'fail'.
 */
export async function indexImages(data: string, options: ImageIndexOptions = {}): Promise<ImageIndex> {
  const o = checkOptions(options);
  const found = detectDataFormat(data, options.format ?? 'auto');
  if (found.format === 'cifar10') throw new DatasetError(`${data} is CIFAR-10's binary folder: read it with loadCifar10 (detectDataFormat tells the formats apart)`);
  const listed = await listData(found, options.classes);
  const { parts, split } = splitPositions(listed, o.valFraction, o.seed);
  if (options.split) checkSameFiles(options.split, split, found.path);
  const checked = await checkImageFiles(listed.samples, options);
  const bad = [...listed.bad, ...checked.map((b) => (listed.lines ? { ...b, reason: `${b.reason} (line ${listed.lines.get(b.file)})` } : b))];
  if (bad.length && o.badImages === 'fail') throw badImagesError(found.path, bad, o.maxNamed);
  const kept = keep(listed, parts, new Set(bad.map((b) => b.file)));
  return { format: found.format, source: found.path, root: listed.root, classes: listed.classes, ...kept, split, skipped: bad };
}
