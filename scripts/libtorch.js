'use strict';
// Finds a libtorch to build against, in the documented order:
//   1. LIBTORCH   an unpacked libtorch folder (its cmake config is share/cmake/Torch)
//   2. Torch_DIR  a folder holding TorchConfig.cmake
//   3. the Python `torch` package (python3 -c "import torch")
//   4. automatic provisioning: pip install --no-deps --target <cache> torch==<version>
// An explicit setting that is wrong is an error, never silently skipped.
//
// Usage as a program: `node scripts/libtorch.js [--json|--cmake-dir|--include|--lib-dir]`.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const DEFAULT_TORCH_VERSION = '2.13.0';

class LibtorchNotFoundError extends Error {
  constructor(message) {
    super(message);
    this.name = 'LibtorchNotFoundError';
  }
}

function isTruthy(value) {
  return value !== undefined && value !== '' && !/^(0|false|no|off)$/i.test(value);
}

function cacheRoot(env) {
  if (env.RESNET_NATIVE_CACHE) return path.resolve(env.RESNET_NATIVE_CACHE);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'resnet-native');
}

function pythonExecutable(env) {
  return env.RESNET_NATIVE_PYTHON || 'python3';
}

/** Describes a libtorch given the folder that holds TorchConfig.cmake. */
function describe(cmakeDir, source) {
  const configFile = path.join(cmakeDir, 'TorchConfig.cmake');
  if (!fs.existsSync(configFile)) return null;
  // <root>/share/cmake/Torch -> <root>
  const root = path.resolve(cmakeDir, '..', '..', '..');
  const libDir = path.join(root, 'lib');
  const includeDir = path.join(root, 'include');
  const cuda = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  let version = null;
  // The header moved between releases; read whichever exists.
  for (const rel of ['torch/headeronly/version.h', 'torch/csrc/api/include/torch/version.h']) {
    const header = path.join(includeDir, rel);
    const m = fs.existsSync(header) && /#define\s+TORCH_VERSION\s+(?:\\\s*)?"([^"]+)"/.exec(fs.readFileSync(header, 'utf8'));
    if (m) {
      version = m[1];
      break;
    }
  }
  return {
    source,
    cmakeDir: path.resolve(cmakeDir),
    root,
    libDir,
    includeDirs: [includeDir, path.join(includeDir, 'torch', 'csrc', 'api', 'include')],
    cuda,
    version,
  };
}

function fromFolderSetting(name, value, toCmakeDir) {
  const cmakeDir = toCmakeDir(path.resolve(value));
  const found = describe(cmakeDir, name);
  if (!found) {
    throw new LibtorchNotFoundError(
      `${name}=${value} does not point at a libtorch: ${path.join(cmakeDir, 'TorchConfig.cmake')} does not exist.\n` +
        (name === 'LIBTORCH'
          ? 'LIBTORCH must be an unpacked libtorch folder (the one holding include/, lib/ and share/).'
          : 'Torch_DIR must be the folder holding TorchConfig.cmake (for example <libtorch>/share/cmake/Torch).'),
    );
  }
  return found;
}

function fromPython(env) {
  const py = pythonExecutable(env);
  const res = spawnSync(py, ['-c', 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)'], {
    encoding: 'utf8',
    env,
  });
  if (res.error || res.status !== 0) return null;
  const prefix = res.stdout.trim().split('\n').pop();
  return prefix ? describe(path.join(prefix, 'Torch'), 'python') : null;
}

function provisionedDir(env) {
  const version = env.RESNET_NATIVE_TORCH_VERSION || DEFAULT_TORCH_VERSION;
  return { version, dir: path.join(cacheRoot(env), `torch-${version}`) };
}

function fromCache(env) {
  const { dir } = provisionedDir(env);
  return describe(path.join(dir, 'torch', 'share', 'cmake', 'Torch'), 'provisioned');
}

