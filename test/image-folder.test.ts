// Class folders as torchvision's ImageFolder lists them: the class map and the file order against
// torchvision 0.29.1 on a tree of tricky names (test/fixtures/image_folder.json), its refusals,
// what the walk cannot follow (broken links, link loops, unreadable folders, non-UTF-8 names),
// and a property test over random trees against a plain reference.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { compareCodePoints } from '../src/data/code-points';
import { hasImageExtension, IMG_EXTENSIONS, listImageFolder } from '../src/data/image-folder';
import { SeededRandom } from '../src/data/random';
import { runUnprivileged, tempFolder, writeTree } from './image-files';

interface Fixture {
  torchvision: string;
  extensions: string[];
  files: string[];
  links: [string, string][];
  classes: string[];
  class_to_idx: Record<string, number>;
  samples: [string, number][];
  errors: { empty_classes: string; no_classes: string };
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'image_folder.json'), 'utf8')) as Fixture;

const temp = tempFolder('rn-image-folder-');
after(temp.remove);
let n = 0;
const freshDir = () => {
  const dir = path.join(temp.dir, String(n++));
  fs.mkdirSync(dir);
  return dir;
};

/** The fixture's tree: its files (one byte each: listing reads none) and links. */
async function fixtureTree(): Promise<string> {
  const dir = freshDir();
  await writeTree(dir, Object.fromEntries(fixture.files.map((f) => [f, 'x'])));
  for (const [link, target] of fixture.links) fs.symlinkSync(target, path.join(dir, link));
  return dir;
}

test('the class map and the file order are torchvision ImageFolder\'s on a tree of tricky names', async () => {
  const root = await fixtureTree();
  const listing = await listImageFolder(root);
  assert.deepEqual(listing.classes, fixture.classes);
  assert.deepEqual(Object.fromEntries(listing.classes.map((c, i) => [c, i])), fixture.class_to_idx);
  assert.deepEqual(listing.samples.map((s) => [s.path, s.label]), fixture.samples);
  assert.deepEqual(listing.bad, []);
  for (const s of listing.samples) assert.equal(s.file, path.join(root, s.path));
  assert.deepEqual([...IMG_EXTENSIONS], fixture.extensions);
});

test('the extension test is has_file_allowed_extension: the lower-cased name ends with one', () => {
  for (const name of ['a.JPG', 'b.Jpeg', '.jpg', 'x.tar.PNG', 'y.TiFf', 'z.WEBP', 'p.pgm', 'q.PPM', 'r.bmp']) assert.ok(hasImageExtension(name), name);
  for (const name of ['jpg', 'a.jpgx', 'a.jpg.zip', 'a.gif', 'a.jpg ', 'a.j pg', 'a.heic', 'noext']) assert.ok(!hasImageExtension(name), name);
});

test('class folders without images are refused in torchvision\'s words, naming every one', async () => {
  const root = freshDir();
  await writeTree(root, { 'b/x.txt': 'x', 'a/1.jpg': 'x', 'c/sub/y.gif': 'x' });
  await assert.rejects(listImageFolder(root), (err: Error) => {
    assert.equal(err.name, 'DatasetError');
    assert.equal(err.message, `${root}: ${fixture.errors.empty_classes}`);
    return true;
  });
  const hidden = freshDir();
  await writeTree(hidden, { 'a/1.jpg': 'x', '.ipynb_checkpoints/notes.txt': 'x' });
  await assert.rejects(listImageFolder(hidden), /classes \.ipynb_checkpoints\..*hidden folders such as \.ipynb_checkpoints are classes too, as in torchvision/);
  const none = freshDir();
  await writeTree(none, { 'x.jpg': 'x' });
  await assert.rejects(listImageFolder(none), { message: new RegExp(`^${fixture.errors.no_classes.replace('<root>', none).replace(/[.()]/g, '\\$&')}`) });
});

test('a given class list (a checkpoint\'s) fixes the indices; missing folders are allowed, unknown ones refused', async () => {
  const root = freshDir();
  await writeTree(root, { 'dog/1.jpg': 'x', 'cat/1.jpg': 'x', 'cat/2.jpg': 'x' });
  const listing = await listImageFolder(root, { classes: ['dog', 'bird', 'cat'] });
  assert.deepEqual(listing.classes, ['dog', 'bird', 'cat']);
  // folders in torchvision's order (sorted names), labels from the list
  assert.deepEqual(listing.samples.map((s) => [s.path, s.label]), [['cat/1.jpg', 2], ['cat/2.jpg', 2], ['dog/1.jpg', 0]]);
  await assert.rejects(listImageFolder(root, { classes: ['dog'] }), /folder\(s\) cat are not among the 1 classes \(dog\)/);
});

