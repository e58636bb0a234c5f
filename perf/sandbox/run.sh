#!/usr/bin/env bash
# Sandbox overhead and image load throughput (perf/sandbox/RESULTS.md). Needs root, a running dockerd with runsc
# (scripts/setup-docker.sh) and the images of scripts/build-images.sh. Short by design (about a minute on 2 cores):
#   N_TRIVIAL=10 N_PYTHON=5 LOAD_MB=1024 bash perf/sandbox/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=$(mktemp -d /tmp/assay-perf-build.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
# Compile only what the bench needs (the whole project may be mid-change in other folders).
npx tsc --outDir "$OUT" --rootDir . --module commonjs --target es2022 --esModuleInterop --skipLibCheck --strict \
  --experimentalDecorators --emitDecoratorMetadata --types node perf/sandbox/bench.ts 2>&1 | grep -v '^npm warn' || true
[ -f "$OUT/perf/sandbox/bench.js" ] || { echo "compile failed" >&2; exit 1; }
echo "## $(date -u +%Y-%m-%dT%H:%MZ)"
NODE_PATH="$ROOT/node_modules" node -r reflect-metadata "$OUT/perf/sandbox/bench.js"
