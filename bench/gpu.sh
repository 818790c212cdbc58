#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build the addon against that machine's PyTorch (its wheel is a
# CUDA libtorch) and run the benchmark against PyTorch in the same run, one configuration after
# another (each option on, both implementations alike; bf16 as autocast, and as a bf16 model with
# float32 BatchNorm), then print one table whose last column compares with PyTorch eager fp32
# (the issue's goals: eager >= 1.0x, channels-last + bf16 + CUDA graphs >= 1.5x). Needs node (NODE=/path/to/node), cmake, g++ and the CUDA toolkit headers
# (CUDA_HOME, default /usr/local/cuda); node_modules installed (or carried).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE="${NODE:-node}"
PYTHON="${PYTHON:-python3}"
STEPS="${STEPS:-20}"
REPEATS="${REPEATS:-3}"
prefix="$("$PYTHON" -c 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)')"
echo "gpu.sh: PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
LIBTORCH="" Torch_DIR="$prefix/Torch" RESNET_NATIVE_JOBS="${RESNET_NATIVE_JOBS:-8}" "$NODE" scripts/install.js --out build-gpu
"$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
export RESNET_NATIVE_BINARY="$PWD/build-gpu/Release/resnet_native.node"
"$NODE" dist/cli/index.js doctor

out="${OUT:-$(mktemp -d)}"
configs=("eager-fp32:" "bf16:--amp bfloat16" "channels-last:--channels-last" "cuda-graph:--cuda-graph"
  "channels-last+bf16+cuda-graph:--channels-last --amp bfloat16 --cuda-graph"
  "channels-last+bf16-model+cuda-graph:--channels-last --half bfloat16 --cuda-graph")
for entry in "${configs[@]}"; do
  name="${entry%%:*}"
  flags="${entry#*:}"
  echo "gpu.sh: $name" >&2
  # shellcheck disable=SC2086
  "$NODE" dist/cli/index.js bench --device cuda --python "$PYTHON" --batch 32,256 --steps "$STEPS" --warmup 5 \
    --repeats "$REPEATS" $flags --json > "$out/$name.json"
done
"$NODE" scripts/gpu-table.js "$out" "${configs[@]%%:*}"
