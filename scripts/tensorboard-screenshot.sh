#!/usr/bin/env bash
# Screenshots of TensorBoard showing a run written by `train --logdir`, for the README:
# docs/images/tensorboard-scalars.png, -images.png and -hparams.png. Needs the tensorboard Python
# package (TENSORBOARD=path/to/tensorboard, default: on PATH) and a headless Chromium
# (CHROMIUM=..., default /usr/bin/chromium; Debian: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
tensorboard="${TENSORBOARD:-tensorboard}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
work="$(mktemp -d)"
trap 'kill $tb_pid 2>/dev/null || true; rm -rf "$work"' EXIT
tb_pid=
runs="${RUNS:-$work/runs}" # RUNS=folder: keep the runs there (and reuse them next time)
# two short runs on the synthetic set, so the HParams tab has something to compare
for lr in 0.05 0.01; do
  [ -d "$runs/resnet18-lr$lr" ] && continue
  node dist/cli/index.js train --arch resnet18 --epochs 4 --batch-size 32 --max-steps-per-epoch 12 --log-every 12 --lr "$lr" \
    --checkpoint-dir "$work/ck-$lr" --logdir "$runs/resnet18-lr$lr" > /dev/null
done
"$tensorboard" --logdir "$runs" --port 6123 --host 127.0.0.1 > "$work/tb.log" 2>&1 &
tb_pid=$!
for _ in $(seq 60); do curl -sf http://127.0.0.1:6123/data/runs > /dev/null && break; sleep 1; done
shot() { # url, file
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/chrome" --hide-scrollbars \
    --window-size=1500,1000 --virtual-time-budget=30000 --screenshot="$2" "$1" 2> /dev/null
}
mkdir -p docs/images
shot "http://127.0.0.1:6123/?forceSVG=true&tagFilter=train%2Floss%7Ceval%2Faccuracy%24%7Ctrain%2Flr#timeseries" docs/images/tensorboard-scalars.png
shot "http://127.0.0.1:6123/#images" docs/images/tensorboard-images.png
shot "http://127.0.0.1:6123/#hparams" docs/images/tensorboard-hparams.png
ls -la docs/images/tensorboard-*.png