test('symbolic link loops end the walk there and are named; broken links are named', { timeout: 20_000 }, async () => {
  const root = freshDir();
  await writeTree(root, { 'cat/a.jpg': 'x', 'cat/sub/b.jpg': 'x', 'dog/c.jpg': 'x' });
  fs.symlinkSync('..', path.join(root, 'cat/sub/up')); // back to cat/
  fs.symlinkSync('.', path.join(root, 'dog/here'));
  fs.symlinkSync('self.jpg', path.join(root, 'dog/self.jpg')); // a link to itself
  fs.symlinkSync('ping', path.join(root, 'dog/pong'));
  fs.symlinkSync('pong', path.join(root, 'dog/ping'));
  fs.symlinkSync('missing.jpg', path.join(root, 'dog/gone.jpg'));
  fs.symlinkSync('/nonexistent/folder', path.join(root, 'dog/old-folder'));
  fs.symlinkSync('nowhere', path.join(root, 'lost-class'));
  const listing = await listImageFolder(root);
  assert.deepEqual(listing.classes, ['cat', 'dog']);
  assert.deepEqual(listing.samples.map((s) => s.path), ['cat/a.jpg', 'cat/sub/b.jpg', 'dog/c.jpg']);
  const bad = Object.fromEntries(listing.bad.map((b) => [b.file, b.reason]));
  assert.deepEqual(Object.keys(bad).sort(), ['cat/sub/up', 'dog/gone.jpg', 'dog/here', 'dog/old-folder', 'dog/ping', 'dog/pong', 'dog/self.jpg', 'lost-class'].sort());
  assert.equal(bad['cat/sub/up'], 'is a loop of symbolic links: it leads back to cat');
  assert.equal(bad['dog/here'], 'is a loop of symbolic links: it leads back to dog');
  assert.equal(bad['dog/self.jpg'], 'is a loop of symbolic links (to self.jpg)');
  assert.equal(bad['dog/gone.jpg'], 'is a broken symbolic link (to missing.jpg)');
  assert.equal(bad['lost-class'], 'is a broken symbolic link (to nowhere)');
});

test('a link back to the data root is walked once and named where it loops; links out of the root are followed', { timeout: 20_000 }, async () => {
  const root = freshDir();
  const outside = freshDir();
  await writeTree(root, { 'cat/a.jpg': 'x', 'dog/b.jpg': 'x' });
  await writeTree(outside, { 'sub/c.png': 'x' });
  fs.symlinkSync(outside, path.join(root, 'cat/elsewhere'));
  fs.symlinkSync('..', path.join(root, 'dog/top')); // dog/top -> root
  const listing = await listImageFolder(root);
  // dog/top/cat/... is walked once and dog/top/dog is the loop; torchvision's walk would go on 40 links deep
  assert.deepEqual(listing.samples.map((s) => s.path), ['cat/a.jpg', 'cat/elsewhere/sub/c.png', 'dog/b.jpg', 'dog/top/cat/a.jpg', 'dog/top/cat/elsewhere/sub/c.png']);
  assert.deepEqual(listing.bad, [{ file: 'dog/top/dog', reason: 'is a loop of symbolic links: it leads back to dog' }]);
});

