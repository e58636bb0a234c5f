#!/usr/bin/python3
"""NumPy/scikit-learn reference for score-scale.ts on the same files: parse the truth CSV and predictions JSONL,
AUROC/AP/Brier with scikit-learn, DeLong CI by the fast NumPy algorithm (Sun & Xu mid-ranks, as
yandexdataschool/roc_comparison), and a stratified bootstrap of AUROC with sklearn.roc_auc_score on resamples drawn
by numpy.random.default_rng. Usage: score_scale_reference.py <truth.csv> <predictions.jsonl> <B>
B may be smaller than ours: the bootstrap seconds are then also given extrapolated to 2000 replicates (linear in B)."""
import json, sys, time
import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, average_precision_score, brier_score_loss

truth, preds, B = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
lab = {}
with open(truth) as fh:
    next(fh)
    for line in fh:
        cid, y = line.rstrip("\n").split(",")
        lab[cid] = int(y)
p = {}
with open(preds) as fh:
    for line in fh:
        r = json.loads(line)
        p[r["caseId"]] = r["probability"]
ids = list(lab)
y = np.fromiter((lab[i] for i in ids), int, len(ids))
s = np.fromiter((p[i] for i in ids), float, len(ids))
t_parse = time.perf_counter() - t0
t1 = time.perf_counter()
auc = roc_auc_score(y, s); ap = average_precision_score(y, s); br = brier_score_loss(y, s)
X, Y = s[y == 1], s[y == 0]; m, n = len(X), len(Y)
tz = rankdata(np.concatenate([X, Y])); tx = rankdata(X); ty = rankdata(Y)
v10 = (tz[:m] - tx) / n; v01 = 1 - (tz[m:] - ty) / m
var = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n
z = 1.959963984540054
ci = [max(0.0, auc - z * var ** 0.5), min(1.0, auc + z * var ** 0.5)]
t_point = time.perf_counter() - t1
t2 = time.perf_counter()
rng = np.random.default_rng(1)
pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
yy = np.concatenate([np.ones(m, int), np.zeros(n, int)])
reps = np.empty(B)
for b in range(B):
    idx = np.concatenate([rng.choice(pos, m), rng.choice(neg, n)])
    reps[b] = roc_auc_score(yy, s[idx])
t_boot = time.perf_counter() - t2
boot_ci = np.quantile(reps, [0.025, 0.975]).tolist()
seconds = t_parse + t_point + t_boot
print(json.dumps({"name": f"reference-n{len(ids)}-B{B}", "B": B, "seconds": seconds, "parse": t_parse, "point": t_point, "bootstrap": t_boot,
                  "seconds_at_B2000": t_parse + t_point + t_boot * 2000 / B,
                  "check": {"auc": auc, "delongCi": ci, "ap": ap, "brier": br, "aucBootCi": boot_ci}}))
