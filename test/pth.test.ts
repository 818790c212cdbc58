// The .pth reader against files torch.save itself wrote (scripts/gen_fixtures.py): every dtype,
// views and transposes, nesting, a malicious pickle that must not run, legacy and corrupt files.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { unzipSync, zipSync } from 'fflate';
import { Tensor, loadWeights, memory, resnet18 } from '../src/index';
import { readTorchCheckpoint, torchStateDict } from '../src/io/torch-pth';
import { assertClose, collectGarbage, loadFixture, type FixtureTensor } from './helpers';

const pth = (name: string) => fs.readFileSync(path.join(__dirname, 'fixtures', 'pth', name));

test('reads a state_dict() OrderedDict (with _metadata) exactly', () => {
  const fx = loadFixture<{ state: Record<string, FixtureTensor> }>('small_net.json');
  const dict = torchStateDict(pth('small_net.pth'), 'small_net.pth');
  assert.deepEqual(Object.keys(dict), Object.keys(fx.state), 'keys in order');
  for (const [key, expected] of Object.entries(fx.state)) {
    assert.equal(dict[key].dtype, expected.dtype === 'int64' ? 'int64' : 'float32', key);
    assertClose(dict[key], expected, { rtol: 0, atol: 0, what: key });
  }
});

test('every dtype, 0-d and empty tensors, transposed and sliced views', () => {
  const fx = loadFixture<{ tensors: Record<string, FixtureTensor> }>('pth_dtypes.json');
  const dict = torchStateDict(pth('dtypes.pth'));
  for (const [key, expected] of Object.entries(fx.tensors)) {
    const t = dict[key];
    assert.ok(t instanceof Tensor, key);
    assert.equal(t.dtype, expected.dtype, `${key} dtype`);
    assert.deepEqual(t.shape, expected.shape, `${key} shape`);
    const values = Array.from(t.toArray() as ArrayLike<number | bigint>, Number);
    assert.deepEqual(values, expected.values.map(Number), `${key} values`);
  }
});

test('finds the state dict nested under state_dict, next to other entries', () => {
  const root = readTorchCheckpoint(pth('wrapped.pth')) as Map<string, unknown>;
  assert.equal(root.get('epoch'), 3);
  assert.equal(root.get('best_acc'), 0.5);
  const dict = torchStateDict(pth('wrapped.pth'));
  assert.deepEqual(Object.keys(dict), ['w', 'b']);
  assert.deepEqual(dict.w.toList(), [[1, 1], [1, 1]]);
});

test('a malicious pickle is refused by name and never runs', () => {
  const marker = '/tmp/resnet-native-pwned';
  fs.rmSync(marker, { force: true });
  assert.throws(() => torchStateDict(pth('malicious.pth'), 'malicious.pth'), (e: Error) => {
    assert.equal(e.name, 'CheckpointError');
    assert.match(e.message, /malicious\.pth: refusing to load global '(posix|os)\.system'/);
    return true;
  });
  assert.equal(fs.existsSync(marker), false, 'the command did not run');
});

test('legacy, truncated, corrupt and foreign files get clear errors', () => {
  assert.throws(() => torchStateDict(pth('legacy.pth'), 'legacy.pth'), /legacy\.pth uses the legacy torch\.save format \(PyTorch < 1\.6\)/);
  const whole = pth('small_net.pth');
  assert.throws(() => torchStateDict(whole.subarray(0, whole.length - 700), 'cut.pth'), /cut\.pth is truncated or corrupt|cut\.pth: storage .* (missing|bytes)/);
  const corrupt = Buffer.from(whole);
  const pkl = corrupt.indexOf('data.pkl') + 200; // inside the pickle stream
  corrupt.fill(0xff, pkl, pkl + 16);
  assert.throws(() => torchStateDict(corrupt, 'corrupt.pth'), /corrupt\.pth/);
  assert.throws(() => torchStateDict(Buffer.from('hello world'), 'text.pth'), /text\.pth is not a PyTorch checkpoint/);
});

