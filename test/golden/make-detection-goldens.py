#!/usr/bin/python3
"""Golden values for src/metrics/detection/ (LUNA16 matching, FROC, CPM conventions).

References, each run from a copy outside the repository (paths are arguments):
  --luna16  noduleCADEvaluationLUNA16.py from github.com/fionaxzhou/cancer @ 56d8f3a19635a91b50b41fd37db4b918261e3d2e
            (the Python-2 copy closest to the original LUNA16 script; translated to Python 3 at load time with lib2to3,
            `utilities.readCSV` stubbed with csv.reader, plotting stubbed). Its evaluateCAD gives the hit/TP/FP
            decisions (captured from the lists it hands to computeFROC) and computeFROC the reference FROC points.
  --monai   monai/metrics/froc.py from github.com/Project-MONAI/MONAI @ d388d1c6fec8cb3a0eebee5b5a0b9776ca59ca83,
            exec'd with stub `torch` / `monai.config` modules (only the numpy paths run):
            compute_froc_curve_data + compute_froc_score(eval_thresholds=(0.125, …, 8)) = the staircase CPM.
  --diag    DIAG's "LUNA16 CPM calculator" (Radboudumc, Apache-2.0, 2025), evaluateCAD_for_cpm / computeFROC / getCPM,
            run unmodified on CSVs written here (the code index gave the file without its repository name).
The envelope-interpolated CPM is computed here from the reference FROC points (computeFROC's fps/sens) as
METRICS.md §3.2–3.3 define it (origin, max sensitivity per FP/scan, np.interp), independent of the TypeScript.

Run:  /usr/bin/python3 test/golden/make-detection-goldens.py --luna16 /tmp/ref-luna16/noduleCADEvaluationLUNA16.py \
        --monai /tmp/ref-monai/froc.py --diag /tmp/ref-diag/luna16_cpm_calculator.py
"""
import argparse
import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import types
import warnings

import numpy as np
import sklearn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "detection-goldens.json")
RATES = [0.125, 0.25, 0.5, 1, 2, 4, 8]


class _Anything:
    """Stands in for matplotlib.pyplot: every attribute and call is a no-op returning itself."""

    def __getattr__(self, name):
        return self

    def __call__(self, *a, **k):
        return self


def load_luna16(path):
    from lib2to3 import refactor

    src = open(path).read()
    tool = refactor.RefactoringTool(refactor.get_fixers_from_package("lib2to3.fixes"))
    py3 = str(tool.refactor_string(src + "\n", path))
    utilities = types.ModuleType("utilities")

    def readCSV(filename):
        with open(filename, newline="") as f:
            return [row for row in csv.reader(f)]

    utilities.readCSV = readCSV
    sys.modules["utilities"] = utilities
    mod = types.ModuleType("luna16_eval")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(py3, path, "exec"), mod.__dict__)
    mod.plt = _Anything()
    return mod


def load_monai(path):
    torch = types.ModuleType("torch")

    class Tensor:  # never instantiated: isinstance checks only
        pass

    torch.Tensor = Tensor
    monai = types.ModuleType("monai")
    config = types.ModuleType("monai.config")
    config.NdarrayOrTensor = object
    monai.config = config
    sys.modules.setdefault("torch", torch)
    sys.modules.setdefault("monai", monai)
    sys.modules.setdefault("monai.config", config)
    mod = types.ModuleType("monai_froc")
    exec(compile(open(path).read(), path, "exec"), mod.__dict__)
    return mod


def load_diag(path):
    mod = types.ModuleType("diag_cpm")
    exec(compile(open(path).read(), path, "exec"), mod.__dict__)
    return mod


