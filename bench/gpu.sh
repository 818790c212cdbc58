#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build the addon against that machine's PyTorch (its wheel is a
# CUDA libtorch) and run the benchmark against PyTorch eager in the same run, fp32 then bf16
# autocast, printing one table each. Needs node (NODE=/path/to/node), cmake, g++ and the CUDA
# toolkit headers (CUDA_HOME, default /usr/local/cuda); node_modules installed (or carried).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE="${NODE:-node}"
PYTHON="${PYTHON:-python3}"
prefix="$("$PYTHON" -c 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)')"
echo "gpu.sh: PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
LIBTORCH="" Torch_DIR="$prefix/Torch" RESNET_NATIVE_JOBS="${RESNET_NATIVE_JOBS:-8}" "$NODE" scripts/install.js --out build-gpu
"$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
export RESNET_NATIVE_BINARY="$PWD/build-gpu/Release/resnet_native.node"
"$NODE" dist/cli/index.js doctor
for amp in "" bfloat16; do
  echo
  "$NODE" dist/cli/index.js bench --device cuda --python "$PYTHON" --batch 32,256 --steps 20 --warmup 5 --repeats 3 ${amp:+--amp "$amp"}
done
