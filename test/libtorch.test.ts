// libtorch discovery (scripts/libtorch.js): LIBTORCH, Torch_DIR, python torch, the provisioned
// cache, provisioning by pip, and the one message when everything fails. Hermetic: fake
// libtorch folders and a fake python stand in for the real ones.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers';

const { findLibtorch, forgetOtherLibtorch, DEFAULT_TORCH_VERSION } = require('../scripts/libtorch.js');

const tmp = tempDir('rn-libtorch-');
const quiet = () => {};

/** A folder shaped like libtorch (or like the torch package). */
function fakeLibtorch(root: string, version = '9.8.7'): string {
  fs.mkdirSync(path.join(root, 'share', 'cmake', 'Torch'), { recursive: true });
  fs.writeFileSync(path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), '# fake\n');
  fs.mkdirSync(path.join(root, 'include', 'torch', 'headeronly'), { recursive: true });
  fs.writeFileSync(path.join(root, 'include', 'torch', 'headeronly', 'version.h'), `#define TORCH_VERSION \\\n  "${version}"\n`);
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  return root;
}

/** A python3 stand-in: answers the torch probe and `-m pip install --target DIR torch==V`. */
function fakePython(name: string, behaviour: { torchPrefix?: string; pip?: 'ok' | 'fail' }): string {
  const file = path.join(tmp, name);
  const torchProbe = behaviour.torchPrefix ? `echo "${behaviour.torchPrefix}"; exit 0` : 'echo "No module named torch" >&2; exit 1';
  fs.writeFileSync(
    file,
    `#!/bin/sh
if [ "$1" = "-c" ]; then ${torchProbe}; fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  ${behaviour.pip === 'ok' ? '' : 'echo "pip: no network" >&2; exit 1'}
  target=""; prev=""
  for a in "$@"; do [ "$prev" = "--target" ] && target="$a"; prev="$a"; done
  mkdir -p "$target/torch/share/cmake/Torch" "$target/torch/lib" "$target/torch/include"
  echo "# fake" > "$target/torch/share/cmake/Torch/TorchConfig.cmake"
  echo "$@" > "$target/pip-args"
  exit 0
fi
exit 2
`,
  );
  fs.chmodSync(file, 0o755);
  return file;
}

const nothing = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '',
  RESNET_NATIVE_PYTHON: fakePython('no-torch-python', {}),
  RESNET_NATIVE_CACHE: fs.mkdtempSync(path.join(tmp, 'cache-')),
  ...extra,
});

test('LIBTORCH comes first and is described (version, lib, include, CPU build)', () => {
  const root = fakeLibtorch(path.join(tmp, 'libtorch'));
  const found = findLibtorch({ env: nothing({ LIBTORCH: root, Torch_DIR: '/nonexistent' }), log: quiet });
  assert.equal(found.source, 'LIBTORCH');
  assert.equal(found.root, root);
  assert.equal(found.cmakeDir, path.join(root, 'share', 'cmake', 'Torch'));
  assert.equal(found.libDir, path.join(root, 'lib'));
  assert.equal(found.version, '9.8.7');
  assert.equal(found.cuda, false);
  fs.writeFileSync(path.join(root, 'lib', 'libtorch_cuda.so'), '');
  assert.equal(findLibtorch({ env: nothing({ LIBTORCH: root }), log: quiet }).cuda, true);
});

test('a wrong LIBTORCH or Torch_DIR is an error naming the setting, not silently skipped', () => {
  assert.throws(() => findLibtorch({ env: nothing({ LIBTORCH: tmp }), log: quiet }), (e: Error) => {
    assert.match(e.message, /LIBTORCH=.* does not point at a libtorch: .*TorchConfig\.cmake does not exist/);
    return true;
  });
  assert.throws(() => findLibtorch({ env: nothing({ Torch_DIR: tmp }), log: quiet }), /Torch_DIR=.* does not point at a libtorch/);
});

