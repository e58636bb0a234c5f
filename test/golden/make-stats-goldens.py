#!/usr/bin/python3
"""Golden values for bootstrap.ts, hypothesis-tests.ts, calibration.ts, weighted-binary.ts and survival.ts.

Writes test/golden/stats-goldens.json. References: scipy (wilcoxon, kendalltau, bootstrap BCa), scikit-learn
(calibration_curve, roc_curve), independent NumPy implementations of the stated formulas (BCa on fixed replicate
vectors, ECE, decision curve, scikit-survival's Uno/Harrell C), and R (glm, p.adjust, wilcox.test, survival
concordance) via make-stats-goldens.R. Run from the repo root with Debian's interpreter:
  /usr/bin/python3 test/golden/make-stats-goldens.py
"""
import csv
import json
import os
import subprocess
import tempfile

import numpy as np
import scipy
import sklearn
from scipy import stats
from scipy.special import ndtr, ndtri
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "stats-goldens.json")
binary = json.load(open(os.path.join(HERE, "binary-goldens.json")))
DS = {d["name"]: d for d in binary["datasets"]}


def f(x):
    return None if x is None else float(x)


# ---------------------------------------------------------------- BCa on fixed replicate vectors (formulas by hand)
def bca_by_hand(estimate, reps, jack, alpha=0.05):
    reps = np.sort(np.asarray(reps, float))
    B = len(reps)
    p = (np.sum(reps < estimate) + np.sum(reps <= estimate)) / (2 * B)
    z0 = ndtri(p)
    d = np.mean(jack) - np.asarray(jack, float)
    a = np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)
    za, z1a = ndtri(alpha / 2), ndtri(1 - alpha / 2)
    a1 = ndtr(z0 + (z0 + za) / (1 - a * (z0 + za)))
    a2 = ndtr(z0 + (z0 + z1a) / (1 - a * (z0 + z1a)))
    lo, hi = np.quantile(reps, [a1, a2], method="linear")
    return {"z0": float(z0), "acceleration": float(a), "alpha1": float(a1), "alpha2": float(a2), "ci": [float(lo), float(hi)]}


rng = np.random.default_rng(11)
bca_cases = []
for name, est, reps, jack in [
    ("skewed", 1.0, rng.gamma(2.0, 0.5, 200), rng.normal(1.0, 0.1, 25) ** 3),
    ("ties-at-estimate", 0.5, np.round(rng.uniform(0.3, 0.8, 101), 1), rng.uniform(0.4, 0.6, 15)),
]:
    bca_cases.append({"name": name, "estimate": est, "replicates": [float(v) for v in reps],
                      "jackknife": [float(v) for v in jack], "numpy": bca_by_hand(est, reps, jack)})

# scipy BCa on a smooth statistic (mean of a skewed sample); Monte Carlo error → tolerance in the spec.
sample = np.round(np.random.default_rng(5).lognormal(0.0, 0.8, 40), 6)
sb = stats.bootstrap((sample,), np.mean, method="BCa", n_resamples=9999, random_state=np.random.default_rng(1))
scipy_bca = {"sample": [float(v) for v in sample], "n_resamples": 9999, "ci": [float(sb.confidence_interval.low), float(sb.confidence_interval.high)],
             "standard_error": float(sb.standard_error)}
sp = stats.bootstrap((sample,), np.mean, method="percentile", n_resamples=9999, random_state=np.random.default_rng(1))
scipy_bca["percentile_ci"] = [float(sp.confidence_interval.low), float(sp.confidence_interval.high)]

# ---------------------------------------------------------------- Wilcoxon (scipy defaults: zero_method wilcox, correction False)
r = np.random.default_rng(3)
wx = {
    "exact-n12": (np.round(r.normal(0.3, 1, 12), 4), np.round(r.normal(0, 1, 12), 4)),
    "ties-n30": (np.round(r.normal(0.3, 1, 30), 1), np.round(r.normal(0, 1, 30), 1)),
    "zeros-n80": (np.round(r.normal(0.1, 1, 80), 1), np.round(r.normal(0, 1, 80), 1)),
}
wilcoxon = []
for name, (x, y) in wx.items():
    d = x - y
    has_ties = len(np.unique(np.abs(d[d != 0]))) < np.sum(d != 0)
    entry = {"name": name, "x": [float(v) for v in x], "y": [float(v) for v in y], "scipy": {}}
    for alt in ["two-sided", "greater", "less"]:
        # scipy 1.10 'auto' uses its exact table even with ties when n <= 50; we use the normal approximation there,
        # so the golden for tied data is method="approx" (see README).
        method = "approx" if has_ties or np.any(d == 0) else "auto"
        res = stats.wilcoxon(x, y, alternative=alt, method=method)
        entry["scipy"][alt] = {"statistic": float(res.statistic), "p": float(res.pvalue), "method": method}
    wilcoxon.append(entry)

