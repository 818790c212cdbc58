#!/usr/bin/env bash
# Packs what a GPU machine without Node.js or network needs to build, test and benchmark
# resnet-native (bench/gpu.sh unpacks it): this machine's node binary, the production
# node_modules plus the test runner (tsx), and the compiled dist/, xz-compressed into .device/
# (git-ignored). The whole folder stays well under the 64 MiB a lent GPU machine is sent.
# With DEVICE_TORCH_PYTHON (a Python whose torch is the CUDA build the GPU machine has, e.g. a venv
# with `pip install torch==2.11.0`), the addon is also compiled here against it, so that the GPU
# machine spends its time running rather than compiling (bench/gpu.sh uses it when its PyTorch has
# that version, and builds otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# The production dependencies and tsx (the test runner), at the lockfile's versions, without
# install scripts (nothing is built here): the other dev dependencies are dropped first.
cp package.json package-lock.json "$stage/"
node -e "
  const fs = require('fs');
  const file = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  pkg.devDependencies = { tsx: pkg.devDependencies.tsx };
  delete pkg.scripts;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2));
" "$stage/package.json"
(cd "$stage" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)

npx tsc -p tsconfig.json
rm -rf "$out"
mkdir -p "$out"
xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
tar -C "$stage" -cJf "$out/node_modules.tar.xz" node_modules
tar -cJf "$out/dist.tar.xz" dist
# gloo's headers (Debian's libgloo-dev here; the torch wheels lack them), so that the GPU build has
# distributed training, and with it the NCCL backend to test
if [ -f /usr/include/gloo/config.h ]; then tar -C /usr/include -cJf "$out/gloo-include.tar.xz" gloo; fi
if [ -n "${DEVICE_TORCH_PYTHON:-}" ]; then
  prefix="$("$DEVICE_TORCH_PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
  LIBTORCH="" Torch_DIR="$prefix/Torch" TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" node scripts/install.js --out build-gpu-prebuilt
  mkdir -p "$out/prebuilt"
  cp build-gpu-prebuilt/Release/resnet_native.node "$out/prebuilt/"
  "$DEVICE_TORCH_PYTHON" -c 'import torch; print(torch.__version__)' > "$out/prebuilt/torch-version"
fi
# What dist/ was compiled from: bench/gpu.sh refuses a bundle older than the sources it runs with.
bash scripts/sources-digest.sh > "$out/sources.sha256"
find "$out" -type f -exec du -b {} + | sort -k2 | awk '{ total += $1; printf "device-bundle: %-28s %6.1f MiB\n", $2, $1 / 1048576 } END { printf "device-bundle: total %.1f MiB\n", total / 1048576 }'
