// Manifests: CSV (quoted as RFC 4180) and JSON Lines of path,label[,split]; class order for names
// and for indices; every malformed line named by its number in one error.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { readManifest } from '../src/data/manifest';
import { tempFolder } from './image-files';

const temp = tempFolder('rn-manifest-');
after(temp.remove);
let n = 0;
/** A manifest file holding `text`, in a folder of its own. */
const manifest = (text: string, ext = 'csv') => {
  const dir = path.join(temp.dir, String(n++));
  fs.mkdirSync(dir);
  const file = path.join(dir, `list.${ext}`);
  fs.writeFileSync(file, text);
  return file;
};
const pairs = (m: ReturnType<typeof readManifest>) => m.samples.map((s) => [s.path, m.classes[s.label]]);

test('CSV: quoted fields, a BOM, CRLF and blank lines; names sorted by code point; paths relative to the manifest', () => {
  const text = '\uFEFFpath,label\r\n"a, b.jpg",Zebra\r\n\r\n"say ""hi"".png",apple\r\nsub/c d.jpg, \u00c4pfel \r\n/abs/x.jpg,Zebra\r\n';
  const file = manifest(text);
  const m = readManifest(file);
  assert.deepEqual(m.classes, ['Zebra', 'apple', '\u00c4pfel']);
  assert.deepEqual(pairs(m), [['a, b.jpg', 'Zebra'], ['say "hi".png', 'apple'], ['sub/c d.jpg', '\u00c4pfel'], ['/abs/x.jpg', 'Zebra']]);
  assert.deepEqual(m.samples.map((s) => s.file), [path.join(path.dirname(file), 'a, b.jpg'), path.join(path.dirname(file), 'say "hi".png'), path.join(path.dirname(file), 'sub/c d.jpg'), '/abs/x.jpg']);
  assert.deepEqual(m.lines, [2, 4, 5, 6]);
  assert.equal(m.splits, null);
});

test('CSV: a split column in any column order (train, val, test in any case); integer labels are indices 0..K-1', () => {
  const m = readManifest(manifest('split,label,path\ntrain,1,a.jpg\nVAL,0,b.jpg\ntest,2,c.jpg\ntrain,0,d.jpg\n'));
  assert.deepEqual(m.classes, ['0', '1', '2']);
  assert.deepEqual(m.samples.map((s) => [s.path, s.label]), [['a.jpg', 1], ['b.jpg', 0], ['c.jpg', 2], ['d.jpg', 0]]);
  assert.deepEqual(m.splits, ['train', 'val', 'test', 'train']);
  // a given class list (a checkpoint's) names the indices and orders names
  const given = readManifest(manifest('path,label\na.jpg,2\nb.jpg,0\n'), { classes: ['cat', 'dog', 'bird'] });
  assert.deepEqual(pairs(given), [['a.jpg', 'bird'], ['b.jpg', 'cat']]);
  const byName = readManifest(manifest('path,label\na.jpg,dog\n'), { classes: ['cat', 'dog'] });
  assert.deepEqual(byName.samples.map((s) => s.label), [1]);
});

test('JSON Lines: names or indices by JSON type, optional split, blank lines', () => {
  const text = '{"path": "x/1.jpg", "label": "cat", "split": "train"}\n\n{"label": "Dog", "path": "2.png", "split": "val"}\r\n';
  const m = readManifest(manifest(text, 'jsonl'));
  assert.deepEqual(m.classes, ['Dog', 'cat']);
  assert.deepEqual(pairs(m), [['x/1.jpg', 'cat'], ['2.png', 'Dog']]);
  assert.deepEqual(m.lines, [1, 3]);
  assert.deepEqual(m.splits, ['train', 'val']);
  const indices = readManifest(manifest('{"path": "a.jpg", "label": 1}\n{"path": "b.jpg", "label": 0}\n', 'jsonl'));
  assert.deepEqual(indices.classes, ['0', '1']);
  // "1" is a name in JSON (a string), unlike CSV
  assert.deepEqual(readManifest(manifest('{"path": "a.jpg", "label": "1"}\n', 'jsonl')).classes, ['1']);
});

