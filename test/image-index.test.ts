// The data set index end to end: which layout a `data` path holds, the split (from folders, a
// manifest column, or drawn: stratified, deterministic, recorded and recreated), and the bad-image
// policy (fail: one error naming them; skip: left out and listed).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { BadImagesError } from '../src/error-classes';
import { detectDataFormat } from '../src/data/data-format';
import { indexImages, type ImageIndex } from '../src/data/image-index';
import { stratifiedSplit, validationCount } from '../src/data/split';
import { encode, tempFolder, writeTree } from './image-files';

const temp = tempFolder('rn-image-index-');
after(temp.remove);
let n = 0;
const freshDir = () => {
  const dir = path.join(temp.dir, String(n++));
  fs.mkdirSync(dir);
  return dir;
};
let png: Buffer;
/** `counts` images (PNG) in each class folder under `root` (or under root/<prefix>). */
async function classTree(root: string, counts: Record<string, number>, prefix = ''): Promise<void> {
  png ??= await encode.png(8, 8);
  const files: Record<string, Buffer> = {};
  for (const [c, k] of Object.entries(counts)) for (let i = 0; i < k; i++) files[path.join(prefix, c, `img${String(i).padStart(3, '0')}.png`)] = png;
  await writeTree(root, files);
}
const paths = (samples: ImageIndex['train']) => samples.map((s) => s.path);

