// Class folders listed as torchvision's ImageFolder lists them (datasets/folder.py: find_classes,
// make_dataset): every subfolder of the root is a class (symbolic links to folders and hidden
// folders too), classes sorted by code point (Python's sorted()), each class folder walked with
// links followed, the walk sorted by whole folder path and each folder's files by name, a file
// kept when its lower-cased name ends with one of IMG_EXTENSIONS. Unlike torchvision, what cannot
// be walked is not passed over in silence: broken links, link loops (tracked by real path, so a
// loop ends), unreadable folders and names that are not UTF-8 come back as `bad` entries.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { whyUnreachable } from '../io/files';
import { DatasetError } from '../error-classes';
import { compareCodePoints } from './code-points';
import type { BadFile } from './image-check';

/** torchvision's IMG_EXTENSIONS, in its order. */
export const IMG_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

/** torchvision's has_file_allowed_extension: the lower-cased name ends with an image extension. */
export function hasImageExtension(name: string): boolean {
  const lower = name.toLowerCase();
  return IMG_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** One image of a data set: `file` to open, `path` as logs and checkpoints name it ('/'-separated,
 * relative to the data set's root or manifest folder), `label` its class index. */
export interface ImageSample {
  readonly file: string;
  readonly path: string;
  readonly label: number;
}

/** What listing a class-folder tree found. */
export interface FolderListing {
  /** Class names in index order. */
  classes: string[];
  /** Candidate images in torchvision's order (not yet checked). */
  samples: ImageSample[];
  /** What the walk could not follow: broken links, loops, unreadable folders, non-UTF-8 names. */
  bad: BadFile[];
}

interface Entry {
  name: string;
  kind: 'folder' | 'file' | 'other';
}

/** A folder's entries, links resolved; what cannot be followed goes to `bad` (paths as `rel`). */
async function readEntries(dir: string, rel: string, bad: BadFile[]): Promise<Entry[] | null> {
  let dirents;
  try {
    dirents = await fsp.readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    bad.push({ file: rel || '.', reason: `folder ${whyUnreachable(err)}` });
    return null;
  }
  const entries: Entry[] = [];
  for (const d of dirents) {
    const name = d.name.toString('utf8');
    const at = rel ? `${rel}/${name}` : name;
    // a name that is not UTF-8 cannot be spelled back as a string (nor in a manifest or a log)
    if (!Buffer.from(name, 'utf8').equals(d.name)) {
      bad.push({ file: at, reason: `its name is not valid UTF-8 (bytes ${d.name.toString('hex')}): rename it` });
      continue;
    }
    if (d.isDirectory()) entries.push({ name, kind: 'folder' });
    else if (d.isFile()) entries.push({ name, kind: 'file' });
    else if (d.isSymbolicLink()) {
      const kind = await linkKind(path.join(dir, name), at, bad);
      if (kind) entries.push({ name, kind });
    } else entries.push({ name, kind: 'other' });
  }
  return entries;
}

/** What a symbolic link points to; null (and a `bad` entry) when it is broken or a loop. */
async function linkKind(link: string, rel: string, bad: BadFile[]): Promise<Entry['kind'] | null> {
  try {
    const stat = await fsp.stat(link);
    return stat.isDirectory() ? 'folder' : stat.isFile() ? 'file' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const target = await fsp.readlink(link).catch(() => '?');
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? `is a broken symbolic link (to ${target})` : code === 'ELOOP' ? `is a loop of symbolic links (to ${target})` : `is a symbolic link (to ${target}) that ${whyUnreachable(err)}`;
    bad.push({ file: rel, reason: why });
    return null;
  }
}

/** The class names of `root`: its subfolders (links to folders too), sorted by code point. */
export async function findClasses(root: string, bad: BadFile[] = []): Promise<string[]> {
  const entries = await readEntries(root, '', bad);
  if (entries === null) throw new DatasetError(`image folder ${root} ${bad.pop()!.reason.replace(/^folder /, '')}`);
  return entries
    .filter((e) => e.kind === 'folder')
    .map((e) => e.name)
    .sort(compareCodePoints);
}

interface Walked {
  rel: string;
  files: string[];
}

/** Every folder under `dir` (links followed; a folder whose real path is one of its own ancestors
 * is a loop: named in `bad`, not entered), with its image files. */
async function walk(dir: string, rel: string, ancestors: Map<string, string>, out: Walked[], bad: BadFile[]): Promise<void> {
  const real = await fsp.realpath(dir).catch(() => dir);
  const seenAs = ancestors.get(real);
  if (seenAs !== undefined) {
    bad.push({ file: rel, reason: `is a loop of symbolic links: it leads back to ${seenAs}` });
    return;
  }
  const entries = await readEntries(dir, rel, bad);
  if (entries === null) return;
  out.push({ rel, files: entries.filter((e) => e.kind !== 'folder' && hasImageExtension(e.name)).map((e) => e.name) });
  ancestors.set(real, rel);
  for (const e of entries) if (e.kind === 'folder') await walk(path.join(dir, e.name), `${rel}/${e.name}`, ancestors, out, bad);
  ancestors.delete(real);
}

/** The image files of one class folder, in make_dataset's order: sorted(os.walk(...)), then
 * sorted(fnames). Sorting whole paths puts 'sub a' and 'sub-b' before 'sub/deeper'. */
export async function listClassFolder(root: string, className: string, label: number, bad: BadFile[]): Promise<ImageSample[]> {
  const walked: Walked[] = [];
  await walk(path.join(root, className), className, new Map(), walked, bad);
  walked.sort((a, b) => compareCodePoints(a.rel, b.rel));
  const samples: ImageSample[] = [];
  for (const { rel, files } of walked) {
    for (const name of files.sort(compareCodePoints)) {
      const at = `${rel}/${name}`;
      samples.push({ file: path.join(root, at), path: at, label });
    }
  }
  return samples;
}

/** torchvision's message for class folders without images, with the folder and a hint for hidden ones. */
export function emptyClassesError(root: string, empty: string[]): DatasetError {
  const hidden = empty.filter((c) => c.startsWith('.'));
  return new DatasetError(
    `${root}: Found no valid file for the classes ${empty.join(', ')}. Supported extensions are: ${IMG_EXTENSIONS.join(', ')}` +
      (hidden.length ? ` (hidden folders such as ${hidden[0]} are classes too, as in torchvision: remove or move them)` : ''),
  );
}

/**
 * Lists `root` as torchvision's ImageFolder(root) does. `classes` fixes the class list (a
 * checkpoint's): its order gives the indices, folders not in it are refused, missing ones are
 * allowed. Class folders without images are refused, naming them.
 */
export async function listImageFolder(root: string, options: { classes?: readonly string[] } = {}): Promise<FolderListing> {
  const bad: BadFile[] = [];
  const found = await findClasses(root, bad);
  if (found.length === 0) throw new DatasetError(`Couldn't find any class folder in ${root}. (Each class needs a subfolder of its own, holding its images.)`);
  const classes = options.classes ? [...options.classes] : found;
  const index = new Map(classes.map((c, i) => [c, i]));
  const unknown = found.filter((c) => !index.has(c));
  if (unknown.length) throw new DatasetError(`${root}: folder(s) ${unknown.join(', ')} are not among the ${classes.length} classes (${classes.join(', ')})`);
  const samples: ImageSample[] = [];
  const empty: string[] = [];
  for (const name of found) {
    const listed = await listClassFolder(root, name, index.get(name)!, bad);
    if (listed.length === 0) empty.push(name);
    for (const s of listed) samples.push(s); // (no spread: a class can hold more files than a call takes arguments)
  }
  if (empty.length) throw emptyClassesError(root, empty);
  // (with a given class list too, folders come by name: make_dataset walks sorted(class_to_idx))
  return { classes, samples, bad };
}
