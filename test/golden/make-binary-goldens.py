#!/usr/bin/python3
"""Golden values for src/metrics/binary-classification.ts.

Writes test/golden/binary-goldens.json with every input written out explicitly plus reference outputs from
scikit-learn (roc_auc_score, average_precision_score, brier_score_loss), Wilson score intervals computed by hand
from the formula and cross-checked against scipy binomtest(k, n).proportion_ci(method="wilson"), and pROC values
obtained by running make-binary-goldens.R (Rscript) on the same inputs.

Run from the repo root with Debian's interpreter (sklearn/scipy are Debian packages):
  /usr/bin/python3 test/golden/make-binary-goldens.py
"""
import csv
import json
import math
import os
import subprocess
import tempfile

import numpy as np
import scipy
import sklearn
from scipy.special import ndtri
from scipy.stats import binomtest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "binary-goldens.json")
Z = float(ndtri(0.975))


def wilson(k, n):
    """Wilson (1927) score interval from the formula; None when n = 0."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denom
    half = Z / denom * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert abs(ci.low - lo) < 1e-12 and abs(ci.high - hi) < 1e-12, (k, n, lo, hi, ci)
    return [lo, hi]


def threshold_block(y, s, t):
    y = np.asarray(y)
    pred = np.asarray(s) >= t
    tp = int(np.sum(pred & (y == 1)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    fp = int(np.sum(pred & (y == 0)))

    def prop(k, n):
        return {"k": k, "n": n, "value": (k / n) if n else None, "wilson": wilson(k, n)}

    return {
        "threshold": t,
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "sensitivity": prop(tp, tp + fn),
        "specificity": prop(tn, tn + fp),
        "ppv": prop(tp, tp + fp),
        "npv": prop(tn, tn + fn),
        "balanced_accuracy": (tp / (tp + fn) + tn / (tn + fp)) / 2,
    }


def dataset(name, labels, scores, threshold, scores_b=None, description=""):
    labels = [int(v) for v in labels]
    scores = [float(v) for v in scores]
    is_prob = all(0.0 <= v <= 1.0 for v in scores)
    ref = {
        "roc_auc_score": float(roc_auc_score(labels, scores)),
        "average_precision_score": float(average_precision_score(labels, scores)),
        "brier_score_loss": float(brier_score_loss(labels, scores)) if is_prob else None,
        "at_threshold": threshold_block(labels, scores, threshold),
    }
    d = {"name": name, "description": description, "labels": labels, "scores": scores, "sklearn": ref}
    if scores_b is not None:
        d["scoresB"] = [float(v) for v in scores_b]
        d["sklearnB"] = {"roc_auc_score": float(roc_auc_score(labels, d["scoresB"]))}
    return d


def main():
    out = []
    # METRICS.md §4.2 toy data (A and B on the same 12 cases).
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1]
    a = [.9, .8, .7, .35, .6, .3, .2, .1, .35, .55, .4, .65]
    b = [.7, .9, .4, .5, .5, .2, .3, .2, .6, .8, .1, .45]
    out.append(dataset("metrics-md-4.2", y, a, 0.5, b, "METRICS.md §4.2 golden example; scoresB = model B"))

    # Small hand case with ties across and within classes.
    out.append(dataset(
        "hand-ties",
        [0, 0, 1, 1, 0, 1, 1, 0, 1, 0],
        [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.2, 0.35, 0.8],
        0.4,
        [0.2, 0.2, 0.6, 0.6, 0.1, 0.5, 0.7, 0.6, 0.3, 0.4],
        "hand-made, ties between and within classes",
    ))

    # Random n = 200, fixed seed; rounded to 3 decimals so some ties occur. Values are stored, not regenerated.
    rng = np.random.default_rng(20240601)
    y = (rng.random(200) < 0.35).astype(int)
    latent = rng.normal(size=200)
    sa = np.round(1 / (1 + np.exp(-(1.3 * y - 0.4 + latent))), 3)
    sb = np.round(1 / (1 + np.exp(-(0.9 * y - 0.3 + 0.6 * latent + 0.8 * rng.normal(size=200)))), 3)
    out.append(dataset("random-200", y, sa, 0.5, sb, "numpy default_rng(20240601), logistic scores rounded to 3 dp"))

    # Heavily tied: 5 distinct score values only.
    rng = np.random.default_rng(7)
    y = (rng.random(60) < 0.5).astype(int)
    levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    sa = levels[np.clip(rng.integers(0, 4, size=60) + y, 0, 4)]
    sb = levels[np.clip(rng.integers(0, 5, size=60), 0, 4)]
    out.append(dataset("heavy-ties", y, sa, 0.5, sb, "numpy default_rng(7), scores from {0, .25, .5, .75, 1}"))

    # Real data: WDBC worst_area as a score for malignancy (M = 1); paired comparison with worst_concave_points.
    with open(os.path.join(REPO, "cohorts", "wdbc", "wdbc.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    y = [1 if r["diagnosis"] == "M" else 0 for r in rows]
    area = [float(r["worst_area"]) for r in rows]
    points = [float(r["worst_concave_points"]) for r in rows]
    d = dataset("wdbc-worst-area", y, area, 880.0, points,
                "cohorts/wdbc/wdbc.csv: worst_area vs diagnosis (M=1), threshold 880; scoresB = worst_concave_points")
    d["caseIds"] = [r["case_id"] for r in rows]
    out.append(d)

    doc = {
        "generator": {
            "python": "test/golden/make-binary-goldens.py",
            "sklearn": sklearn.__version__,
            "scipy": scipy.__version__,
            "numpy": np.__version__,
            "z": Z,
        },
        "datasets": out,
    }
    with tempfile.TemporaryDirectory() as tmp:
        inputs, proc_out = os.path.join(tmp, "inputs.json"), os.path.join(tmp, "proc.json")
        with open(inputs, "w") as f:
            json.dump(doc, f)
        subprocess.run(["Rscript", os.path.join(HERE, "make-binary-goldens.R"), inputs, proc_out], check=True)
        with open(proc_out) as f:
            proc = json.load(f)
    doc["generator"]["R_script"] = "test/golden/make-binary-goldens.R"
    doc["generator"].update(proc["generator"])
    for d in out:
        d["pROC"] = proc["datasets"][d["name"]]
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT} ({len(out)} datasets)")


if __name__ == "__main__":
    main()