test('a flipped byte in a stored entry is caught by the CRC-32 the archive records', () => {
  const original = fs.readFileSync(path.join(__dirname, 'fixtures', 'pth', 'small_net.pth'));
  // the first storage entry's local header: signature, then name length at 26, extra length at 28
  let at = -1;
  for (let i = original.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04])); i >= 0; i = original.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), i + 4)) {
    const name = original.subarray(i + 30, i + 30 + original.readUInt16LE(i + 26)).toString();
    if (/\/data\/\d+$/.test(name)) {
      at = i + 30 + original.readUInt16LE(i + 26) + original.readUInt16LE(i + 28);
      break;
    }
  }
  assert.ok(at > 0, 'a storage entry');
  const corrupt = Buffer.from(original);
  corrupt[at + 1] ^= 0x40;
  assert.doesNotThrow(() => readTorchCheckpoint(original, 'small_net.pth'));
  assert.throws(() => readTorchCheckpoint(corrupt, 'small_net.pth'), /small_net\.pth: zip entry .*\/data\/\d+ is corrupt: its CRC-32 is [0-9a-f]{8}, the archive records [0-9a-f]{8}/);
});

test('a tensor seen through a zero stride stays a view: a 39 KB file cannot take gigabytes', () => {
  const file = path.join(__dirname, 'fixtures', 'pth', 'expanded.pth');
  const before = memory().bytes;
  const big = torchStateDict(fs.readFileSync(file), 'expanded.pth')['conv1.weight'];
  assert.deepEqual(big.shape, [32000, 9408]);
  assert.ok(memory().bytes - before < 1e6, `${memory().bytes - before} bytes held for 301 million elements`);
  assert.deepEqual(Array.from(big.narrow(0, 31999, 1).narrow(1, 9405, 3).toArray() as Float32Array), [9405, 9406, 9407]);
  big.dispose();
  assert.throws(() => loadWeights(resnet18({ numClasses: 10, device: 'cpu' }), file, { strict: false }), /conv1\.weight.*\[32000, 9408\]/);
});

