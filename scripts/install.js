'use strict';
// `npm install` step: find (or provision) libtorch, then build the addon with cmake-js.
// Environment: LIBTORCH, Torch_DIR, RESNET_NATIVE_TORCH_VERSION, RESNET_NATIVE_NO_PROVISION,
// RESNET_NATIVE_CACHE, RESNET_NATIVE_PYTHON (see scripts/libtorch.js), RESNET_NATIVE_JOBS
// (parallel compile jobs; each needs about 1.5 GB), TORCH_CUDA_ARCH_LIST (CUDA builds),
// RESNET_NATIVE_KEEP_BUILD=1 (keep the whole build folder of an installed package).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { findLibtorch, cudaCmakeDefinitions, forgetOtherLibtorch } = require('./libtorch');

function main() {
  let torch;
  try {
    torch = findLibtorch();
  } catch (err) {
    process.stderr.write(`\n${err.message}\n\n`);
    return 1;
  }
  process.stderr.write(
    `resnet-native: building against libtorch ${torch.version ?? '(unknown version)'} ` +
      `(${torch.cuda ? 'CUDA' : 'CPU'} build, from ${torch.source}) at ${torch.root}\n`,
  );
  const defs = { Torch_DIR: torch.cmakeDir, ...cudaCmakeDefinitions(torch) };
  const env = { ...process.env };
  // The CUDA arch probe cannot run on a machine without a GPU unless an arch list is given.
  if (torch.cuda && !env.TORCH_CUDA_ARCH_LIST) env.TORCH_CUDA_ARCH_LIST = '8.0;9.0';
  const jobs = Number(env.RESNET_NATIVE_JOBS) || Math.max(1, Math.min(4, os.availableParallelism()));
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const common = ['--directory', path.resolve(__dirname, '..')];
  // --out DIR builds elsewhere than build/ (scripts/check-cuda-build.js keeps the CPU build intact).
  const out = process.argv.indexOf('--out');
  const buildDir = out !== -1 && process.argv[out + 1] ? path.resolve(process.argv[out + 1]) : path.resolve(__dirname, '..', 'build');
  common.push('--out', buildDir);
  if (forgetOtherLibtorch(buildDir, torch.cmakeDir)) {
    process.stderr.write(`resnet-native: ${buildDir} was configured against another libtorch; configuring it afresh\n`);
  }
  // Configure every time: `cmake-js build` alone keeps a stale cache when libtorch changed.
  const configure = [cmakeJs, 'configure', ...common];
  for (const [key, value] of Object.entries(defs)) configure.push(`--CD${key}=${value}`);
  let res = spawnSync(process.execPath, configure, { stdio: 'inherit', env });
  if (res.status === 0) {
    res = spawnSync(process.execPath, [cmakeJs, 'build', ...common, '--parallel', String(jobs)], { stdio: 'inherit', env });
  }
  if (res.status !== 0) {
    process.stderr.write(
      '\nresnet-native: building the native addon failed (see the compiler output above).\n' +
        'It needs cmake >= 3.18 and a C++20 compiler (g++ >= 10); see README.md "Install".\n',
    );
    return res.status || 1;
  }
  if (out === -1 && installedAsDependency() && process.env.RESNET_NATIVE_KEEP_BUILD !== '1') pruneBuild(buildDir);
  return 0;
}

/** Whether this package sits in someone's node_modules (not a checkout being developed). */
function installedAsDependency() {
  return path.resolve(__dirname, '..').split(path.sep).includes('node_modules');
}

/**
 * Keeps only what loading needs (build/Release/resnet_native.node): the rest of the build folder
 * is the compiler's (objects and a ~700 MB precompiled header) and every project depending on
 * this package would carry it. `npm rebuild` configures and builds afresh without it.
 */
function pruneBuild(buildDir) {
  let freed = 0;
  const sizeOf = (p) => {
    const st = fs.lstatSync(p);
    return st.isDirectory() ? fs.readdirSync(p).reduce((n, e) => n + sizeOf(path.join(p, e)), 0) : st.size;
  };
  for (const entry of fs.readdirSync(buildDir)) {
    const full = path.join(buildDir, entry);
    if (entry === 'Release') {
      for (const inner of fs.readdirSync(full)) {
        if (inner === 'resnet_native.node') continue;
        freed += sizeOf(path.join(full, inner));
        fs.rmSync(path.join(full, inner), { recursive: true, force: true });
      }
      continue;
    }
    freed += sizeOf(full);
    fs.rmSync(full, { recursive: true, force: true });
  }
  process.stderr.write(`resnet-native: built; removed ${Math.round(freed / 2 ** 20)} MB of intermediate build files (RESNET_NATIVE_KEEP_BUILD=1 keeps them)\n`);
}

process.exitCode = main();