def luna16_run(L, scans, outdir):
    """Runs the LUNA16 evaluateCAD on `scans`; returns the lists it gives computeFROC and computeFROC's result."""
    captured = {}
    original = L.__dict__.setdefault("_original_computeFROC", L.computeFROC)

    def spy(gt, prob, n_images, exclude):
        captured["lists"] = (list(gt), list(prob), n_images, list(exclude))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = original(gt, prob, n_images, exclude)
            captured["froc"] = res
            return res
        except Exception as e:  # e.g. no candidate at all: roc_curve on empty input
            captured["error"] = repr(e)
            raise

    L.computeFROC = spy
    results = os.path.join(outdir, "results.csv")
    with open(results, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([L.seriesuid_label, L.coordX_label, L.coordY_label, L.coordZ_label, L.CADProbability_label])
        for s in scans:
            for d in s["detections"]:
                w.writerow([s["caseId"], repr(d["x"]), repr(d["y"]), repr(d["z"]), repr(d["score"])])
    all_nodules = {}
    for s in scans:
        nods = []
        for les in s["lesions"]:
            n = L.NoduleFinding(noduleid=les["lesionId"], coordX=repr(les["x"]), coordY=repr(les["y"]), coordZ=repr(les["z"]),
                                diameter=repr(les["diameterMm"]), state="Included")
            nods.append(n)
        all_nodules[s["caseId"]] = nods
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            L.evaluateCAD([s["caseId"] for s in scans], results, outdir, all_nodules, "golden")
        except Exception:
            pass
    return captured


def per_scan_decisions(L, scan, outdir):
    cap = luna16_run(L, [scan], outdir)
    gt, prob, _, exclude = cap["lists"]
    n_les = len(scan["lesions"])
    lesion_scores = [None if exclude[i] else prob[i] for i in range(n_les)]
    assert all(g == 1.0 for g in gt[:n_les]) and all(g == 0.0 for g in gt[n_les:])
    return {"lesionScores": lesion_scores, "fpScores": prob[n_les:]}


def envelope_cpm(fps, sens):
    """METRICS.md §3.2–3.3: origin, max sensitivity per FP/scan, then np.interp at the seven rates."""
    env = {0.0: 0.0}
    for x, y in zip(fps, sens):
        x = float(x)
        y = 0.0 if np.isnan(y) else float(y)
        env[x] = max(env.get(x, 0.0), y)
    xs = np.array(sorted(env))
    ys = np.maximum.accumulate(np.array([env[x] for x in xs]))
    s7 = np.interp(RATES, xs, ys)
    return float(np.mean(s7)), [float(v) for v in s7]


def diag_cpm(D, scans, outdir):
    ann = os.path.join(outdir, "annotations.csv")
    uids = os.path.join(outdir, "seriesuids.csv")
    res = os.path.join(outdir, "candidates.csv")
    with open(ann, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([D.seriesuid_label, D.coordX_label, D.coordY_label, D.coordZ_label, D.diameter_mm_label])
        for s in scans:
            for les in s["lesions"]:
                w.writerow([s["caseId"], repr(les["x"]), repr(les["y"]), repr(les["z"]), repr(les["diameterMm"])])
    with open(uids, "w", newline="") as f:
        csv.writer(f).writerows([[s["caseId"]] for s in scans])
    with open(res, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([D.seriesuid_label, D.coordX_label, D.coordY_label, D.coordZ_label, D.CADProbability_label])
        for s in scans:
            for d in s["detections"]:
                w.writerow([s["caseId"], repr(d["x"]), repr(d["y"]), repr(d["z"]), repr(d["score"])])
    captured = {}
    original = D.__dict__.setdefault("_original_getCPM", D.getCPM)

    def spy(fps, sens, rates):
        mean, fixed = original(fps, sens, rates)
        captured["sens"] = [float(v) for v in fixed]
        return mean, fixed

    D.getCPM = spy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = D.noduleCADEvaluation_for_cpm(ann, uids, res)
    return float(mean), captured["sens"]


def monai_cpm(M, decisions, n_scans):
    tp = np.array([s if s is not None else 0.0 for d in decisions for s in d["lesionScores"]], dtype=np.float64)
    fp = np.array([s for d in decisions for s in d["fpScores"]], dtype=np.float64)
    fps, sens = M.compute_froc_curve_data(fp, tp, len(tp), n_scans)
    return float(M.compute_froc_score(fps, sens, eval_thresholds=tuple(RATES)))


# ---------------------------------------------------------------------------------------------------------------
# Inputs

def r3(v):
    return float(round(float(v), 3))


def random_set(rng, kind):
    n_scans = int(rng.integers(1, 13))
    scans = []
    for s in range(n_scans):
        n_les = int(rng.choice([0, 0, 1, 1, 2, 3]))
        lesions, dets = [], []
        for j in range(n_les):
            d = r3(rng.uniform(3, 30))
            c = [r3(rng.uniform(-150, 150)) for _ in range(3)]
            if kind == "overlap" and j > 0:  # second lesion overlapping the first: a point can hit both
                c = [r3(lesions[0]["x"] + 2), lesions[0]["y"], lesions[0]["z"]]
            lesions.append({"lesionId": f"L{j}", "x": c[0], "y": c[1], "z": c[2], "diameterMm": d})
        for les in lesions:
            if kind == "none":
                break
            for _ in range(int(rng.integers(0, 4))):
                direction = rng.normal(size=3)
                direction /= np.linalg.norm(direction)
                dist = rng.uniform(0, 1.3) * les["diameterMm"] / 2
                p = [r3(les[a] + dist * direction[i]) for i, a in enumerate("xyz")]
                dets.append({"x": p[0], "y": p[1], "z": p[2], "score": 0.0})
        if kind not in ("none", "perfect"):
            for _ in range(int(rng.integers(0, 6))):
                dets.append({"x": r3(rng.uniform(-150, 150)), "y": r3(rng.uniform(-150, 150)), "z": r3(rng.uniform(-150, 150)), "score": 0.0})
        if kind == "perfect":
            dets = [{"x": les["x"], "y": les["y"], "z": les["z"], "score": 0.0} for les in lesions]
        for d in dets:
            # Two decimals (ties) for most sets, a coarse grid for the heavy-tie sets.
            d["score"] = float(rng.choice([0.2, 0.4, 0.6, 0.8])) if kind == "ties" else float(round(rng.uniform(0.01, 1.0), 2))
        order = rng.permutation(len(dets))
        scans.append({"caseId": f"scan{s:02d}", "lesions": lesions, "detections": [dets[i] for i in order]})
    return scans


def boundary_set():
    # d = 10 mm at the origin: a point at exactly 5 mm misses (strict <), 4.999 mm hits.
    les = [{"lesionId": "A", "x": 0.0, "y": 0.0, "z": 0.0, "diameterMm": 10.0}]
    dets = [{"x": 5.0, "y": 0.0, "z": 0.0, "score": 0.9}, {"x": 0.0, "y": 4.999, "z": 0.0, "score": 0.3},
            {"x": 3.0, "y": 4.0, "z": 0.0, "score": 0.95}, {"x": 0.0, "y": 0.0, "z": 1.0, "score": 0.1}]
    return [{"caseId": "b0", "lesions": les, "detections": dets}, {"caseId": "b1", "lesions": [], "detections": [{"x": 1.0, "y": 1.0, "z": 1.0, "score": 0.5}]}]


def metrics_md_example():
    """METRICS.md §3.3: 4 scans, 4 lesions, 12 candidates; interpolated CPM 4/7, nearest-point 0.25."""
    def les(i):
        return {"lesionId": "L0", "x": 10.0 * i, "y": 0.0, "z": 0.0, "diameterMm": 8.0}

    def hit(i, score):
        return {"x": 10.0 * i + 0.5, "y": 0.0, "z": 0.0, "score": score}

    def far(i, k, score):
        return {"x": 10.0 * i, "y": 100.0 + 10 * k, "z": 0.0, "score": score}

    scans = [
        {"caseId": "c0", "lesions": [les(0)], "detections": [hit(0, 0.9), far(0, 0, 0.8), far(0, 1, 0.7)]},
        {"caseId": "c1", "lesions": [les(1)], "detections": [hit(1, 0.6), far(1, 0, 0.7), far(1, 1, 0.6)]},
        {"caseId": "c2", "lesions": [les(2)], "detections": [hit(2, 0.6), far(2, 0, 0.7), far(2, 1, 0.6)]},
        {"caseId": "c3", "lesions": [les(3)], "detections": [hit(3, 0.6), far(3, 0, 0.6), far(3, 1, 0.6)]},
    ]
    return scans


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--luna16", required=True)
    ap.add_argument("--monai", required=True)
    ap.add_argument("--diag", required=True)
    args = ap.parse_args()
    L, M, D = load_luna16(args.luna16), load_monai(args.monai), load_diag(args.diag)
    rng = np.random.default_rng(20261201)
    cases = [("metrics-md-3.3", metrics_md_example()), ("boundary", boundary_set())]
    kinds = ["random"] * 34 + ["ties"] * 6 + ["overlap"] * 5 + ["perfect"] * 3 + ["none"] * 2
    for i, kind in enumerate(kinds):
        cases.append((f"{kind}-{i:02d}", random_set(rng, kind)))
    cases.append(("lesion-free", [{"caseId": "n0", "lesions": [], "detections": [{"x": 0.0, "y": 0.0, "z": 0.0, "score": 0.4}]},
                                  {"caseId": "n1", "lesions": [], "detections": []}]))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, scans in cases:
            threshold = 0.5
            decisions = [per_scan_decisions(L, s, tmp) for s in scans]
            n_les = sum(len(s["lesions"]) for s in scans)
            cap = luna16_run(L, scans, tmp)
            entry = {"name": name, "threshold": threshold, "scans": scans, "luna16": {"cases": decisions}}
            if n_les > 0:
                froc = cap.get("froc")
                if froc is not None:
                    fps, sens, thr = froc
                    pts = [{"fpPerScan": float(a), "sensitivity": None if np.isnan(b) else float(b), "threshold": float(c)}
                           for a, b, c in zip(fps, sens, thr)]
                else:  # no candidate at all: computeFROC raised; the curve is the origin only
                    fps, sens, pts = [], [], []
                entry["luna16"]["frocPoints"] = pts
                # METRICS.md §3.2: an operating point at EVERY distinct score. sklearn's drop_intermediate (inside the
                # script's computeFROC) drops count-collinear points, which changes the envelope when a vertical step
                # follows (the max per FP/scan then joins a farther point), so the canonical curve is counted here from
                # the script's own TP/FP lists; the CPM from its dropped points is kept for comparison.
                gt, prob, n_img, exclude = cap["lists"]
                kept = [(g, p) for g, p, x in zip(gt, prob, exclude) if not x]
                ts = sorted({p for _, p in kept}, reverse=True)
                all_fps = [sum(1 for g, p in kept if g == 0.0 and p >= t) / len(scans) for t in ts]
                all_sens = [sum(1 for g, p in kept if g == 1.0 and p >= t) / n_les for t in ts]
                cpm, s7 = envelope_cpm(all_fps, all_sens)
                entry["luna16"]["cpmEnvelopeOfScriptPoints"] = envelope_cpm(fps, sens)[0]
                dcpm, d7 = diag_cpm(D, scans, tmp)
                tp = sum(1 for d in decisions for s in d["lesionScores"] if s is not None and s >= threshold)
                fp = sum(1 for d in decisions for s in d["fpScores"] if s >= threshold)
                entry["expected"] = {
                    "cpm": cpm, "cpmSensitivities": s7,
                    "cpm_nearest": dcpm, "cpmNearestSensitivities": d7,
                    "cpm_monai_staircase": monai_cpm(M, decisions, len(scans)),
                    "sensitivity": tp / n_les, "fp_per_scan": fp / len(scans),
                }
            else:
                entry["expected"] = {"cpm": None, "cpm_nearest": None, "cpm_monai_staircase": None, "sensitivity": None,
                                     "fp_per_scan": sum(1 for d in decisions for s in d["fpScores"] if s >= threshold) / len(scans)}
            out.append(entry)
    doc = {
        "generator": {
            "script": "test/golden/make-detection-goldens.py",
            "luna16": "fionaxzhou/cancer@56d8f3a19635a91b50b41fd37db4b918261e3d2e noduleCADEvaluationLUNA16.py (lib2to3)",
            "monai": "Project-MONAI/MONAI@d388d1c6fec8cb3a0eebee5b5a0b9776ca59ca83 monai/metrics/froc.py",
            "diag": "DIAG LUNA16 CPM calculator (2025), evaluateCAD_for_cpm",
            "numpy": np.__version__, "sklearn": sklearn.__version__, "python": sys.version.split()[0],
        },
        "sets": out,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    m = next(e for e in out if e["name"] == "metrics-md-3.3")["expected"]
    print(f"wrote {len(out)} sets to {OUT}; §3.3 example: cpm {m['cpm']:.4f}, nearest {m['cpm_nearest']:.4f}, monai {m['cpm_monai_staircase']:.4f}")
    differ = sum(1 for e in out if e["expected"]["cpm"] is not None and abs(e["expected"]["cpm"] - e["expected"]["cpm_monai_staircase"]) > 1e-12)
    print(f"envelope CPM differs from MONAI staircase in {differ} sets")
    dropped = sum(1 for e in out if e["expected"]["cpm"] is not None and abs(e["expected"]["cpm"] - e["luna16"]["cpmEnvelopeOfScriptPoints"]) > 1e-12)
    print(f"envelope over all thresholds differs from the envelope of the script's (drop_intermediate) points in {dropped} sets")


if __name__ == "__main__":
    main()
