#!/usr/bin/env bash
# Scale check of `assay score --task binary` (issue 8) against the NumPy/scikit-learn reference on the same files, in
# the same run. Usage: perf/stats/score-scale.sh [N=1000000] [B=2000] [B_REF=20]. The reference's bootstrap
# (sklearn roc_auc_score per resample) is run with B_REF replicates and extrapolated linearly to B.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-1000000}"; B="${2:-2000}"; BREF="${3:-20}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
npx tsc perf/stats/score-scale.ts --outDir perf/stats/.out --target es2022 --module commonjs --strict --noUncheckedIndexedAccess \
  --esModuleInterop --skipLibCheck >/dev/null
node perf/stats/.out/perf/stats/score-scale.js "$N" "$B" "$OUT" gen
node perf/stats/.out/perf/stats/score-scale.js "$N" "$B" "$OUT" >"$OUT/ours.json" 2>"$OUT/ours.err"
/usr/bin/python3 perf/stats/score_scale_reference.py "$OUT/truth-$N.csv" "$OUT/pred-$N.jsonl" "$BREF" >"$OUT/ref.json"
/usr/bin/python3 - "$OUT/ours.json" "$OUT/ref.json" "$B" <<'PY'
import json, os, sys
o = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2])); B = int(sys.argv[3])
ref_at_B = r["parse"] + r["point"] + r["bootstrap"] * B / r["B"]
print(f"load average: {os.getloadavg()}")
print(f"ours: n={o['n']} B={o['B']} {o['seconds']:.1f} s, peak RSS {o['maxRssMiB']} MiB (the scoring process alone), progress lines {o['progressLines']}")
print(f"reference: parse {r['parse']:.1f} s, AUROC/AP/Brier/DeLong {r['point']:.2f} s, bootstrap {r['bootstrap']:.1f} s for B={r['B']} -> {ref_at_B:.1f} s at B={B}")
print(f"ratio reference/ours: {ref_at_B / o['seconds']:.1f}")
print("check ours:", json.dumps(o["check"]))
print("check ref: ", json.dumps(r["check"]))
PY
