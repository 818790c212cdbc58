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
# benchmark), TESTS=0 skips the GPU tests, TRAIN=0 skips the end-to-end `train` comparison, STEPS
# (20), REPEATS (1), BATCHES (32,256: the goal configurations; the others run at 256 only),
# BENCH_DEVICE (cuda; cpu for a dry run of this script without a GPU), DEADLINE_S (540): a stage
# that would not end by then is skipped (a lent machine's call is cut at 600 s; what has been
# measured by then still comes back). Results go to build-gpu/bench/ (kept between calls on the
# same machine) and, as gpu-results.tar, to $OUT if set.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STEPS="${STEPS:-20}"
REPEATS="${REPEATS:-1}"
BATCHES="${BATCHES:-32,256}"
DEADLINE_S="${DEADLINE_S:-540}"
started=$SECONDS
say() { echo "gpu.sh [$((SECONDS - started))s]: $*" >&2; }
skipped=()
# stage NAME SECONDS COMMAND...: runs COMMAND unless fewer than SECONDS (its expected length) are
# left before the deadline; a stage that fails or runs out of time is reported, the next one runs.
stage() {
  local name=$1 needs=$2 left
  shift 2
  left=$((DEADLINE_S - (SECONDS - started)))
  if [ "$left" -lt "$needs" ]; then
    say "skipped $name: ${left}s left, it needs about ${needs}s"
    skipped+=("$name")
    return 0
  fi
  say "$name"
  local status=0
  # timeout signals the stage's whole process group (benchmark children included)
  timeout "$left" bash -c '"$@"' stage "$@" || status=$?
  if [ "$status" != 0 ]; then say "$name: exit status $status"; skipped+=("$name (status $status)"); fi
  return 0
}

# xz-compressed bundle files, through Python's lzma where the machine has no xz
unxz_to_stdout() {
  if command -v xz >/dev/null; then xz -dc "$1"; else "$PYTHON" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
untar_xz() { # FILE [DIR]
  unxz_to_stdout "$1" | tar -C "${2:-.}" -xf -
}

# --- Node.js: the given one, the one on PATH, or the carried bundle --------------------------
if [ -z "${NODE:-}" ]; then
  if command -v node >/dev/null; then
    NODE="$(command -v node)"
  elif [ -f .device/node.xz ]; then
    mkdir -p /tmp/rn-device/bin
    unxz_to_stdout .device/node.xz > /tmp/rn-device/bin/node
    chmod +x /tmp/rn-device/bin/node
    NODE=/tmp/rn-device/bin/node
  else
    echo "gpu.sh: no node on PATH and no .device/ bundle: set NODE or run scripts/device-bundle.sh first" >&2
    exit 1
  fi
fi
# CMakeLists.txt asks `node` where node-addon-api's headers are.
export PATH="$(dirname "$NODE"):$PATH"
if [ ! -d node_modules ] && [ -f .device/node_modules.tar.xz ]; then untar_xz .device/node_modules.tar.xz; fi
if [ -x node_modules/typescript/bin/tsc ]; then
  "$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
elif [ -f .device/dist.tar.xz ]; then
  if [ "$(bash scripts/sources-digest.sh)" != "$(cat .device/sources.sha256 2>/dev/null)" ]; then
    echo "gpu.sh: .device/ was packed from other sources than these (its dist/ would be stale): run scripts/device-bundle.sh again" >&2
    exit 1
  fi
  untar_xz .device/dist.tar.xz
fi
say "node $("$NODE" --version)"

# --- the addon, against this machine's PyTorch ------------------------------------------------
if [ -f .device/gloo-include.tar.xz ] && [ ! -f /usr/include/gloo/config.h ]; then
  mkdir -p /tmp/rn-device/include && untar_xz .device/gloo-include.tar.xz /tmp/rn-device/include
  export CMAKE_INCLUDE_PATH="/tmp/rn-device/include${CMAKE_INCLUDE_PATH:+:$CMAKE_INCLUDE_PATH}"
fi
read -r torch_version torch_lib < <("$PYTHON" -c 'import os, torch; print(torch.__version__, os.path.join(os.path.dirname(torch.__file__), "lib"))')
say "PyTorch $torch_version, $("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(no GPU)")')"
export RESNET_NATIVE_BINARY="$PWD/build-gpu/Release/resnet_native.node"
cuda_addon_loads() {
  "$NODE" dist/cli/index.js doctor --json 2>/dev/null | "$NODE" -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const r = JSON.parse(s); process.exit(r.build === "cuda" && (r.cudaAvailable || process.env.BENCH_DEVICE === "cpu") ? 0 : 1);
    });'
}
# An addon built beforehand against this very PyTorch (scripts/device-bundle.sh with
# DEVICE_TORCH_PYTHON) saves the compile; its libtorch is found through LD_LIBRARY_PATH.
prebuilt=0
if [ -f .device/prebuilt/resnet_native.node ] && [ "$(cat .device/prebuilt/torch-version)" = "$torch_version" ]; then
  mkdir -p build-gpu/Release
  cp .device/prebuilt/resnet_native.node "$RESNET_NATIVE_BINARY"
  # the addon needs libcudart itself, which the wheels keep in site-packages/nvidia/*/lib
  nvidia_libs="$(ls -d "$torch_lib"/../../nvidia/*/lib 2>/dev/null | tr '\n' ':')"
  export LD_LIBRARY_PATH="$torch_lib:$nvidia_libs${LD_LIBRARY_PATH:-}"
  if cuda_addon_loads; then prebuilt=1; else say "the prebuilt addon does not load here: building"; rm -f "$RESNET_NATIVE_BINARY"; fi
