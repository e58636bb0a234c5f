#!/usr/bin/env bash
# Stops the API, the worker and the demo's hospital nodes started by scripts/demo.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
STATE=${ASSAY_DATA_DIR:-$ROOT/.assay}
for p in worker main $(cd "$STATE/run" 2>/dev/null && ls node-*.pid 2>/dev/null | sed 's/\.pid$//'); do
  f="$STATE/run/$p.pid"
  if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then kill "$(cat "$f")"; say "stopped $p"; fi
  rm -f "$f"
done
