#!/usr/bin/env bash
# Packs what a GPU machine without Node.js or network needs to build, test and benchmark
# resnet-native (bench/gpu.sh unpacks it): this machine's node binary, the production
# node_modules plus the test runner (tsx), and the compiled dist/, xz-compressed into .device/
# (git-ignored). The whole folder stays well under the 64 MiB a lent GPU machine is sent.
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
# What dist/ was compiled from: bench/gpu.sh refuses a bundle older than the sources it runs with.
bash scripts/sources-digest.sh > "$out/sources.sha256"
du -b "$out"/* | awk '{ total += $1; printf "device-bundle: %-28s %6.1f MiB\n", $2, $1 / 1048576 } END { printf "device-bundle: total %.1f MiB\n", total / 1048576 }'