test('a name that is not UTF-8 is named (by its bytes), not silently misspelt', async () => {
  const root = freshDir();
  await writeTree(root, { 'cat/a.jpg': 'x' });
  fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/cat/`), Buffer.from([0x66, 0xff, 0x2e, 0x6a, 0x70, 0x67])]), 'x');
  const listing = await listImageFolder(root);
  assert.deepEqual(listing.samples.map((s) => s.path), ['cat/a.jpg']);
  assert.equal(listing.bad.length, 1);
  assert.match(listing.bad[0].reason, /its name is not valid UTF-8 \(bytes 66ff2e6a7067\): rename it/);
});

test('an unreadable folder inside a class is named (run as an unprivileged user when root)', async (t) => {
  const root = freshDir();
  await writeTree(root, { 'cat/a.jpg': 'x', 'cat/locked/b.jpg': 'x' });
  fs.chmodSync(path.join(root, 'cat/locked'), 0o000);
  fs.chmodSync(temp.dir, 0o755);
  const script = `require('./src/data/image-folder').listImageFolder(${JSON.stringify(root)}).then((l) => console.log(JSON.stringify(l)))`;
  const res = runUnprivileged(script);
  fs.chmodSync(path.join(root, 'cat/locked'), 0o755);
  if (res.skip) return t.skip(res.skip);
  const listing = JSON.parse(res.stdout);
  assert.deepEqual(listing.samples.map((s: { path: string }) => s.path), ['cat/a.jpg']);
  assert.deepEqual(listing.bad, [{ file: 'cat/locked', reason: 'folder cannot be read (permission denied)' }]);
});

test('compareCodePoints is Python\'s order: code points, not UTF-16 units nor the locale', () => {
  const reference = (a: string, b: string) => {
    const x = Array.from(a, (c) => c.codePointAt(0)!);
    const y = Array.from(b, (c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  };
  const alphabet = ['a', 'B', 'b', '0', '9', ' ', '-', '.', '_', 'é', 'e\u0301', '\uff01', '\ue000', '\ud7ff', '\u{1f600}', '\u{10000}', '日'];
  const rng = new SeededRandom(7);
  for (let k = 0; k < 2000; k++) {
    const word = () => Array.from({ length: 1 + rng.int(4) }, () => alphabet[rng.int(alphabet.length)]).join('');
    const [a, b] = [word(), word()];
    assert.equal(Math.sign(compareCodePoints(a, b)), Math.sign(reference(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  assert.ok(compareCodePoints('\uff01', '\u{1f600}') < 0 && '\uff01' > '\u{1f600}', 'UTF-16 order differs there');
});

/** A random tree: class folders with nested folders and files of image and other extensions. */
function randomTree(rng: SeededRandom): { files: string[]; classes: string[] } {
  const parts = ['a', 'B', 'cat', 'Dog', 'dog', '9', '10', 'x y', 'a-b', 'a.b', '.h', 'é', 'e\u0301', '\uff01', '\u{1f600}', '日本'];
  const exts = [...IMG_EXTENSIONS, '.JPG', '.Png', '.TIFF', '.txt', '.gif', '', '.jpg.zip'];
  const name = () => parts[rng.int(parts.length)] + (rng.int(3) ? '' : parts[rng.int(parts.length)]);
  const classes = [...new Set(Array.from({ length: 1 + rng.int(7) }, name))];
  const files = new Set<string>();
  for (const c of classes) {
    const folders = [c];
    for (let d = rng.int(4); d > 0; d--) folders.push(`${folders[rng.int(folders.length)]}/${name()}`);
    // each class gets at least one image; folder names and file names never collide (suffixes)
    files.add(`${c}/first${IMG_EXTENSIONS[rng.int(IMG_EXTENSIONS.length)]}`);
    for (let f = rng.int(6); f > 0; f--) files.add(`${folders[rng.int(folders.length)]}/${name()}~${rng.int(99)}${exts[rng.int(exts.length)]}`);
  }
  return { files: [...files], classes };
}

test('property: on random trees the class map is the code-point sort of the folders and every image is listed once', async () => {
  const rng = new SeededRandom(2024);
  for (let k = 0; k < 100; k++) {
    const { files, classes } = randomTree(rng);
    const root = freshDir();
    await writeTree(root, Object.fromEntries(files.map((f) => [f, 'x'])));
    const listing = await listImageFolder(root);
    const expected = [...classes].sort((a, b) => {
      const [x, y] = [Array.from(a, (c) => c.codePointAt(0)!), Array.from(b, (c) => c.codePointAt(0)!)];
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
      return x.length - y.length;
    });
    assert.deepEqual(listing.classes, expected, `tree ${k}`);
    const images = files.filter((f) => IMG_EXTENSIONS.some((e) => f.toLowerCase().endsWith(e)));
    assert.deepEqual(listing.samples.map((s) => s.path).sort(), images.sort(), `tree ${k}: each image once`);
    for (const s of listing.samples) assert.equal(listing.classes[s.label], s.path.split('/')[0], `tree ${k}: ${s.path}`);
    assert.deepEqual(listing.bad, []);
  }
});
