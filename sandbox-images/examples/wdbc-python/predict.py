#!/usr/bin/env python3
"""wdbc-malignancy example algorithm: logistic regression with weights baked into the image.

Contract: read /input/manifest.json, write one JSON line per case to /output/predictions.jsonl, exit 0.
"""
import json
import os
import sys

import numpy as np

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.json")
INPUT = os.environ.get("ASSAY_INPUT", "/input")
OUTPUT = os.environ.get("ASSAY_OUTPUT", "/output")


def load_features(case):
    value = case["inputs"]["features"]
    if isinstance(value, str):  # a path relative to /input/cases/<caseId>/ holding a JSON array
        with open(os.path.join(INPUT, "cases", case["caseId"], value)) as f:
            value = json.load(f)
    return value


def main():
    with open(WEIGHTS) as f:
        w = json.load(f)
    mean, std = np.array(w["mean"]), np.array(w["std"])
    weights, intercept = np.array(w["weights"]), float(w["intercept"])
    with open(os.path.join(INPUT, "manifest.json")) as f:
        manifest = json.load(f)
    cases = manifest["cases"]
    if not cases:
        open(os.path.join(OUTPUT, "predictions.jsonl"), "w").close()
        return 0
    x = np.array([load_features(c) for c in cases], dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(weights):
        print(f"expected {len(weights)} features per case, got shape {x.shape}", file=sys.stderr)
        return 1
    eta = intercept + ((x - mean) / std) @ weights
    p = 1.0 / (1.0 + np.exp(-np.clip(eta, -700, 700)))
    with open(os.path.join(OUTPUT, "predictions.jsonl"), "w") as out:
        for case, prob in zip(cases, p):
            out.write(json.dumps({"caseId": case["caseId"], "probability": float(prob)}) + "\n")
    print(f"predicted {len(cases)} case(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
