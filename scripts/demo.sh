#!/usr/bin/env bash
# `npm run demo`: installs what is missing, starts Assay (API + worker) on its embedded defaults, loads the shipped
# catalogue, and runs a vendor's journey: two ONNX models submitted to wdbc-malignancy, run in the sandbox on the
# held-out split, scored and ranked. The API and the worker keep running afterwards (stop: bash scripts/stop.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export ORT_DISABLE_TELEMETRY=1
STATE=${ASSAY_DATA_DIR:-.assay}
mkdir -p "$STATE/run" "$STATE/logs"

ensure_node
ensure_node_modules
ensure_postgres
ensure_redis
ensure_chromium
ensure_docker_and_images
build_typescript
node dist/src/cli/main.js migrate

API_URL="http://${ASSAY_HTTP_HOST:-127.0.0.1}:${ASSAY_HTTP_PORT:-3000}"
# A process is "ours and running" when its pid file names a live node process of this checkout.
running() { local f="$STATE/run/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && grep -q "dist/src/$1.js" "/proc/$(cat "$f")/cmdline" 2>/dev/null; }
start() {
  if running "$1"; then say "$1 already running (pid $(cat "$STATE/run/$1.pid")); restarting it on the new build"; kill "$(cat "$STATE/run/$1.pid")"; sleep 1; fi
  setsid nohup node "dist/src/$1.js" >>"$STATE/logs/$1.log" 2>&1 </dev/null &
  echo $! >"$STATE/run/$1.pid"
  say "started $1 (pid $!, log $STATE/logs/$1.log)"
}
start main
for _ in $(seq 1 60); do curl -fsS -o /dev/null "$API_URL/docs/openapi.json" 2>/dev/null && break; sleep 0.5; done
curl -fsS -o /dev/null "$API_URL/docs/openapi.json" || die "the API did not come up; see $STATE/logs/main.log"
start worker
for _ in $(seq 1 60); do curl -fsS -o /dev/null "$API_URL/api/health" 2>/dev/null && break; sleep 0.5; done
curl -fsS -o /dev/null "$API_URL/api/health" || die "health is not green; see $STATE/logs/worker.log and $API_URL/api/health"

node dist/scripts/demo/run-demo.js
say "the API and the worker keep running; stop them with: bash scripts/stop.sh"