fi
if [ "$prebuilt" = 0 ]; then
  prefix="$("$PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
  LIBTORCH="" Torch_DIR="$prefix/Torch" RESNET_NATIVE_JOBS="${RESNET_NATIVE_JOBS:-$(nproc)}" "$NODE" scripts/install.js --out build-gpu
fi
say "addon: $([ "$prebuilt" = 1 ] && echo "prebuilt for PyTorch $torch_version" || echo "built here")"
"$NODE" dist/cli/index.js doctor
results=build-gpu/bench
mkdir -p "$results"
# Everything so far, as one file in $OUT (file names with '+' do not come back from a lent machine).
save_results() { if [ -n "${OUT:-}" ]; then tar -C "$results" -cf "$OUT/gpu-results.tar" .; fi; }

# --- GPU tests (CUDA vs CPU, CUDA graphs, loss scaling, GPU-resident data, training end to end; NCCL)
gpu_tests() {
  local status=0
  "$NODE" --import tsx --test --test-concurrency=1 test/cuda.test.ts test/cuda-graph.test.ts test/grad-scaler.test.ts \
    test/tensor.test.ts test/autograd.test.ts 2>&1 | tee "$results/tests.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  # the NCCL process group (a group of one rank: allReduce, broadcast, one DDP step)
  "$NODE" --import tsx --test --test-name-pattern=NCCL test/distributed.test.ts 2>&1 | tee -a "$results/tests.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  save_results
  return $status
}

# --- benchmark ---------------------------------------------------------------------------
# name:batches:flags (batches 'all' = $BATCHES); the two goal configurations first.
all=("eager-fp32:all:" "channels-last+bf16+cuda-graph:all:--channels-last --amp bfloat16 --cuda-graph"
  "bf16:256:--amp bfloat16" "channels-last:256:--channels-last" "cuda-graph:256:--cuda-graph"
  "channels-last+bf16-model+cuda-graph:256:--channels-last --half bfloat16 --cuda-graph")
bench_config() { # name batches flags...
  local name=$1 batches=$2
  shift 2
  "$NODE" dist/cli/index.js bench --suite step --device "${BENCH_DEVICE:-cuda}" --python "$PYTHON" --batch "$batches" --steps "$STEPS" --warmup 5 \
    --repeats "$REPEATS" "$@" --json > "$results/$name.json.part" &&
    mv "$results/$name.json.part" "$results/$name.json" && save_results
}
# The whole `train` command against bench/torch_train.py: ResNet50, batch 256, 2 epochs of a 50,000-image synthetic set.
train_e2e() {
  "$NODE" dist/cli/index.js bench --suite train --device "${BENCH_DEVICE:-cuda}" --python "$PYTHON" --train-arch resnet50 --train-batch 256 \
    --epochs 2 --per-file "${TRAIN_PER_FILE:-10000}" --repeats 1 --workers "${TRAIN_WORKERS:-8}" --json > "$results/train.json.part" &&
    mv "$results/train.json.part" "$results/train.json" && save_results
}
# the stages run in a child bash (see stage)
export NODE PYTHON STEPS REPEATS results OUT
export -f save_results gpu_tests bench_config train_e2e

if [ "${TESTS:-1}" != 0 ]; then
  stage "GPU tests" 60 gpu_tests
  [[ " ${skipped[*]} " != *"GPU tests"* ]] && tests_status=0 || tests_status=1
  say "GPU tests: $([ "$tests_status" = 0 ] && echo passed || echo FAILED)"
fi
wanted="${CONFIGS:-$(printf '%s ' "${all[@]%%:*}")}"
run_config() {
  local entry=$1 name batches flags
  name="${entry%%:*}"
  batches="${entry#*:}"
  flags="${batches#*:}"
  batches="${batches%%:*}"
  [ "$batches" = all ] && batches="$BATCHES"
  [[ " $wanted " == *" $name "* ]] || return 0
  # about 8 s per process (CUDA start, cuDNN autotuning): 2 modes x 2 implementations per batch size
  # shellcheck disable=SC2086
  stage "bench $name" $((35 * $(tr ',' '\n' <<<"$batches" | wc -l))) bench_config "$name" "$batches" $flags
}
if [ "$wanted" != none ]; then
  run_config "${all[0]}"
  run_config "${all[1]}"
fi
[ "${TRAIN:-1}" != 0 ] && stage "train end to end" 90 train_e2e
if [ "$wanted" != none ]; then
  for entry in "${all[@]:2}"; do run_config "$entry"; done
  # The table over every configuration measured on this machine so far, against eager-fp32.
  present=()
  for entry in "${all[@]}"; do
    if [ -f "$results/${entry%%:*}.json" ]; then present+=("${entry%%:*}"); fi
  done
  if [ -f "$results/eager-fp32.json" ]; then
    "$NODE" scripts/gpu-table.js "$results" "${present[@]}" | tee "$results/table.txt"
    save_results
  else
    say "no eager-fp32 result yet: no table (it is the baseline of the last column)"
  fi
fi
if [ -f "$results/train.json" ]; then
  "$NODE" -e 'const { formatTrainBenchmark } = require("./dist/bench/train-run.js"); console.log(formatTrainBenchmark(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))))' "$results/train.json"
fi
[ ${#skipped[@]} = 0 ] || say "not done: ${skipped[*]}"
say "done"
[ "${tests_status:-0}" = 0 ]
