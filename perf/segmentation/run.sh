#!/usr/bin/env bash
# HD95 + NSD + ASSD of one 512×512×300 mask pair (organ plus lesions, spacing 0.7×0.7×1.0 mm), Assay against a SciPy
# EDT implementation of DeepMind's algorithm, a cKDTree variant and plastimatch (`dice --all`), side by side in one
# run, RUNS rounds (default 3), medians. Prints seconds, ratios, values and peak RSS (GNU time).
# Usage: perf/segmentation/run.sh [RUNS]   (needs /usr/bin/python3 with numpy/scipy/nibabel, /usr/bin/plastimatch,
# and a DeepMind surface-distance checkout in SURFACE_DISTANCE_DIR (default /tmp/ref-surface-distance) for the areas)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-3}"
DATA="${SEG_PERF_DIR:-/tmp/assay-segperf}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
[ -f "$DATA/gt.u8" ] || /usr/bin/python3 perf/segmentation/reference.py make "$DATA" >/dev/null
npx tsc -p tsconfig.build.json >/dev/null
T="/usr/bin/time -f %e,%M -o $OUT/t"
for i in $(seq "$RUNS"); do
  $T node dist/perf/segmentation/bench.js "$DATA" 1 >>"$OUT/assay.jsonl"; echo "assay,$(cat "$OUT/t")" >>"$OUT/times"
  $T node dist/perf/segmentation/bench.js "$DATA" 1 serial >>"$OUT/assay-serial.jsonl"; echo "assay-serial,$(cat "$OUT/t")" >>"$OUT/times"
  $T /usr/bin/python3 perf/segmentation/reference.py scipy "$DATA" >>"$OUT/scipy.jsonl"; echo "scipy,$(cat "$OUT/t")" >>"$OUT/times"
  $T /usr/bin/python3 perf/segmentation/reference.py kdtree "$DATA" >>"$OUT/kdtree.jsonl"; echo "kdtree,$(cat "$OUT/t")" >>"$OUT/times"
  $T /usr/bin/plastimatch dice --all "$DATA/gt.nii" "$DATA/pred.nii" >"$OUT/plastimatch.txt" 2>&1; echo "plastimatch,$(cat "$OUT/t")" >>"$OUT/times"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
proc = {}
for line in open(os.path.join(out, "times")):
    name, wall, rss = line.strip().split(",")
    proc.setdefault(name, []).append((float(wall), int(rss)))
comp = {}
for name in ("assay", "assay-serial", "scipy", "kdtree"):
    rows = [json.loads(l) for l in open(os.path.join(out, f"{name}.jsonl"))]
    comp[name] = (statistics.median(r["seconds"] for r in rows), rows[0])
print(f"load average: {os.getloadavg()}")
print(f"{'implementation':14s} {'compute s':>10s} {'process s':>10s} {'peak RSS MiB':>13s}  values")
ref = comp["scipy"][0]
for name in ("assay", "assay-serial", "scipy", "kdtree", "plastimatch"):
    wall = statistics.median(w for w, _ in proc[name]); rss = max(r for _, r in proc[name]) / 1024
    c = f"{comp[name][0]:10.3f}" if name in comp else f"{'':>10s}"
    v = comp[name][1] if name in comp else {}
    vals = f"hd95={v.get('hd95')} nsd@2mm={v.get('nsd')} assd={v.get('assd')}" if v else "(its own boundary model, see below)"
    print(f"{name:14s} {c} {wall:10.3f} {rss:13.0f}  {vals}")
for name in ("assay", "assay-serial"):
    a = comp[name][1]; s = comp["scipy"][1]
    diff = max(abs(a[k] - s[k]) for k in ("hd95", "nsd", "assd"))
    print(f"{name}: compute ratio {comp[name][0]/ref:.3f} of SciPy, {comp[name][0]/comp['kdtree'][0]:.3f} of KD-tree, "
          f"process ratio {statistics.median(w for w,_ in proc[name])/statistics.median(w for w,_ in proc['plastimatch']):.3f} of plastimatch; max |Δ| vs SciPy {diff:.3g}")
print("plastimatch:")
print("".join(l for l in open(os.path.join(out, "plastimatch.txt")) if any(k in l.lower() for k in ("hausdorff", "dice", "boundary"))))
PY
