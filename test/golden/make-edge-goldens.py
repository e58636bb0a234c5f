#!/usr/bin/python3
"""Golden values for the edges of issue 8: recalibration fits of badly calibrated models, scale-free concordance,
Uno's C at a declared tau. Writes test/golden/edge-goldens.json. Inputs are generated here with numpy; references:
R glm (intercept/slope, with its convergence flag) and R survival::concordance via make-edge-goldens.R, and an
independent NumPy implementation of Uno's C (scikit-survival's formulas with exact risk ties). Run from the repo
root with Debian's interpreter:
  /usr/bin/python3 test/golden/make-edge-goldens.py
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import scipy

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "edge-goldens.json")

# ------------------------------------------------------------------ recalibration: badly calibrated, well-posed fits
calibration = []
rng = np.random.default_rng(20261201)
y = np.zeros(200, int)
y[rng.choice(200, 60, replace=False)] = 1
p = rng.uniform(0.0005, 0.002, 200)
calibration.append({"name": "tiny-p-n200-60pos", "labels": y.tolist(), "scores": p.tolist()})
# over-confident model: p far too extreme but informative (slope well below 1)
rng = np.random.default_rng(8)
x = rng.normal(0, 1, 500)
yy = (rng.uniform(size=500) < 1 / (1 + np.exp(-x))).astype(int)
calibration.append({"name": "overconfident-n500", "labels": yy.tolist(), "scores": (1 / (1 + np.exp(-6 * x))).clip(1e-12, 1 - 1e-12).tolist()})
# almost everyone positive, p near 1 with the wrong direction
rng = np.random.default_rng(9)
x = rng.normal(0, 1, 300)
yy = (rng.uniform(size=300) < 0.97).astype(int)
calibration.append({"name": "high-prevalence-n300", "labels": yy.tolist(), "scores": (1 / (1 + np.exp(-(3 + 0.5 * x)))).tolist()})

# ------------------------------------------------------------------ concordance under monotone transforms
def uno_numpy(time, event, risk, tau):
    """scikit-survival concordance_index_ipcw formulas (train = test), risks compared exactly."""
    time = np.asarray(time, float); event = np.asarray(event, int); risk = np.asarray(risk, float)
    # reverse KM, deaths at t removed from the censoring risk set, right-continuous
    ut = np.unique(time)
    G = {}
    s = 1.0
    for t in ut:
        at = time >= t
        d = np.sum((time == t) & (event == 1)); c = np.sum((time == t) & (event == 0))
        r = at.sum() - d
        if r > 0:
            s *= 1 - c / r
        G[t] = s
    num = den = 0.0
    n = len(time)
    for i in range(n):
        if not event[i] or not time[i] < tau:
            continue
        w = 1 / G[time[i]] ** 2
        for j in range(n):
            if time[i] < time[j] or (time[i] == time[j] and not event[j]):
                den += w
                num += w * (1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0)
    return num / den


rng = np.random.default_rng(4)
n = 150
r = np.round(rng.normal(0, 1, n), 2)  # some tied risks
T = np.round(rng.exponential(10 * np.exp(-0.7 * r)), 1) + 0.1
C = np.round(rng.exponential(15, n), 1) + 0.1
time = np.minimum(T, C); event = (T <= C).astype(int)
tau = float(np.quantile(time, 0.8))
transforms = {"identity": r, "times-1e-9": r * 1e-9, "exp": np.exp(r), "hazard-1e-7-exp": 1e-7 * np.exp(r), "cube": r ** 3}
survival = []
for name, risk in transforms.items():
    survival.append({"name": name, "time": time.tolist(), "event": event.tolist(), "risk": [float(v) for v in risk], "tau": tau,
                     "numpy_uno_exact_ties": uno_numpy(time, event, risk, tau)})

doc = {"calibration": calibration, "survival": survival}
with tempfile.TemporaryDirectory() as d:
    src = os.path.join(d, "in.json"); dst = os.path.join(d, "out.json")
    json.dump(doc, open(src, "w"))
    subprocess.run(["Rscript", os.path.join(HERE, "make-edge-goldens.R"), src, dst], check=True)
    R = json.load(open(dst))

for c in calibration:
    c["R_glm"] = R["glm_calibration"][c["name"]]
for s in survival:
    s["R_survival_concordance"] = R["survival_concordance"][s["name"]]
# The transforms are strictly increasing, so every reference must give the same C for all of them.
assert len({s["R_survival_concordance"]["harrell"] for s in survival}) == 1, "R survival C differs between transforms"
assert np.ptp([s["numpy_uno_exact_ties"] for s in survival]) == 0

doc["generator"] = {"numpy": np.__version__, "scipy": scipy.__version__, **R["versions"], "script": "test/golden/make-edge-goldens.py"}
with open(OUT, "w") as fh:
    json.dump(doc, fh, indent=1)
    fh.write("\n")
print("wrote", OUT)