test('Torch_DIR, then the python torch package, then the provisioned cache', () => {
  const root = fakeLibtorch(path.join(tmp, 'torchdir'));
  const byDir = findLibtorch({ env: nothing({ Torch_DIR: path.join(root, 'share', 'cmake', 'Torch') }), log: quiet });
  assert.equal(byDir.source, 'Torch_DIR');
  assert.equal(byDir.root, root);

  const pyRoot = fakeLibtorch(path.join(tmp, 'site-packages', 'torch'));
  const py = fakePython('torch-python', { torchPrefix: path.join(pyRoot, 'share', 'cmake') });
  const byPython = findLibtorch({ env: nothing({ RESNET_NATIVE_PYTHON: py }), log: quiet });
  assert.equal(byPython.source, 'python');
  assert.equal(byPython.root, pyRoot);

  const env = nothing({ RESNET_NATIVE_TORCH_VERSION: '1.2.3' });
  fakeLibtorch(path.join(env.RESNET_NATIVE_CACHE, 'torch-1.2.3', 'torch'));
  const cached = findLibtorch({ env, log: quiet });
  assert.equal(cached.source, 'provisioned');
});

test('provisioning pip-installs the pinned torch into the cache, atomically', () => {
  const env = nothing({ RESNET_NATIVE_PYTHON: fakePython('pip-ok', { pip: 'ok' }) });
  const logs: string[] = [];
  const found = findLibtorch({ env, log: (m: string) => logs.push(m) });
  assert.equal(found.source, 'provisioned');
  const dir = path.join(env.RESNET_NATIVE_CACHE, `torch-${DEFAULT_TORCH_VERSION}`);
  assert.equal(found.root, path.join(dir, 'torch'));
  assert.match(fs.readFileSync(path.join(dir, 'pip-args'), 'utf8'), new RegExp(`--no-deps .*torch==${DEFAULT_TORCH_VERSION.replace(/\./g, '\\.')}`));
  assert.match(logs.join('\n'), /provisioning libtorch/);
  assert.deepEqual(fs.readdirSync(env.RESNET_NATIVE_CACHE), [`torch-${DEFAULT_TORCH_VERSION}`], 'no partial folder left');
});

test('when everything fails: one message with the three ways, and no partial download left', () => {
  const failing = nothing({ RESNET_NATIVE_PYTHON: fakePython('pip-fail', { pip: 'fail' }) });
  assert.throws(
    () => findLibtorch({ env: failing, log: quiet }),
    (e: Error) => {
      assert.equal(e.name, 'LibtorchNotFoundError');
      assert.match(e.message, /could not find libtorch/);
      assert.match(e.message, /pip install torch==\S+ failed/);
      assert.match(e.message, /1\. Point LIBTORCH/);
      assert.match(e.message, /2\. Install PyTorch/);
      assert.match(e.message, /3\. Allow automatic provisioning/);
      return true;
    },
  );
  assert.deepEqual(fs.readdirSync(failing.RESNET_NATIVE_CACHE), []);
  const off = nothing({ RESNET_NATIVE_NO_PROVISION: '1' });
  assert.throws(() => findLibtorch({ env: off, log: quiet }), /automatic provisioning is turned off/);
});

test('a build folder configured against another libtorch has its CMake cache removed, not reused', () => {
  const dir = tempDir('rn-cache-');
  const cache = path.join(dir, 'CMakeCache.txt');
  const torchDir = '/opt/a/torch/share/cmake/Torch';
  const write = (torch: string, caffe2: string) => fs.writeFileSync(cache, `# comment\nTorch_DIR:PATH=${torch}\nCaffe2_DIR:PATH=${caffe2}\n`);
  assert.equal(forgetOtherLibtorch(dir, torchDir), false, 'no cache: nothing to do');
  write(torchDir, '/opt/a/torch/share/cmake/Caffe2');
  assert.equal(forgetOtherLibtorch(dir, torchDir), false, 'the same libtorch: the cache stays');
  assert.ok(fs.existsSync(cache));
  write(torchDir, '/opt/b/torch/share/cmake/Caffe2');
  assert.equal(forgetOtherLibtorch(dir, torchDir), true, "Torch_DIR switched but Caffe2_DIR is the old one's");
  assert.ok(!fs.existsSync(cache));
  write('/opt/b/torch/share/cmake/Torch', '/opt/b/torch/share/cmake/Caffe2');
  assert.equal(forgetOtherLibtorch(dir, torchDir), true, 'another libtorch');
  assert.ok(!fs.existsSync(cache));
});
