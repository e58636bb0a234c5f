#!/usr/bin/env bash
# Runs the TypeScript benchmark and the NumPy/scikit-learn reference side by side, RUNS times each (default 3),
# and prints the median seconds and the ratio reference/ours per workload. Usage: perf/stats/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-3}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
npx tsc perf/stats/bench.ts --outDir "$OUT/js" --target es2022 --module commonjs --strict --noUncheckedIndexedAccess \
  --esModuleInterop --skipLibCheck >/dev/null
for i in $(seq "$RUNS"); do
  node "$OUT/js/perf/stats/bench.js" >>"$OUT/ours.jsonl"
  /usr/bin/python3 perf/stats/bench_reference.py >>"$OUT/ref.jsonl"
done
/usr/bin/python3 - "$OUT/ours.jsonl" "$OUT/ref.jsonl" <<'PY'
import json, statistics, sys, os
def load(p):
    d = {}
    for line in open(p):
        r = json.loads(line); d.setdefault(r["name"], []).append(r)
    return d
ours, ref = load(sys.argv[1]), load(sys.argv[2])
print(f"load average: {os.getloadavg()}")
print(f"{'workload':40s} {'ours s (median)':>16s} {'reference s':>12s} {'ratio ref/ours':>15s}")
for name in ours:
    o = statistics.median(r["seconds"] for r in ours[name]); f = statistics.median(r["seconds"] for r in ref[name])
    print(f"{name:40s} {o:16.3f} {f:12.3f} {f/o:15.1f}")
    print(f"  check ours={ours[name][0]['check']}\n        ref ={ref[name][0]['check']}")
PY
