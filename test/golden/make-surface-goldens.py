#!/usr/bin/python3
"""Golden values for the segmentation surface metrics (src/metrics/segmentation), from DeepMind's own code.

Usage (Debian 12, /usr/bin/python3 with python3-numpy and python3-scipy):

    /usr/bin/python3 test/golden/make-surface-goldens.py /path/to/surface-distance-checkout
    # or SURFACE_DISTANCE_DIR=/path/to/checkout /usr/bin/python3 test/golden/make-surface-goldens.py

The checkout is google-deepmind/surface-distance; the committed JSON was made from commit
1f805cea446805e559badc80dd27f34175e4173d (2025-02-19). Nothing of it is copied into Assay: this script imports it from
the checkout and writes test/golden/surface-goldens.json beside itself, which surface-distances.spec.ts and
segmentation-metrics.spec.ts read.

Masks are written in array-axis order (i, j, k) with i fastest (Assay's Volume layout) as run lengths (alternating
background/foreground runs, starting with background) or as a union of boxes; spacing is in the same axis order, as
DeepMind's `spacing_mm` is in numpy axis order.
"""
import json
import os
import subprocess
import sys

import numpy as np
import scipy
from scipy import ndimage

# DeepMind calls ndimage.filters.correlate and ndimage.morphology.distance_transform_edt; those namespaces are
# deprecated (removal announced for SciPy 2.0). Point them at the current functions so the script runs on any SciPy.
for _ns in ("filters", "morphology"):
    if not hasattr(ndimage, _ns):
        setattr(ndimage, _ns, ndimage)
try:
    ndimage.filters.correlate  # noqa: B018
    ndimage.morphology.distance_transform_edt  # noqa: B018
except AttributeError:
    import types
    ndimage.filters = types.SimpleNamespace(correlate=ndimage.correlate)
    ndimage.morphology = types.SimpleNamespace(distance_transform_edt=ndimage.distance_transform_edt)

CHECKOUT = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SURFACE_DISTANCE_DIR", "")
if not CHECKOUT or not os.path.isdir(os.path.join(CHECKOUT, "surface_distance")):
    sys.exit("give the path of a google-deepmind/surface-distance checkout (argument or SURFACE_DISTANCE_DIR)")
sys.path.insert(0, CHECKOUT)
import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
from surface_distance import lookup_tables, metrics  # noqa: E402