/** pip-installs the torch wheel into the cache; the folder appears only when complete. */
function provision(env, log) {
  const { version, dir } = provisionedDir(env);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const staging = `${dir}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  const py = pythonExecutable(env);
  const args = ['-m', 'pip', 'install', '--no-deps', '--no-input', '--target', staging, `torch==${version}`];
  log(`resnet-native: provisioning libtorch: ${py} ${args.join(' ')}`);
  const res = spawnSync(py, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (res.error || res.status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    const why = res.error ? res.error.message : `pip exited with status ${res.status}`;
    return { error: `pip install torch==${version} failed (${why})` };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return { found: fromCache(env) };
}

function notFoundMessage(reasons) {
  return [
    'resnet-native could not find libtorch.',
    ...reasons.map((r) => `  - ${r}`),
    'Possible solutions (any one of them):',
    '  1. Point LIBTORCH at an unpacked libtorch folder (or Torch_DIR at its share/cmake/Torch).',
    '  2. Install PyTorch for python3: pip install torch   (its bundled libtorch is used).',
    `  3. Allow automatic provisioning (needs python3 with pip): unset RESNET_NATIVE_NO_PROVISION;`,
    `     RESNET_NATIVE_TORCH_VERSION picks the version (default ${DEFAULT_TORCH_VERSION}).`,
  ].join('\n');
}

/**
 * Returns the libtorch to use, provisioning it if allowed.
 * Throws LibtorchNotFoundError with the ways to get one when everything fails.
 */
function findLibtorch({ env = process.env, log = (m) => process.stderr.write(`${m}\n`), provisionAllowed } = {}) {
  if (env.LIBTORCH) {
    return fromFolderSetting('LIBTORCH', env.LIBTORCH, (d) => path.join(d, 'share', 'cmake', 'Torch'));
  }
  if (env.Torch_DIR) return fromFolderSetting('Torch_DIR', env.Torch_DIR, (d) => d);
  const reasons = ['LIBTORCH and Torch_DIR are not set.'];
  const python = fromPython(env);
  if (python) return python;
  reasons.push(`${pythonExecutable(env)} cannot import torch.`);
  const cached = fromCache(env);
  if (cached) return cached;
  const allowed = provisionAllowed ?? !isTruthy(env.RESNET_NATIVE_NO_PROVISION);
  if (!allowed) {
    reasons.push('automatic provisioning is turned off (RESNET_NATIVE_NO_PROVISION is set).');
  } else {
    const result = provision(env, log);
    if (result.found) return result.found;
    reasons.push(result.error || 'provisioning finished without a usable libtorch.');
  }
  throw new LibtorchNotFoundError(notFoundMessage(reasons));
}

/** Extra cmake definitions that the CUDA build of libtorch needs on a machine without a GPU. */
function cudaCmakeDefinitions(torch, env = process.env) {
  if (!torch.cuda) return {};
  const defs = {};
  const cudaRoot = env.CUDA_HOME || env.CUDA_PATH || '/usr/local/cuda';
  if (fs.existsSync(cudaRoot)) {
    defs.CUDAToolkit_ROOT = cudaRoot;
    defs.CUDA_TOOLKIT_ROOT_DIR = cudaRoot;
  }
  // The wheel ships NVRTC in site-packages/nvidia/cu*/lib rather than in the toolkit.
  const sitePackages = path.dirname(torch.root);
  const nvidia = path.join(sitePackages, 'nvidia');
  if (fs.existsSync(nvidia)) {
    const includes = [];
    for (const sub of fs.readdirSync(nvidia).sort()) {
      const include = path.join(nvidia, sub, 'include');
      if (fs.existsSync(include)) includes.push(include);
      const lib = path.join(nvidia, sub, 'lib');
      if (!fs.existsSync(lib) || defs.CUDA_nvrtc_LIBRARY) continue;
      const nvrtc = fs.readdirSync(lib).find((f) => /^libnvrtc\.so\.\d+$/.test(f));
      if (nvrtc) defs.CUDA_nvrtc_LIBRARY = path.join(lib, nvrtc);
    }
    // Headers such as cusparse.h, which ATen's CUDA headers include, come with the wheel too.
    if (includes.length > 0) defs.RN_CUDA_INCLUDE_DIRS = includes.join(';');
  }
  return defs;
}

/** Removes buildDir's CMake cache when it was configured against another libtorch than the one
 * at cmakeDir (find_package results such as Caffe2_DIR stay cached otherwise, so the build would
 * mix two libtorch versions). Returns whether it did. */
function forgetOtherLibtorch(buildDir, cmakeDir) {
  const cacheFile = path.join(buildDir, 'CMakeCache.txt');
  if (!fs.existsSync(cacheFile)) return false;
  const cache = fs.readFileSync(cacheFile, 'utf8');
  const cached = (name) => new RegExp(`^${name}:[A-Z]+=(.*)$`, 'm').exec(cache)?.[1] ?? '';
  const same = (a, b) => a !== '' && path.resolve(a) === path.resolve(b);
  // TorchConfig.cmake finds Caffe2 beside itself: both must be this libtorch's.
  const caffe2 = cached('Caffe2_DIR');
  if (same(cached('Torch_DIR'), cmakeDir) && (caffe2 === '' || same(caffe2, path.join(cmakeDir, '..', 'Caffe2')))) return false;
  fs.rmSync(cacheFile, { force: true });
  return true;
}

module.exports = {
  forgetOtherLibtorch,
  DEFAULT_TORCH_VERSION,
  LibtorchNotFoundError,
  findLibtorch,
  cudaCmakeDefinitions,
  describe,
  cacheRoot,
};

if (require.main === module) {
  try {
    const torch = findLibtorch();
    const flag = process.argv[2] || '--json';
    const out = {
      '--json': () => JSON.stringify(torch, null, 2),
      '--cmake-dir': () => torch.cmakeDir,
      '--include': () => torch.includeDirs.join(' '),
      '--lib-dir': () => torch.libDir,
      // For binding.gyp: the same flags CMakeLists.txt derives from TorchConfig.cmake.
      '--gyp-libraries': () =>
        [
          `-L${torch.libDir}`,
          `-Wl,-rpath,${torch.libDir}`,
          ...(torch.cuda ? ['-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed'] : []),
          '-ltorch',
          '-ltorch_cpu',
          '-lc10',
        ].join(' '),
      // gloo's headers (Debian: libgloo-dev) turn on distributed training, as in CMakeLists.txt
      '--gyp-defines': () =>
        [torch.cuda ? 'RN_WITH_CUDA=1' : '', fs.existsSync('/usr/include/gloo/config.h') && !process.env.RESNET_NATIVE_NO_DISTRIBUTED ? 'RN_WITH_GLOO USE_C10D_GLOO USE_DISTRIBUTED' : '']
          .filter(Boolean)
          .join(' '),
    }[flag];
    if (!out) throw new Error(`unknown option ${flag}; use --json, --cmake-dir, --include, --lib-dir, --gyp-libraries or --gyp-defines`);
    process.stdout.write(`${out()}\n`);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