test('every malformed CSV line is named by its number, in one error', () => {
  const text = ['path,label,split', 'a.jpg,cat,train', 'b.jpg,cat', 'c.jpg,dog,train,extra', ',cat,train', 'a.jpg,dog,val', 'd.jpg,cat,holdout', '"multi', 'line.jpg",dog,train', 'e.jpg,cat,'].join('\n');
  const file = manifest(text);
  assert.throws(() => readManifest(file), (err: Error) => {
    assert.equal(err.name, 'DatasetError');
    assert.equal(
      err.message,
      `manifest ${file} has 6 bad lines: line 3: 2 fields where the header has 3; line 4: 4 fields where the header has 3; line 5: the path is empty; ` +
        'line 6: a.jpg is listed again (first on line 2); line 7: split "holdout" is not train, val or test; line 10: split "" is not train, val or test',
    );
    return true;
  });
});

test('CSV: a missing or unknown header, mixed label kinds, gaps, unknown labels and broken quoting are refused', () => {
  const cases: [string, RegExp, { classes?: string[] }?][] = [
    ['a.jpg,cat\nb.jpg,dog\n', /line 1 must be the header path,label or path,label,split \(in any order\), found 'a\.jpg,cat' \(unknown column 'a\.jpg', 'cat'\)/],
    ['path,label,spilt\na.jpg,cat,train\n', /found 'path,label,spilt' \(unknown column 'spilt'\)/],
    ['path,path,label\na,b,c\n', /line 1 must be the header/],
    ['path,label\na.jpg,cat\nb.jpg,3\n', /line 3: label 3 is an index, and line 2's "cat" is a name: use names or indices throughout/],
    ['path,label\na.jpg,0\nb.jpg,2\n', /integer labels must be 0, 1, 2\.\.\. with no gap, and no line has label 1/],
    ['path,label\na.jpg,bird\nb.jpg,3\n', /line 2: unknown label "bird" \(3 classes: cat, dog, fish\); line 3: unknown label 3/, { classes: ['cat', 'dog', 'fish'] }],
    ['path,label\n"a.jpg,cat\n', /line \d+: not valid CSV \(Quote Not Closed/],
    ['path,label\na"b.jpg,cat\n', /not valid CSV \(Invalid Opening Quote/],
    ['', /is empty: it needs the header path,label/],
    ['path,label\n', /lists no image/],
  ];
  for (const [text, message, options] of cases) assert.throws(() => readManifest(manifest(text), options), message, JSON.stringify(text));
});

test('JSON Lines: bad JSON, non-objects, unknown keys, wrong types and a split on some lines only are named by line', () => {
  const lines = ['{"path": "a.jpg", "label": "cat", "split": "train"}', '{"path": "b.jpg", "label": "cat"', '[1, 2]', '{"path": "c.jpg", "label": "cat", "weight": 2}', '{"path": 3, "label": "cat"}', '{"path": "d.jpg", "label": -1}', '{"path": "e.jpg", "label": "cat", "split": 1}', '{"path": "f.jpg", "label": "dog"}'];
  const file = manifest(lines.join('\n'), 'jsonl');
  assert.throws(() => readManifest(file), (err: Error) => {
    assert.match(err.message, /has 7 bad lines: line 2: not valid JSON \(/);
    assert.match(err.message, /line 3: not a JSON object \(\{"path": \.\.\., "label": \.\.\.\}\); line 4: unknown key 'weight' \(path, label and split are read\); line 5: "path" must be a string; line 6: "label" must be a class name or an index \(an integer from 0\), got -1; line 7: "split" must be a string \(train, val or test\); line 8: no "split" \(other lines have one: every line needs it\)$/);
    return true;
  });
});

test('past 20 bad lines the error names 20 and counts the rest; a manifest that is a folder is refused', () => {
  const text = ['path,label', ...Array.from({ length: 25 }, (_, i) => `x${i}.jpg`)].join('\n');
  assert.throws(() => readManifest(manifest(text)), (err: Error) => {
    assert.match(err.message, /has 25 bad lines: line 2: 1 field where the header has 2; .*line 21: 1 field where the header has 2; and 5 more$/);
    return true;
  });
  const folder = path.join(temp.dir, 'folder.csv');
  fs.mkdirSync(folder);
  assert.throws(() => readManifest(folder), /manifest .*folder\.csv is a folder, not a regular file/);
});