test('zip bombs: no entry but the pickle, the byte order and the named storages is inflated, wherever it sits; each is bounded before inflating', () => {
  const original = new Uint8Array(fs.readFileSync(path.join(__dirname, 'fixtures', 'pth', 'small_net.pth')));
  const entries = unzipSync(original);
  const prefix = Object.keys(entries).find((n) => n.endsWith('data.pkl'))!.slice(0, -'data.pkl'.length);
  const zeros = new Uint8Array(32 * 2 ** 20);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rn-bomb-'));
  try {
    // 32 MB entries of zeros that nothing refers to, in every kind of place: next to the pickle,
    // under data/, in a sub-folder of data/, at the root, under another prefix (a file of ~1 MB)
    const places = [`${prefix}junk0`, `${prefix}data/junk1`, `${prefix}data/sub/2`, 'junk3', 'other/data/4', `${prefix}.format_version2`, `${prefix}data.pkl.bak`];
    const extra = zipSync({ ...entries, ...Object.fromEntries(places.map((name) => [name, zeros])) }, { level: 1 });
    const bomb = path.join(tmp, 'bomb.pth');
    fs.writeFileSync(bomb, extra);
    assert.ok(extra.length < 4 * 2 ** 20, `${extra.length} bytes`);
    // measured in a fresh process: the peak RSS must not see the 384 MB
    const script = `
      const fs = require('node:fs');
      const { readWeights } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'index.js'))});
      const before = process.resourceUsage().maxRSS;
      const dict = readWeights(${JSON.stringify(bomb)});
      console.log(JSON.stringify({ keys: Object.keys(dict.tensors).length, grewKB: process.resourceUsage().maxRSS - before }));
    `;
    const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const { keys, grewKB } = JSON.parse(res.stdout);
    assert.equal(keys, Object.keys(torchStateDict(original)).length);
    assert.ok(grewKB < 100 * 1024, `peak RSS grew by ${grewKB} KB`);
    // the same places holding data that cannot be inflated at all: the load never touches them
    const garbage = zipSync({ ...entries, ...Object.fromEntries(places.map((name) => [name, zeros.subarray(0, 4096)])) }, { level: 1 });
    const undecodable = Buffer.from(garbage);
    for (const name of places) {
      // the local header's data: overwrite the deflate stream of each junk entry with 0xff
      const at = undecodable.indexOf(Buffer.from(name), 0);
      const dataStart = at + name.length + undecodable.readUInt16LE(at - 2);
      undecodable.fill(0xff, dataStart, dataStart + 8);
    }
    assert.throws(() => unzipSync(new Uint8Array(undecodable)), 'the junk entries really cannot be inflated');
    assert.equal(Object.keys(torchStateDict(new Uint8Array(undecodable), 'junk.pth')).length, keys);
    // needed entries are bounded too: a pickle or byte order declaring more than it can hold
    const bigPickle = zipSync({ ...entries, [`${prefix}data.pkl`]: new Uint8Array(65 * 2 ** 20) }, { level: 1 });
    assert.throws(() => readTorchCheckpoint(bigPickle, 'pickle.pth'), /pickle\.pth: zip entry .*data\.pkl declares 68157440 bytes for the pickle \(at most 67108864 bytes\): corrupt or crafted file, not inflated/);
    const bigOrder = zipSync({ ...entries, [`${prefix}byteorder`]: new Uint8Array(17) }, { level: 1 });
    assert.throws(() => readTorchCheckpoint(bigOrder, 'order.pth'), /order\.pth: zip entry .*byteorder declares 17 bytes for a byte order/);
    // a storage entry that declares more bytes than the pickle says it holds
    const storageName = Object.keys(entries).find((n) => /\/data\/\d+$/.test(n))!;
    const lying = zipSync({ ...entries, [storageName]: zeros }, { level: 1 });
    assert.throws(() => readTorchCheckpoint(lying, 'lying.pth'), /lying\.pth: zip entry .*\/data\/\d+ declares 33554432 bytes for a storage of \d+ float32 elements \(\d+ bytes\): corrupt or crafted file, not inflated/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a storage the pickle itself declares huge, deflated from zeros, is refused before inflating (a bomb through the named storages)', () => {
  const entries = unzipSync(new Uint8Array(pth('small_net.pth')));
  const pickleName = Object.keys(entries).find((n) => n.endsWith('data.pkl'))!;
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  // fc.weight's storage holds 5 x 96 = 480 floats: its persistent id says so as BININT2 480;
  // made to say 2^25 (BININT, 128 MiB of float32)
  const pickle = Buffer.from(entries[pickleName]);
  const declared480 = Buffer.from([0x4d, 0xe0, 0x01]);
  const at = pickle.indexOf(declared480);
  assert.ok(at > 0 && pickle.indexOf(declared480, at + 1) < 0, 'one storage of 480 elements');
  const numel = 2 ** 25;
  const declaredHuge = Buffer.alloc(5);
  declaredHuge[0] = 0x4a;
  declaredHuge.writeUInt32LE(numel, 1);
  const huge = Buffer.concat([pickle.subarray(0, at), declaredHuge, pickle.subarray(at + 3)]);
  // (the only storage of 480 float32s, 1920 bytes)
  const storage = Object.keys(entries).find((n) => n.startsWith(`${prefix}data/`) && entries[n].length === 480 * 4)!;
  const bomb = zipSync({ ...entries, [pickleName]: new Uint8Array(huge), [storage]: new Uint8Array(numel * 4) }, { level: 1 });
  assert.ok(bomb.length < 2 * 2 ** 20, `${bomb.length} bytes of file`);
  const before = process.memoryUsage().rss;
  assert.throws(() => readTorchCheckpoint(bomb, 'bomb.pth'), /bomb\.pth: storage \d+ declares 134217728 bytes compressed into \d+ \(more than 64x\): torch\.save does not compress storages; a crafted file, not inflated/);
  assert.ok(process.memoryUsage().rss - before < 64 * 2 ** 20, 'nothing was inflated');
  // the same storage stored uncompressed, as torch.save writes it, is read (nothing to refuse)
  const stored = zipSync({ ...entries, [pickleName]: new Uint8Array(huge), [storage]: [new Uint8Array(numel * 4), { level: 0 }] });
  const state = torchStateDict(stored, 'stored.pth');
  assert.deepEqual(state['fc.weight'].shape, [5, 96]);
  for (const t of Object.values(state)) t.dispose();
});

test('a load that fails half-way frees the tensors it had built at once (no wait for GC)', () => {
  const entries = unzipSync(new Uint8Array(pth('small_net.pth')));
  const last = Object.keys(entries).filter((n) => /\/data\/\d+$/.test(n)).sort((a, b) => Number(a.split('/').pop()) - Number(b.split('/').pop())).pop()!;
  delete entries[last];
  const broken = zipSync(entries, { level: 1 });
  collectGarbage();
  const before = memory();
  for (let i = 0; i < 5; i++) {
    assert.throws(() => torchStateDict(broken, 'broken.pth'), /broken\.pth: storage \d+ is missing from the archive/);
  }
  const after = memory();
  assert.equal(after.tensors, before.tensors, 'no handle left behind');
  assert.equal(after.bytes, before.bytes, 'no bytes left behind');
  // a nested state dict: what else the file holds is freed, only the state dict's tensors stay
  const nested = torchStateDict(pth('wrapped.pth'));
  assert.equal(memory().tensors - after.tensors, Object.keys(nested).length);
  for (const t of Object.values(nested)) t.dispose();
});
