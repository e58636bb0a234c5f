#!/usr/bin/env bash
# Smoke check of image tasks inside the sandbox (after scripts/build-images.sh): a 40 HU box with two bright spheres
# (test/fixtures/imaging/phantom.py, nibabel), then under runsc with --network none, a read-only root, nobody/10001:
#   1. assay/onnx-runner:<VERSION> + the example segmentation model   -> mask, Dice against the truth
#   2. assay/onnx-runner:<VERSION> + the example detection model      -> points, distance to the true centres
#   3. vendor-example/lesion-python:1, mask and detections             -> the same checks
# Exits non-zero when a run fails or a check misses (Dice < 0.8, a centre > 1.5 mm off).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
PHANTOM=$ROOT/test/fixtures/imaging/phantom.py
RUNNER_TAG=assay/onnx-runner:$(tr -d ' \n' <"$ROOT/sandbox-images/onnx-runner/VERSION")
RUNTIME=${RUNTIME:-runsc}
W=$(mktemp -d /tmp/assay-imaging-smoke.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/input/cases/c1"
"$PY" "$PHANTOM" write '{"dims":[96,96,48],"spacing":[0.8,0.8,2.0],"origin":[-40,-40,-48],"spheres":[{"center":[30,34,18],"radiusMm":9,"hu":115},{"center":[66,60,30],"radiusMm":7,"hu":100}],"noise":8}' \
  "$W/input/cases/c1/ct.nii.gz" "$W/truth.nii.gz" >/dev/null
manifest() {
  printf '{"benchmark":"smoke","task":"t","interface":{"inputs":[{"name":"ct","kind":"volume","format":"nifti"}],"outputs":[{"name":"%s","kind":"%s"}]},"cases":[{"caseId":"c1","inputs":{"ct":"cases/c1/ct.nii.gz"}}]}' "$1" "$2" >"$W/input/manifest.json"
}
chmod -R a+rX "$W/input"
# run <name> <image> [cmd...]: fresh /output, the sandbox flags of the adapter (sandbox-profile.ts) that matter here.
run() {
  local name=$1 image=$2 user=$3
  shift 3
  rm -rf "$W/output" && mkdir -m 777 "$W/output"
  local t0; t0=$(date +%s%3N)
  docker run --rm --network none --read-only --runtime "$RUNTIME" --user "$user" --cap-drop ALL \
    --security-opt no-new-privileges --pids-limit 256 --memory 2g --memory-swap 2g \
    --tmpfs /tmp:rw,noexec,nosuid,nodev,size=64m \
    -v "$W/input:/input:ro" ${MODEL:+-v "$MODEL:/model:ro"} -v "$W/output:/output" "$image" "$@" 2>&1 | sed "s/^/  [$name] /"
  printf '  [%s] %s ms\n' "$name" "$(( $(date +%s%3N) - t0 ))"
}
check_mask() {
  local d; d=$("$PY" "$PHANTOM" dice "$W/output/masks/c1.nii.gz" "$W/truth.nii.gz")
  echo "  $1 mask: $d"
  "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["dice"]>=0.8 and d["sameAffine"] and d["dtype"]=="uint8" else 1)' "$d"
}
check_points() {
  local truth; truth=$("$PY" "$PHANTOM" world "$W/truth.nii.gz" '[[30,34,18],[66,60,30]]')
  echo "  $1 points: $(cat "$W/output/predictions.jsonl")"
  "$PY" -c '
import json, sys, math
pts = json.loads(open(sys.argv[1]).read())["detections"]
truth = json.loads(sys.argv[2])
errs = [min(math.dist((p["x"], p["y"], p["z"]), t) for p in pts) for t in truth]
print("  centre errors (mm):", [round(e, 3) for e in errs], "points:", len(pts))
sys.exit(0 if len(pts) == 2 and max(errs) < 1.5 else 1)' "$W/output/predictions.jsonl" "$truth"
}
MODEL=$(mktemp -d "$W/model.XXXX"); chmod 755 "$MODEL"
cp "$ROOT/test/fixtures/onnx/lesion-seg/"* "$MODEL/" && chmod 644 "$MODEL"/*
manifest mask mask
echo "runner segmentation ($RUNNER_TAG, $RUNTIME)"
run runner-seg "$RUNNER_TAG" 65534:65534 node /opt/runner/runner.js predict
check_mask runner
rm -f "$MODEL"/* && cp "$ROOT/test/fixtures/onnx/lesion-det/"* "$MODEL/" && chmod 644 "$MODEL"/*
manifest detections detections
echo "runner detection"
run runner-det "$RUNNER_TAG" 65534:65534 node /opt/runner/runner.js predict
check_points runner
MODEL=
manifest mask mask
echo "lesion-python segmentation"
run lesion-seg vendor-example/lesion-python:1 10001:10001
check_mask lesion-python
manifest detections detections
echo "lesion-python detection"
run lesion-det vendor-example/lesion-python:1 10001:10001
check_points lesion-python
echo "imaging smoke: ok"
