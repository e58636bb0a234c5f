#!/usr/bin/python3
"""Golden values for src/metrics/roc-band.ts (the ROC curve's pointwise CI band in validation reports).

An independent implementation: the replicate draws re-implemented from their specification (mulberry32, class strata in
order of first appearance, `size` draws per stratum, METRICS.md §4.3), each replicate's ROC vertices from
scikit-learn's roc_curve with the draws as sample weights, sensitivity at each false-positive rate i/G from those
vertices (highest vertex exactly at the rate, else linear between its neighbours), and numpy's "linear" percentile
(type 7). Nothing is shared with the TypeScript.

Run from the repo root with Debian's interpreter: /usr/bin/python3 test/golden/make-rocband-goldens.py
"""
import csv
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import roc_curve

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "rocband-goldens.json")
M32 = 0xFFFFFFFF


def mulberry32(seed):
    state = [seed & M32]

    def rand_int(bound):
        state[0] = (state[0] + 0x6D2B79F5) & M32
        t = state[0]
        t = ((t ^ (t >> 15)) * (t | 1)) & M32
        t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32)) & M32
        u = (t ^ (t >> 14)) & M32
        return int(np.floor(u / 4294967296 * bound))

    return rand_int


def replicate_weights(labels, B, seed):
    strata = []
    for y in labels:
        if y not in strata:
            strata.append(y)
    groups = [[i for i, y in enumerate(labels) if y == s] for s in strata]
    rand_int = mulberry32(seed)
    for _ in range(B):
        w = np.zeros(len(labels))
        for g in groups:
            for _k in range(len(g)):
                w[g[rand_int(len(g))]] += 1
        yield w


def sensitivity_on_grid(labels, scores, weights, grid):
    y = np.asarray(labels)
    neg = int(round(weights[y == 0].sum()))
    fpr, tpr, _ = roc_curve(y, scores, sample_weight=weights, drop_intermediate=False)
    fp = np.rint(fpr * neg).astype(np.int64)  # integer copies: the vertices' false-positive counts exactly
    out = []
    for i in range(grid + 1):
        at = fp * grid == i * neg
        if at.any():
            out.append(float(tpr[at].max()))
            continue
        below = np.nonzero(fp * grid < i * neg)[0][-1]
        above = np.nonzero(fp * grid > i * neg)[0][0]
        x = i / grid
        out.append(float(tpr[below] + (tpr[above] - tpr[below]) * (x - fpr[below]) / (fpr[above] - fpr[below])))
    return out


def band(labels, scores, B, seed, grid):
    reps = np.array([sensitivity_on_grid(labels, scores, w, grid) for w in replicate_weights(labels, B, seed)])
    return {
        "curve": sensitivity_on_grid(labels, scores, np.ones(len(labels)), grid),
        "lo": np.percentile(reps, 2.5, axis=0, method="linear").tolist(),
        "hi": np.percentile(reps, 97.5, axis=0, method="linear").tolist(),
    }


def main():
    sets = []
    sets.append({"name": "hand-ties", "labels": [1, 0, 1, 1, 0, 0, 1, 0, 1, 0], "scores": [0.9, 0.9, 0.7, 0.4, 0.4, 0.4, 0.35, 0.2, 0.2, 0.1], "B": 300, "seed": 11, "grid": 20})
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 60).tolist()
    s = [float(v) for v in np.clip(np.round((np.array(y) * 0.35 + rng.random(60) * 0.65) * 4) / 4, 0, 1)]
    sets.append({"name": "heavy-ties", "labels": y, "scores": s, "B": 300, "seed": 20240601, "grid": 100})
    with open(os.path.join(REPO, "cohorts", "wdbc", "wdbc.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    sets.append({"name": "wdbc-worst-area", "labels": [1 if r["diagnosis"] == "M" else 0 for r in rows], "scores": [float(r["worst_area"]) for r in rows], "B": 200, "seed": 42, "grid": 100})
    for d in sets:
        d.update(band(d["labels"], d["scores"], d["B"], d["seed"], d["grid"]))
    meta = {"numpy": np.__version__, "scikit-learn": sklearn.__version__, "script": "test/golden/make-rocband-goldens.py"}
    with open(OUT, "w") as f:
        json.dump({"generator": meta, "datasets": sets}, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(sets)} datasets")


if __name__ == "__main__":
    main()
