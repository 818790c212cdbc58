#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build the addon against that machine's PyTorch (its wheel is a
# CUDA libtorch), run the GPU tests, and run the benchmark against PyTorch in the same run, one
# configuration after another (each option on, both implementations alike; bf16 as autocast, and
# as a bf16 model with float32 BatchNorm); then print one table whose last column compares with
# PyTorch eager fp32 (the issue's goals: eager >= 1.0x, channels-last + bf16 + CUDA graphs >= 1.5x).
#
# Needs cmake, g++, the CUDA toolkit headers (CUDA_HOME, default /usr/local/cuda) and Python with
# torch + torchvision (PYTHON, default python3). Node.js and node_modules: NODE=/path/to/node and
# an installed node_modules, or, on a machine without them (a lent GPU machine has neither), the
# folder .device/ made here by scripts/device-bundle.sh, which this script unpacks.
#
# Environment: CONFIGS (names, default all, the two goal configurations first; 'none' skips the
# benchmark), TESTS=0 skips the GPU tests, STEPS (20), REPEATS (1), BATCHES (32,256),
# BENCH_DEVICE (cuda; cpu for a dry run of this script without a GPU).
# Results go to build-gpu/bench/ (kept between calls on the same machine) and to $OUT if set.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STEPS="${STEPS:-20}"
REPEATS="${REPEATS:-1}"
BATCHES="${BATCHES:-32,256}"
started=$SECONDS
say() { echo "gpu.sh [$((SECONDS - started))s]: $*" >&2; }

# --- Node.js: the given one, the one on PATH, or the carried bundle --------------------------
if [ -z "${NODE:-}" ]; then
  if command -v node >/dev/null; then
    NODE="$(command -v node)"
  elif [ -f .device/node.xz ]; then
    mkdir -p /tmp/rn-device/bin
    xz -dc .device/node.xz > /tmp/rn-device/bin/node
    chmod +x /tmp/rn-device/bin/node
    NODE=/tmp/rn-device/bin/node
  else
    echo "gpu.sh: no node on PATH and no .device/ bundle: set NODE or run scripts/device-bundle.sh first" >&2
    exit 1
  fi
fi
# CMakeLists.txt asks `node` where node-addon-api's headers are.
export PATH="$(dirname "$NODE"):$PATH"
if [ ! -d node_modules ] && [ -f .device/node_modules.tar.xz ]; then tar -xJf .device/node_modules.tar.xz; fi
if [ -x node_modules/typescript/bin/tsc ]; then
  "$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
elif [ -f .device/dist.tar.xz ]; then
  if [ "$(bash scripts/sources-digest.sh)" != "$(cat .device/sources.sha256 2>/dev/null)" ]; then
    echo "gpu.sh: .device/ was packed from other sources than these (its dist/ would be stale): run scripts/device-bundle.sh again" >&2
    exit 1
  fi
  tar -xJf .device/dist.tar.xz
fi
say "node $("$NODE" --version)"

# --- the addon, against this machine's PyTorch ------------------------------------------------
if [ -f .device/gloo-include.tar.xz ] && [ ! -f /usr/include/gloo/config.h ]; then
  mkdir -p /tmp/rn-device/include && tar -C /tmp/rn-device/include -xJf .device/gloo-include.tar.xz
  export CMAKE_INCLUDE_PATH="/tmp/rn-device/include${CMAKE_INCLUDE_PATH:+:$CMAKE_INCLUDE_PATH}"
fi
prefix="$("$PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
say "PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(no GPU)")')"
LIBTORCH="" Torch_DIR="$prefix/Torch" RESNET_NATIVE_JOBS="${RESNET_NATIVE_JOBS:-8}" "$NODE" scripts/install.js --out build-gpu
export RESNET_NATIVE_BINARY="$PWD/build-gpu/Release/resnet_native.node"
"$NODE" dist/cli/index.js doctor
results=build-gpu/bench
mkdir -p "$results"
copy_out() { if [ -n "${OUT:-}" ]; then cp "$@" "$OUT/"; fi; }

# --- GPU tests (CUDA graphs: replay, graphed vs eager losses, training end to end; loss scaling; NCCL)
if [ "${TESTS:-1}" != 0 ]; then
  say "GPU tests"
  set +e
  "$NODE" --import tsx --test --test-concurrency=1 test/cuda-graph.test.ts test/grad-scaler.test.ts test/tensor.test.ts 2>&1 | tee "$results/tests.log"
  tests_status=${PIPESTATUS[0]}
  # the NCCL process group (a group of one rank: allReduce, broadcast, one DDP step)
  "$NODE" --import tsx --test --test-name-pattern=NCCL test/distributed.test.ts 2>&1 | tee -a "$results/tests.log"
  [ "${PIPESTATUS[0]}" = 0 ] || tests_status=1
  set -e
  copy_out "$results/tests.log"
  say "GPU tests exit status $tests_status"
fi

# --- benchmark ---------------------------------------------------------------------------
all=("eager-fp32:" "channels-last+bf16+cuda-graph:--channels-last --amp bfloat16 --cuda-graph"
  "bf16:--amp bfloat16" "channels-last:--channels-last" "cuda-graph:--cuda-graph"
  "channels-last+bf16-model+cuda-graph:--channels-last --half bfloat16 --cuda-graph")
wanted="${CONFIGS:-$(printf '%s ' "${all[@]%%:*}")}"
if [ "$wanted" != none ]; then
  for entry in "${all[@]}"; do
    name="${entry%%:*}"
    flags="${entry#*:}"
    [[ " $wanted " == *" $name "* ]] || continue
    say "bench $name"
    # shellcheck disable=SC2086
    "$NODE" dist/cli/index.js bench --suite step --device "${BENCH_DEVICE:-cuda}" --python "$PYTHON" --batch "$BATCHES" --steps "$STEPS" --warmup 5 \
      --repeats "$REPEATS" $flags --json > "$results/$name.json.part"
    mv "$results/$name.json.part" "$results/$name.json"
    copy_out "$results/$name.json"
  done
  # The table over every configuration measured on this machine so far, against eager-fp32.
  present=()
  for entry in "${all[@]}"; do
    if [ -f "$results/${entry%%:*}.json" ]; then present+=("${entry%%:*}"); fi
  done
  if [ -f "$results/eager-fp32.json" ]; then
    "$NODE" scripts/gpu-table.js "$results" "${present[@]}" | tee "$results/table.txt"
    copy_out "$results/table.txt"
  else
    say "no eager-fp32 result yet: no table (it is the baseline of the last column)"
  fi
fi
say "done"
[ "${tests_status:-0}" = 0 ]
