#!/usr/bin/python3
"""Reference implementation of the same workloads with NumPy/SciPy/scikit-learn, written the way an analyst would:
sklearn roc_auc_score per stratified bootstrap replicate, the vectorised fast DeLong (Sun & Xu, as
yandexdataschool/roc_comparison), and for ranking robustness numpy means + scipy rankdata + scipy kendalltau."""
import json
import time

import numpy as np
from scipy.stats import kendalltau, rankdata
from sklearn.metrics import roc_auc_score


def lcg(seed):
    s = seed
    while True:
        s = (s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        yield (s >> 11) / 9007199254740992


def fast_delong(y, s):
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    tz = rankdata(np.concatenate([pos, neg]))
    tx, ty = rankdata(pos), rankdata(neg)
    auc = tz[:m].sum() / (m * n) - (m + 1) / (2 * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1 - (tz[m:] - ty) / m
    var = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n
    h = 1.959963984540054 * np.sqrt(var)
    return auc, [max(0, auc - h), min(1, auc + h)]


def auroc_workload():
    g = lcg(1)
    n = 100_000
    y = np.empty(n, int)
    s = np.empty(n)
    for i in range(n):
        y[i] = 1 if next(g) < 0.3 else 0
        s[i] = round((next(g) * 0.8 + 0.2 * y[i]) * 1e4) / 1e4
    t0 = time.perf_counter()
    auc, ci = fast_delong(y, s)
    rng = np.random.default_rng(1)
    pi, ni = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    reps = np.empty(2000)
    for b in range(2000):
        idx = np.concatenate([rng.choice(pi, len(pi)), rng.choice(ni, len(ni))])
        reps[b] = roc_auc_score(y[idx], s[idx])
    boot = np.quantile(reps, [0.025, 0.975])
    sec = time.perf_counter() - t0
    print(json.dumps({"name": "auroc-delong-bootstrap2000-n100k", "seconds": sec, "check": {"auc": auc, "delongCi": ci, "bootCi": list(boot)}}))


def ranking_workload():
    g = lcg(2)
    k, n = 50, 500
    v = np.array([[0.6 + 0.002 * s + 0.2 * next(g) for _ in range(n)] for s in range(k)])
    t0 = time.perf_counter()
    ref = rankdata(-v.mean(axis=1), method="min")
    rng = np.random.default_rng(1)
    taus = np.empty(1000)
    ranks = np.empty((1000, k))
    for b in range(1000):
        idx = rng.integers(0, n, n)
        r = rankdata(-v[:, idx].mean(axis=1), method="min")
        ranks[b] = r
        taus[b] = kendalltau(ref, r)[0]
    np.percentile(ranks, [2.5, 50, 97.5], axis=0)
    sec = time.perf_counter() - t0
    print(json.dumps({"name": "rank-robustness-50x500-B1000", "seconds": sec, "check": {"tauMedian": float(np.median(taus))}}))


auroc_workload()
ranking_workload()
