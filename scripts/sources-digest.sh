#!/usr/bin/env bash
# One digest of the TypeScript sources and compiler settings that dist/ is built from.
set -euo pipefail
cd "$(dirname "$0")/.."
find src -name '*.ts' -print0 | LC_ALL=C sort -z | xargs -0 cat tsconfig.json | sha256sum | cut -d' ' -f1