# ---------------------------------------------------------------- Kendall tau-b
kt = []
for x, y in [([1, 2, 2, 4, 5, 6], [2, 1, 3, 3, 6, 5]), ([1, 1, 1, 2, 3], [3, 2, 1, 1, 1]), (list(range(1, 11)), [3, 1, 2, 5, 4, 7, 6, 10, 9, 8])]:
    kt.append({"x": x, "y": y, "tau": float(stats.kendalltau(x, y).statistic if hasattr(stats.kendalltau(x, y), "statistic") else stats.kendalltau(x, y)[0])})

holm_p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9]

# ---------------------------------------------------------------- calibration
def ece_hand(y, p, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    idx = np.searchsorted(edges[1:-1], p)  # sklearn calibration_curve binning
    e = 0.0
    for k in range(bins):
        m = idx == k
        if m.any():
            e += m.sum() / len(p) * abs(y[m].mean() - p[m].mean())
    return e


def calib(name, y, p):
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    idx = np.searchsorted(np.linspace(0, 1, 11)[1:-1], p)
    counts = np.bincount(idx, minlength=10)
    bs = float(np.mean((p - y) ** 2))
    pi = y.mean()
    thresholds = [k / 100 for k in range(1, 100)]
    nb, ta = [], []
    for t in thresholds:
        pos = p >= t
        tp = np.sum(pos & (y == 1)); fp = np.sum(pos & (y == 0))
        nb.append(float(tp / len(y) - fp / len(y) * t / (1 - t)))
        ta.append(float(pi - (1 - pi) * t / (1 - t)))
    return {"name": name, "labels": [int(v) for v in y], "scores": [float(v) for v in p],
            "sklearn_calibration_curve": {"prob_true": [float(v) for v in prob_true], "prob_pred": [float(v) for v in prob_pred]},
            "bin_counts": [int(c) for c in counts], "ece": float(ece_hand(y, p)), "brier": bs,
            "scaled_brier": float(1 - bs / (pi * (1 - pi))), "decision_curve": {"thresholds": thresholds, "net_benefit": nb, "treat_all": ta}}


calibration = [calib(n, DS[n]["labels"], DS[n]["scores"]) for n in ["metrics-md-4.2", "random-200", "heavy-ties"]]
# heavy-ties contains p = 0 and 1: logit infinite, intercept/slope not estimable; R glm is skipped there.

# ---------------------------------------------------------------- sens at spec / spec at sens via sklearn roc_curve
def fixed_rates(name, y, s):
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    out = {"name": name, "labels": y, "scores": s, "sens_at_spec": {}, "spec_at_sens": {}}
    for target in [0.8, 0.9, 0.95]:
        ok = (1 - fpr) >= target - 1e-12
        k = np.argmax(np.where(ok, tpr, -1))
        out["sens_at_spec"][str(target)] = {"value": float(tpr[k]), "threshold": float(thr[k])}
        ok2 = tpr >= target - 1e-12
        k2 = np.argmax(np.where(ok2, 1 - fpr, -1))
        out["spec_at_sens"][str(target)] = {"value": float(1 - fpr[k2]), "threshold": float(thr[k2])}
    return out


fixed = [fixed_rates(n, DS[n]["labels"], DS[n]["scores"]) for n in ["metrics-md-4.2", "random-200", "heavy-ties", "wdbc-worst-area"]]

# ---------------------------------------------------------------- survival: independent NumPy of scikit-survival's formulas
def sksurv_comparable(event, time):
    """Pairs (i, j): event_i and (T_i < T_j or (T_i == T_j and not event_j)) — sksurv _get_comparable."""
    n = len(time)
    pairs = []
    for i in range(n):
        if not event[i]:
            continue
        for j in range(n):
            if i != j and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
                pairs.append((i, j))
    return pairs


def c_index(event, time, risk, w=None, tol=1e-8):
    num = den = 0.0
    conc = disc = tied = 0
    for i, j in sksurv_comparable(event, time):
        wi = 1.0 if w is None else w[i]
        d = risk[i] - risk[j]
        den += wi
        if abs(d) <= tol:
            num += 0.5 * wi; tied += 1
        elif d > 0:
            num += wi; conc += 1
        else:
            disc += 1
    return num / den, conc, disc, tied


def reverse_km_at(event, time):
    """sksurv kaplan_meier_estimator(reverse=True): at each unique t, n_at_risk -= n_events, factor 1 - censored/at_risk."""
    ut = np.unique(time)
    g = 1.0
    G = {}
    for t in ut:
        at_risk = np.sum(time >= t) - np.sum((time == t) & event)
        cens = np.sum((time == t) & ~event)
        if at_risk > 0:
            g *= 1 - cens / at_risk
        G[t] = g
    return np.array([G[t] for t in time])


def uno(event, time, risk, tau):
    G = reverse_km_at(event, time)
    w = np.where(event & (time < tau), 1.0 / G ** 2, 0.0)
    return c_index(event, time, risk, w)[0]


surv = []
T = np.array([5, 8, 8, 12, 15, 15, 20, 22, 30, 30], float)
E = np.array([1, 1, 0, 1, 1, 0, 0, 1, 1, 0], bool)
R = np.array([.9, .7, .6, .8, .4, .5, .3, .35, .1, .2])
lung = list(csv.DictReader(open("/work/shared/data/ncctg_lung.csv")))
lung = [row for row in lung if row["ph.ecog"] != "NA"]
LT = np.array([float(r_["time"]) for r_ in lung])
LE = np.array([r_["status"] == "2" for r_ in lung])
# A transparent risk score: ECOG plus age/100 (ties in ECOG broken by age; some exact ties remain).
LR = np.array([float(r_["ph.ecog"]) + float(r_["age"]) / 100 for r_ in lung])
LR2 = np.array([float(r_["ph.ecog"]) for r_ in lung])
for name, t, e, rk, taus in [("metrics-md-5", T, E, R, [25.0, float(T[E].max())]), ("ncctg-lung-ecog-age", LT, LE, LR, [365.0, float(LT[LE].max())]), ("ncctg-lung-ecog", LT, LE, LR2, [730.0])]:
    c, conc, disc, tied = c_index(e, t, rk)
    surv.append({"name": name, "time": [float(v) for v in t], "event": [int(v) for v in e], "risk": [float(v) for v in rk],
                 "numpy_sksurv": {"harrell": c, "concordant": conc, "discordant": disc, "tied_risk": tied,
                                  "uno": [{"tau": tau, "c": uno(e, t, rk, tau)} for tau in taus]}})
assert abs(surv[0]["numpy_sksurv"]["harrell"] - 0.903226) < 1e-6
assert abs(surv[0]["numpy_sksurv"]["uno"][0]["c"] - 0.925201) < 1e-6  # METRICS.md §5.2, produced with sksurv itself

doc = {
    "generator": {"script": "test/golden/make-stats-goldens.py + make-stats-goldens.R", "scipy": scipy.__version__,
                  "sklearn": sklearn.__version__, "numpy": np.__version__},
    "bca_fixed": bca_cases, "scipy_bca": scipy_bca, "wilcoxon": wilcoxon, "kendall": kt, "holm_input": holm_p,
    "calibration": calibration, "fixed_rates": fixed, "survival": surv,
}
with tempfile.TemporaryDirectory() as tmp:
    inp = os.path.join(tmp, "in.json"); out = os.path.join(tmp, "out.json")
    json.dump(doc, open(inp, "w"))
    subprocess.run(["Rscript", os.path.join(HERE, "make-stats-goldens.R"), inp, out], check=True)
    rdoc = json.load(open(out))
doc["R"] = rdoc
doc["generator"]["R"] = rdoc.pop("versions")
json.dump(doc, open(OUT, "w"), indent=1)
print("wrote", OUT)