test('detectDataFormat: each layout, forced formats, and errors naming what was looked for', async () => {
  const folder = freshDir();
  await classTree(folder, { cat: 1, dog: 1 });
  assert.deepEqual(detectDataFormat(folder), { format: 'image-folder', path: folder });
  const split = freshDir();
  await classTree(split, { cat: 1 }, 'train');
  await classTree(split, { cat: 1 }, 'test');
  assert.deepEqual(detectDataFormat(split), { format: 'split-folders', path: split, splits: { train: path.join(split, 'train'), val: undefined, test: path.join(split, 'test') } });
  assert.equal(detectDataFormat(split, 'image-folder').format, 'image-folder', 'forced: train/ and test/ are then classes');
  const csv = path.join(folder, 'list.CSV');
  fs.writeFileSync(csv, 'path,label\n');
  assert.deepEqual(detectDataFormat(csv), { format: 'csv', path: csv });
  const jsonl = path.join(folder, 'list.ndjson');
  fs.writeFileSync(jsonl, '');
  assert.equal(detectDataFormat(jsonl).format, 'jsonl');
  assert.equal(detectDataFormat(csv, 'jsonl').format, 'jsonl');
  const cifar = freshDir();
  fs.mkdirSync(path.join(cifar, 'cifar-10-batches-bin'));
  assert.deepEqual(detectDataFormat(cifar), { format: 'cifar10', path: path.join(cifar, 'cifar-10-batches-bin') });
  const flat = freshDir();
  fs.writeFileSync(path.join(flat, 'test_batch.bin'), '');
  assert.deepEqual(detectDataFormat(flat), { format: 'cifar10', path: flat });
  const python = freshDir();
  fs.mkdirSync(path.join(python, 'cifar-10-batches-py'));
  assert.throws(() => detectDataFormat(python), /holds the Python \(pickle\) version of CIFAR-10/);
  const looked = /looked for class folders \(<data>\/<class>\/<images>\), train\/ with val\/ or test\/ .*CIFAR-10's binary files .*or a \.csv or \.jsonl manifest/;
  const flatImages = freshDir();
  await writeTree(flatImages, { 'a.jpg': png, 'b.png': png, 'notes.txt': 'x' });
  assert.throws(() => detectDataFormat(flatImages), new RegExp(`${looked.source}; it holds 3 files and no folder \\(2 of them images: put each class's images in a folder of its own\\)`));
  assert.throws(() => detectDataFormat(freshDir()), new RegExp(`${looked.source}; it holds 0 files and no folder$`));
  assert.throws(() => detectDataFormat(path.join(folder, 'cat', 'img000.png')), /is a file but not a \.csv or \.jsonl manifest: looked for/);
  assert.throws(() => detectDataFormat(path.join(temp.dir, 'nothing')), /^DatasetError: data .*nothing does not exist$/);
  assert.throws(() => detectDataFormat(folder, 'csv'), /is a folder, and format 'csv' is a manifest file/);
  assert.throws(() => detectDataFormat(folder, 'split-folders'), /has no train\/ with val\/ or test\/ beside it \(it holds cat, dog\)/);
  assert.throws(() => detectDataFormat(folder, 'zip' as never), /format 'zip' is not one of auto, image-folder, split-folders, csv, jsonl, cifar10/);
  // links at the top: a loop or a broken one is no folder (the listing names them)
  fs.symlinkSync('loop', path.join(folder, 'loop'));
  fs.symlinkSync('nowhere', path.join(folder, 'gone'));
  assert.equal(detectDataFormat(folder).format, 'image-folder');
  fs.mkdirSync(path.join(split, 'extra'));
  assert.throws(() => detectDataFormat(split), /holds train\/ and test\/, and also extra: a split layout holds only train\/, val\/ and test\//);
  await assert.rejects(indexImages(cifar), /is CIFAR-10's binary folder: read it with loadCifar10/);
});

test('the drawn split is stratified, disjoint, complete, deterministic (pinned), and another seed draws another', async () => {
  const root = freshDir();
  const counts = { a: 10, b: 25, c: 3, d: 1, e: 2 };
  await classTree(root, counts);
  const index = await indexImages(root, { valFraction: 0.2, seed: 5 });
  assert.equal(index.format, 'image-folder');
  assert.deepEqual(index.classes, ['a', 'b', 'c', 'd', 'e']);
  const all = [...paths(index.train), ...paths(index.val)];
  assert.equal(new Set(all).size, 41, 'disjoint and complete');
  assert.deepEqual(index.test, []);
  const valPerClass = index.classes.map((_, c) => index.val.filter((s) => s.label === c).length);
  assert.deepEqual(valPerClass, [2, 5, 1, 0, 1]);
  assert.deepEqual(valPerClass, Object.values(counts).map((k) => validationCount(k, 0.2)));
  // both lists keep the index order
  assert.deepEqual(paths(index.val), [...paths(index.val)].sort());
  // pinned: the same seed and files give these on every machine
  assert.deepEqual(paths(index.val), ['a/img004.png', 'a/img008.png', 'b/img007.png', 'b/img008.png', 'b/img014.png', 'b/img018.png', 'b/img019.png', 'c/img001.png', 'e/img001.png']);
  // the hash is of `class\tpath\n` lines (paths relative to the root: the same wherever the folder is)
  const sha256 = '34dc0dc4c82892202e1c66a9ed6bf2ab3b469214f50e31a594913d3ce6703e9c';
  assert.deepEqual(index.split, { kind: 'fraction', valFraction: 0.2, seed: 5, files: 41, sha256 });
  const again = await indexImages(root, { valFraction: 0.2, seed: 5 });
  assert.deepEqual(again, index);
  const other = await indexImages(root, { valFraction: 0.2, seed: 6 });
  assert.notDeepEqual(paths(other.val), paths(index.val));
  assert.deepEqual(other.classes.map((_, c) => other.val.filter((s) => s.label === c).length), valPerClass);
  assert.equal((await indexImages(root, { valFraction: 0 })).val.length, 0);
  await assert.rejects(indexImages(root, { valFraction: 1 }), /Expected number from 0 to less than 1 for valFraction but received 1/);
});

test('stratifiedSplit: proportions per class over many sizes and fractions', () => {
  for (const fraction of [0.05, 0.1, 0.25, 0.5, 0.9]) {
    const labels = Array.from({ length: 2000 }, (_, i) => i % 7 === 0 ? 0 : i % 3); // classes of different sizes
    const { train, val } = stratifiedSplit(labels, fraction, 11);
    assert.equal(train.length + val.length, labels.length);
    for (const c of [0, 1, 2]) {
      const size = labels.filter((l) => l === c).length;
      assert.equal(val.filter((i) => labels[i] === c).length, validationCount(size, fraction), `class ${c}, fraction ${fraction}`);
    }
  }
  assert.deepEqual([1, 2, 3, 10].map((k) => validationCount(k, 0.5)), [0, 1, 2, 5]);
  assert.equal(validationCount(10, 0.99), 9, 'a class keeps a training image');
});

test('a recorded split is recreated from its description, and refused when the files changed', async () => {
  const root = freshDir();
  await classTree(root, { a: 12, b: 7 });
  const first = await indexImages(root, { valFraction: 0.3, seed: 42 });
  const recorded = JSON.parse(JSON.stringify(first.split));
  const again = await indexImages(root, { split: recorded, valFraction: 0.5, seed: 1 });
  assert.deepEqual(paths(again.val), paths(first.val), 'the recorded seed and fraction win');
  fs.writeFileSync(path.join(root, 'a', 'new.png'), png);
  await assert.rejects(indexImages(root, { split: recorded }), /its images are not those the recorded split was made of \(20 listed now, 19 then; file list SHA-256 [0-9a-f]{12}\.\.\. against [0-9a-f]{12}\.\.\.\): its validation images cannot be recreated/);
  await assert.rejects(indexImages(root, { split: { ...recorded, kind: 'folders' } }), /the recorded split was made by folders, and this data set's comes from fraction/);
  await assert.rejects(indexImages(root, { split: { kind: 'random' } as never }), /Expected a recorded split \(\{ kind, files, sha256, valFraction\?, seed\? \} as ImageIndex\.split\) for split but received an object/);
});

test('train/ with val/ and test/: each folder is its split, with train/\'s classes', async () => {
  const root = freshDir();
  await classTree(root, { cat: 3, dog: 2 }, 'train');
  await classTree(root, { dog: 1 }, 'val');
  await classTree(root, { cat: 1, dog: 1 }, 'test');
  const index = await indexImages(root);
  assert.equal(index.format, 'split-folders');
  assert.equal(index.root, root);
  assert.deepEqual(index.classes, ['cat', 'dog']);
  assert.deepEqual(index.train.map((s) => [s.path, s.label]), [['train/cat/img000.png', 0], ['train/cat/img001.png', 0], ['train/cat/img002.png', 0], ['train/dog/img000.png', 1], ['train/dog/img001.png', 1]]);
  assert.deepEqual(index.val.map((s) => [s.path, s.label]), [['val/dog/img000.png', 1]]);
  assert.deepEqual(paths(index.test), ['test/cat/img000.png', 'test/dog/img000.png']);
  assert.equal(index.split.kind, 'folders');
  assert.equal(index.split.files, 8);
  await classTree(root, { bird: 1 }, 'val');
  await assert.rejects(indexImages(root), /val: folder\(s\) bird are not among the 2 classes \(cat, dog\)/);
});

test('a manifest: its split column, or a drawn split; missing files and bad images named with their line', async () => {
  const root = freshDir();
  await classTree(root, { imgs: 4 });
  const csv = path.join(root, 'list.csv');
  fs.writeFileSync(csv, 'path,label,split\nimgs/img000.png,cat,train\nimgs/img001.png,dog,train\nimgs/img002.png,cat,val\nimgs/img003.png,dog,test\n');
  const index = await indexImages(csv);
  assert.equal(index.format, 'csv');
  assert.equal(index.root, root);
  assert.deepEqual([paths(index.train), paths(index.val), paths(index.test)], [['imgs/img000.png', 'imgs/img001.png'], ['imgs/img002.png'], ['imgs/img003.png']]);
  assert.equal(index.split.kind, 'column');
  const jsonl = path.join(root, 'list.jsonl');
  fs.writeFileSync(jsonl, Array.from({ length: 4 }, (_, i) => JSON.stringify({ path: `imgs/img00${i}.png`, label: i % 2 })).join('\n'));
  const drawn = await indexImages(jsonl, { valFraction: 0.5 });
  assert.deepEqual([drawn.train.length, drawn.val.length, drawn.split.kind], [2, 2, 'fraction']);
  fs.writeFileSync(path.join(root, 'empty.png'), '');
  fs.writeFileSync(csv, 'path,label\nimgs/img000.png,cat\nmissing.jpg,cat\nimgs/img001.png,dog\nempty.png,dog\n');
  await assert.rejects(indexImages(csv), (err: Error) => {
    assert.ok(err instanceof BadImagesError);
    assert.equal(err.message, `${csv}: 2 bad image files: missing.jpg: does not exist (line 3); empty.png: is empty (0 bytes) (line 5). Fix or remove them, or use badImages 'skip' to leave them out (they are then listed)`);
    assert.deepEqual(err.bad, [{ file: 'missing.jpg', reason: 'does not exist (line 3)' }, { file: 'empty.png', reason: 'is empty (0 bytes) (line 5)' }]);
    return true;
  });
});

test("badImages: 'fail' names every bad file (the first N, and the count); 'skip' leaves them out and lists them", async () => {
  const root = freshDir();
  await classTree(root, { cat: 6, dog: 6 });
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(root, 'cat', `bad${i}.jpg`), 'not an image');
  fs.writeFileSync(path.join(root, 'dog', 'zero.png'), '');
  fs.symlinkSync('gone.jpg', path.join(root, 'dog', 'link.jpg'));
  await assert.rejects(indexImages(root, { maxNamed: 3 }), (err: Error) => {
    assert.ok(err instanceof BadImagesError);
    assert.equal(err.bad.length, 6);
    assert.match(err.message, /: 6 bad image files \(the first 3 named\): dog\/link\.jpg: is a broken symbolic link \(to gone\.jpg\); cat\/bad0\.jpg: is not an image \(.*\); cat\/bad1\.jpg: is not an image \(.*\); and 3 more\. Fix or remove them/);
    return true;
  });
  const index = await indexImages(root, { badImages: 'skip', valFraction: 0.25, seed: 3 });
  assert.deepEqual(index.skipped.map((b) => b.file), ['dog/link.jpg', 'cat/bad0.jpg', 'cat/bad1.jpg', 'cat/bad2.jpg', 'cat/bad3.jpg', 'dog/zero.png']);
  assert.equal(index.skipped.find((b) => b.file === 'dog/zero.png')!.reason, 'is empty (0 bytes)');
  const kept = [...paths(index.train), ...paths(index.val)];
  assert.equal(kept.length, 12);
  assert.ok(kept.every((p) => /img\d+\.png$/.test(p)));
  // the split was drawn over every listed file: skipping changes no other file's side
  assert.equal(index.split.files, 17);
  // a class whose every image is bad is refused, not dropped
  const gone = freshDir();
  await classTree(gone, { cat: 2 });
  await writeTree(gone, { 'dog/a.jpg': '', 'dog/b.jpg': 'text' });
  await assert.rejects(indexImages(gone, { badImages: 'skip' }), /class dog has no image left: all of its files were left out as bad/);
  await assert.rejects(indexImages(gone, { badImages: 'ignore' as never }), /Expected 'fail' or 'skip' for badImages but received 'ignore'/);
});

test('every format torchvision reads indexes, with a CMYK JPEG, a PNG with alpha and a grey PNG among them', async () => {
  const root = freshDir();
  await writeTree(root, {
    'a/1.jpg': await encode.jpeg(300, 200, 30),
    'a/2.JPEG': await encode.cmykJpeg(),
    'a/3.png': await encode.pngAlpha(),
    'b/4.png': await encode.pngGray(),
    'b/5.webp': await encode.webp(),
    'b/6.tiff': await encode.tiff(),
    'c/7.bmp': await encode.bmp(),
    'c/8.ppm': await encode.ppm(),
    'c/9.pgm': await encode.pgm(),
  });
  const index = await indexImages(root, { valFraction: 0, decode: true });
  assert.deepEqual(paths(index.train), ['a/1.jpg', 'a/2.JPEG', 'a/3.png', 'b/4.png', 'b/5.webp', 'b/6.tiff', 'c/7.bmp', 'c/8.ppm', 'c/9.pgm']);
  assert.deepEqual(index.skipped, []);
});

test("a checkpoint's class list indexes a set that lacks some of its classes, with the checkpoint's indices", async () => {
  const root = freshDir();
  await classTree(root, { dog: 2 });
  const index = await indexImages(root, { classes: ['cat', 'dog'], valFraction: 0 });
  assert.deepEqual(index.classes, ['cat', 'dog']);
  assert.deepEqual(index.train.map((s) => s.label), [1, 1]);
  for (const classes of [[], ['a', 'a'], [''], 'cat']) {
    await assert.rejects(indexImages(root, { classes: classes as never }), /Expected a non-empty array of distinct class names for classes/);
  }
});