try:
    COMMIT = subprocess.run(["git", "-C", CHECKOUT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or None
except OSError:
    COMMIT = None
COMMIT = COMMIT or os.environ.get("SURFACE_DISTANCE_COMMIT", "1f805cea446805e559badc80dd27f34175e4173d")


def rle(mask):
    flat = mask.flatten(order="F").astype(np.int8)  # i fastest
    change = np.flatnonzero(np.diff(np.concatenate(([0], flat, [1 - flat[-1]]))))
    runs = np.diff(np.concatenate(([0], change)))
    return [int(r) for r in runs]


def mask_json(mask, boxes=None):
    if boxes is not None:
        return {"boxes": boxes}
    return {"rle": rle(mask)}


def boxes_mask(shape, boxes):
    m = np.zeros(shape, bool)
    for b in boxes:
        m[b[0]:b[1], b[2]:b[3], b[4]:b[5]] = True
    return m


def fnum(x):
    x = float(x)
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def values(gt, pred, spacing, tau, arrays):
    sd = metrics.compute_surface_distances(gt, pred, spacing)
    asd = metrics.compute_average_surface_distance(sd)
    a_gt, a_pred = sd["surfel_areas_gt"], sd["surfel_areas_pred"]
    d_gt, d_pred = sd["distances_gt_to_pred"], sd["distances_pred_to_gt"]
    with np.errstate(invalid="ignore", divide="ignore"):
        assd = (np.sum(d_gt * a_gt) + np.sum(d_pred * a_pred)) / (np.sum(a_gt) + np.sum(a_pred))
        out = {
            "hd": fnum(metrics.compute_robust_hausdorff(sd, 100)),
            "hd95": fnum(metrics.compute_robust_hausdorff(sd, 95)),
            "asdGtToPred": fnum(asd[0]),
            "asdPredToGt": fnum(asd[1]),
            "masd": fnum((asd[0] + asd[1]) / 2),
            "assd": fnum(assd),
            "nsd": fnum(metrics.compute_surface_dice_at_tolerance(sd, tau)),
            "overlap": [fnum(v) for v in metrics.compute_surface_overlap_at_tolerance(sd, tau)],
            "dice": fnum(metrics.compute_dice_coefficient(gt, pred)),
            "nSurfelsGt": int(len(a_gt)),
            "nSurfelsPred": int(len(a_pred)),
            "areaGt": fnum(np.sum(a_gt)),
            "areaPred": fnum(np.sum(a_pred)),
        }
    if arrays:
        out["arrays"] = {k: [fnum(v) for v in sd[k]] for k in ("distances_gt_to_pred", "distances_pred_to_gt", "surfel_areas_gt", "surfel_areas_pred")}
    else:
        # An equivalent of the sorted arrays that stays small: count of every distinct (distance, area) pair.
        hist = {}
        for k, (dk, ak) in {"gt": (d_gt, a_gt), "pred": (d_pred, a_pred)}.items():
            pairs, counts = np.unique(np.stack([dk, ak], axis=1), axis=0, return_counts=True) if len(dk) else (np.zeros((0, 2)), [])
            hist[k] = [[fnum(p[0]), fnum(p[1]), int(c)] for p, c in zip(pairs, counts)]
        if sum(len(v) for v in hist.values()) <= 400:
            out["pairHistogram"] = hist
    return out


def components(mask):
    _, n = ndimage.label(mask, structure=np.ones((3, 3, 3), int))
    return int(n)


cases = []


def add(name, gt, pred, spacing, tau, note, arrays=False, boxes=None):
    spacing = tuple(float(s) for s in spacing)
    cases.append({
        "name": name,
        "note": note,
        "dims": list(gt.shape),
        "spacing": list(spacing),
        "toleranceMm": float(tau),
        "reference": mask_json(gt, None if boxes is None else boxes[0]),
        "prediction": mask_json(pred, None if boxes is None else boxes[1]),
        "componentsReference": components(gt),
        "componentsPrediction": components(pred),
        "deepmind": values(gt, pred, spacing, tau, arrays),
    })


# METRICS.md §2.6 case A.
shape = (40, 40, 40)
bA = ([[10, 20, 10, 20, 10, 20]], [[11, 21, 10, 20, 12, 22], [30, 32, 30, 32, 30, 32]])
add("metrics-md-A", boxes_mask(shape, bA[0]), boxes_mask(shape, bA[1]), (2.0, 1.0, 0.5), 1.0, "METRICS.md §2.6 case A", boxes=bA)

# Case B: 2-D discs, evaluated as a one-slice 3-D volume (Assay is 3-D only); DeepMind's 2-D result is recorded too.
ii, jj = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
disc_r = (ii - 32) ** 2 + (jj - 32) ** 2 <= 10 ** 2
disc_p = (ii - 33) ** 2 + (jj - 31) ** 2 <= 12 ** 2
add("metrics-md-B-one-slice", disc_r[:, :, None], disc_p[:, :, None], (1.0, 1.0, 1.0), 1.0,
    "METRICS.md §2.6 case B as a 64×64×1 volume: top and bottom faces are surfaces too, so values differ from the 2-D ones")
sd2 = metrics.compute_surface_distances(disc_r, disc_p, (1.0, 1.0))
cases[-1]["deepmind2d"] = {
    "hd": fnum(metrics.compute_robust_hausdorff(sd2, 100)),
    "hd95": fnum(metrics.compute_robust_hausdorff(sd2, 95)),
    "masd": fnum(np.mean(metrics.compute_average_surface_distance(sd2))),
    "nsd": fnum(metrics.compute_surface_dice_at_tolerance(sd2, 1.0)),
}

# Case C: CT-like sphere vs ellipsoid.
sp = (3.0, 0.8, 0.8)
i, j, k = np.meshgrid(np.arange(24), np.arange(64), np.arange(64), indexing="ij")
x, y, z = (i - 12) * sp[0], (j - 32) * sp[1], (k - 32) * sp[2]
sphere = x ** 2 + y ** 2 + z ** 2 <= 12 ** 2
xe, ye, ze = (i - 12) * sp[0], (j - 34) * sp[1], (k - 31) * sp[2]
ellipsoid = (xe / 13.2) ** 2 + (ye / 12) ** 2 + (ze / 10.8) ** 2 <= 1
add("metrics-md-C", sphere, ellipsoid, sp, 2.0, "METRICS.md §2.6 case C")

# DeepMind's unit-test cases (surface_distance_test.py), 3-D.
g = np.zeros((128, 128, 128), bool); p = np.zeros_like(g)
g[50, 60, 70] = 1; p[50, 60, 72] = 1
add("deepmind-two-voxels-2mm", g, p, (3, 2, 1), 1.0, "test_on_2_pixels_2mm_away (3-D)", arrays=True,
    boxes=([[50, 51, 60, 61, 70, 71]], [[50, 51, 60, 61, 72, 73]]))
bC = ([[0, 50, 0, 100, 0, 100]], [[0, 51, 0, 100, 0, 100]])
add("deepmind-two-cubes-shifted", boxes_mask((100, 100, 100), bC[0]), boxes_mask((100, 100, 100), bC[1]), (2, 1, 1), 1.0,
    "test_two_cubes_shifted_by_one_pixel: touches the image border on four sides", boxes=bC)
g = np.zeros((128, 128, 128), bool); e = np.zeros_like(g); g[50, 60, 70] = 1
add("deepmind-empty-prediction", g, e, (3, 2, 1), 1.0, "test_empty_prediction_mask (3-D)", arrays=True,
    boxes=([[50, 51, 60, 61, 70, 71]], []))
add("deepmind-empty-reference", e, g, (3, 2, 1), 1.0, "test_empty_ground_truth_mask (3-D)", arrays=True,
    boxes=([], [[50, 51, 60, 61, 70, 71]]))
add("deepmind-both-empty", e, e, (3, 2, 1), 1.0, "test_both_empty_masks (3-D)", arrays=True, boxes=([], []))
# The 2-D two-squares test as a one-slice volume, away from the border in-plane.
sq_g = np.zeros((6, 6, 1), bool); sq_g[1:3, 1:3] = 1
sq_p = np.zeros((6, 6, 1), bool); sq_p[1:4, 1:3] = 1
add("deepmind-two-squares-one-slice", sq_g, sq_p, (2, 1, 1), 1.0, "test_two_squares_shifted_by_one_pixel as 6×6×1", arrays=True)
# Objects that fill the whole grid (every face on the border): no all-foreground EDT may be run.
full = np.ones((5, 4, 3), bool)
add("full-grid-both", full, full, (1.0, 2.0, 3.0), 1.0, "both masks fill the grid", arrays=True)
part = full.copy(); part[4] = False
add("full-grid-vs-part", full, part, (1.0, 2.0, 3.0), 1.0, "a full grid vs the grid less one slice", arrays=True)

# Seeded random blobs with anisotropic spacing (incl. thick slices and τ a multiple of the spacing).
rng = np.random.default_rng(20240917)
spacings = [(0.7, 0.7, 5.0), (0.7, 0.7, 5.0), (0.7, 0.7, 5.0), (1.0, 1.0, 1.0), (0.8, 0.8, 3.0), (2.0, 1.0, 0.5),
            (0.6000000238418579, 0.6000000238418579, 1.25), (1.5, 0.9, 0.9), (0.7, 0.7, 1.0), (3.0, 0.8, 0.8)]
for b in range(20):
    s = spacings[b % len(spacings)]
    n = (int(rng.integers(16, 36)), int(rng.integers(16, 36)), int(rng.integers(6, 18)))
    base = ndimage.gaussian_filter(rng.standard_normal(n), sigma=(2.5, 2.5, 1.5))
    noise = ndimage.gaussian_filter(rng.standard_normal(n), sigma=(1.5, 1.5, 1.0))
    thr = np.quantile(base, 0.75 if b % 3 else 0.9)
    gt = base > thr
    pred = (base + 0.6 * noise * base.std() / max(noise.std(), 1e-9)) > thr * (0.9 + 0.2 * rng.random())
    if b % 5 == 4:
        pred[:, :, :2] = gt[:, :, :2] | True  # prediction touches the image border
    taus = [2 * s[0], s[2], 1.0, 2.5]
    tau = float(taus[b % len(taus)])
    add(f"blob-{b:02d}", gt, pred, s, tau, f"seeded blob {b}, spacing {s}, tau {tau}", arrays=False)

# DeepMind's area table at several spacings (never imported into Assay; the spec compares its own derivation).
area_tables = []
for s in [(1.0, 1.0, 1.0), (0.7, 0.7, 5.0), (3.0, 2.0, 1.0), (2.0, 1.0, 0.5), (0.6000000238418579, 1.3, 2.9)]:
    area_tables.append({"spacing": list(s), "areas": [float(a) for a in lookup_tables.create_table_neighbour_code_to_surface_area(s)]})

# The nearest-rank percentile on METRICS.md's toy check (equal weights, d = [0×18, 1, 3]).
toy = {"distances_gt_to_pred": np.array([0.0] * 18 + [1.0, 3.0]), "surfel_areas_gt": np.ones(20),
       "distances_pred_to_gt": np.array([0.0]), "surfel_areas_pred": np.ones(1)}

out = {
    "generator": {
        "script": "test/golden/make-surface-goldens.py",
        "surfaceDistanceCommit": COMMIT,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": sys.version.split()[0],
    },
    "areaTables": area_tables,
    "toyPercentile": {"distances": toy["distances_gt_to_pred"].tolist(), "hd95": float(metrics.compute_robust_hausdorff(toy, 95))},
    "cases": cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "surface-goldens.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(f"wrote {path}: {os.path.getsize(path)} bytes, {len(cases)} cases")
