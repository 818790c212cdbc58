'use strict';
// Compiles the addon against the CUDA build of libtorch (into build-cuda/, leaving build/ alone)
// and checks that it links libtorch_cuda and loads; so CUDA-only code is compiled on every
// change even on machines without a GPU.
// Finds the CUDA libtorch through CUDA_TORCH_DIR (a folder holding TorchConfig.cmake) or the
// torch package of RESNET_NATIVE_CUDA_PYTHON (default python3). Without one it says so and
// exits 0, unless REQUIRE_CUDA_BUILD=1.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { describe } = require('./libtorch');

const root = path.resolve(__dirname, '..');

function findCudaTorch() {
  if (process.env.CUDA_TORCH_DIR) return describe(process.env.CUDA_TORCH_DIR, 'CUDA_TORCH_DIR');
  const py = process.env.RESNET_NATIVE_CUDA_PYTHON || 'python3';
  const res = spawnSync(py, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], { encoding: 'utf8' });
  if (res.status !== 0) return null;
  return describe(path.join(res.stdout.trim(), 'Torch'), py);
}

function fail(message) {
  process.stderr.write(`check:cuda-build: ${message}\n`);
  process.exit(1);
}

const torch = findCudaTorch();
if (!torch || !torch.cuda) {
  const message = 'no CUDA build of libtorch found (set CUDA_TORCH_DIR or RESNET_NATIVE_CUDA_PYTHON)';
  if (process.env.REQUIRE_CUDA_BUILD === '1') fail(message);
  process.stdout.write(`check:cuda-build: skipped: ${message}\n`);
  process.exit(0);
}

const build = spawnSync(process.execPath, [path.join(__dirname, 'install.js'), '--out', 'build-cuda'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, LIBTORCH: '', Torch_DIR: torch.cmakeDir },
});
if (build.status !== 0) fail('building against the CUDA libtorch failed');

const addon = path.join(root, 'build-cuda', 'Release', 'resnet_native.node');
const ldd = spawnSync('ldd', [addon], { encoding: 'utf8' });
if (!/libtorch_cuda\.so => \//.test(ldd.stdout)) fail(`${addon} does not link libtorch_cuda.so:\n${ldd.stdout}`);

const doctor = spawnSync(process.execPath, [path.join(root, 'dist', 'cli', 'index.js'), 'doctor', '--json'], {
  encoding: 'utf8',
  env: { ...process.env, RESNET_NATIVE_BINARY: addon },
});
if (doctor.status !== 0) fail(`doctor failed with the CUDA build:\n${doctor.stderr}`);
const report = JSON.parse(doctor.stdout);
if (report.build !== 'cuda') fail(`doctor reports a ${report.build} build`);
if (!report.cudaAvailable && !report.cudaUnavailableReason) fail('CUDA unavailable without a reason');
process.stdout.write(
  `check:cuda-build: ok: libtorch ${report.libtorchVersion} CUDA build links and loads; ` +
    `CUDA ${report.cudaAvailable ? `available (${report.cudaDevices.join(', ')})` : `unavailable here: ${report.cudaUnavailableReason}`}\n`,
);
