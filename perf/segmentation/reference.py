#!/usr/bin/python3
"""References for the segmentation-distance benchmark (perf/segmentation/run.sh).

    reference.py make DIR      write the 512×512×300 mask pair (gt.u8, pred.u8 raw, i fastest; gt.nii, pred.nii)
    reference.py scipy DIR     DeepMind's algorithm with SciPy's distance_transform_edt (written here from the
                               algorithm: crop to the union box, pad, 2×2×2 neighbour codes, surfel areas, EDT of the
                               surface cells, distances at the other surface's cells)
    reference.py kdtree DIR    the same surfels, nearest-neighbour distances by scipy.spatial.cKDTree

Each prints one JSON line: seconds of the computation (masks already in memory), HD95, NSD@τ, ASSD.
The surfel-area table is DeepMind's (surface_distance.lookup_tables from the checkout in SURFACE_DISTANCE_DIR,
default /tmp/ref-surface-distance), so the values are DeepMind's definition.
"""
import json
import os
import sys
import time

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

SHAPE = (512, 512, 300)
SPACING = (0.7, 0.7, 1.0)
TAU = 2.0


def make(out):
    """An organ-sized ellipsoid with a bumpy surface plus lesions; the prediction is shifted, rescaled and misses one
    lesion while adding a false one. Deterministic (seeded)."""
    rng = np.random.default_rng(20241117)
    i = np.arange(SHAPE[0], dtype=np.float32)[:, None, None] * SPACING[0]
    j = np.arange(SHAPE[1], dtype=np.float32)[None, :, None] * SPACING[1]
    k = np.arange(SHAPE[2], dtype=np.float32)[None, None, :] * SPACING[2]

    def organ(c, axes, bump_phase):
        x, y, z = (i - c[0]) / axes[0], (j - c[1]) / axes[1], (k - c[2]) / axes[2]
        r = x * x + y * y + z * z
        bump = 0.06 * np.sin(3 * x + bump_phase) * np.cos(2 * y) + 0.04 * np.sin(4 * z + bump_phase)
        return r <= (1 + bump) ** 2

    def ball(c, radius):
        return (i - c[0]) ** 2 + (j - c[1]) ** 2 + (k - c[2]) ** 2 <= radius * radius

    centre = (180.0, 170.0, 150.0)
    gt = organ(centre, (95.0, 75.0, 85.0), 0.0)
    pred = organ((centre[0] + 2.1, centre[1] - 1.4, centre[2] + 1.0), (97.0, 73.0, 84.0), 0.4)
    lesions = [((250.0, 250.0, 120.0), 12.0), ((120.0, 100.0, 190.0), 8.0), ((300.0, 120.0, 60.0), 6.0),
               ((90.0, 260.0, 220.0), 10.0), ((310.0, 300.0, 230.0), 5.0)]
    for n, (c, radius) in enumerate(lesions):
        gt |= ball(c, radius)
        if n != 3:  # one missed lesion
            shift = rng.normal(0, 1.0, 3)
            pred |= ball(tuple(np.array(c) + shift), radius * (0.9 + 0.2 * rng.random()))
    pred |= ball((60.0, 60.0, 40.0), 7.0)  # a false positive far from the organ
    os.makedirs(out, exist_ok=True)
    for name, m in (("gt", gt), ("pred", pred)):
        m.astype(np.uint8).flatten(order="F").tofile(os.path.join(out, f"{name}.u8"))
        try:
            import nibabel as nib
            # Voxel axes (i, j, k) with spacing on the diagonal; plastimatch reads the same grid.
            nib.save(nib.Nifti1Image(m.astype(np.uint8), np.diag([*SPACING, 1.0])), os.path.join(out, f"{name}.nii"))
        except ImportError:
            pass
    print(json.dumps({"dims": SHAPE, "spacing": SPACING, "gtVoxels": int(gt.sum()), "predVoxels": int(pred.sum())}))


def load(d):
    gt = np.fromfile(os.path.join(d, "gt.u8"), np.uint8).reshape(SHAPE, order="F").astype(bool)
    pred = np.fromfile(os.path.join(d, "pred.u8"), np.uint8).reshape(SHAPE, order="F").astype(bool)
    return gt, pred


def area_table():
    sys.path.insert(0, os.environ.get("SURFACE_DISTANCE_DIR", "/tmp/ref-surface-distance"))
    from surface_distance import lookup_tables
    return lookup_tables.create_table_neighbour_code_to_surface_area(SPACING)


KERNEL = np.array([[[128, 64], [32, 16]], [[8, 4], [2, 1]]])


def surfels(gt, pred, table):
    both = gt | pred
    idx = [np.flatnonzero(both.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    lo = [int(x[0]) for x in idx]
    hi = [int(x[-1]) for x in idx]
    out = []
    for m in (gt, pred):
        crop = np.zeros([hi[a] - lo[a] + 2 for a in range(3)], np.uint8)
        crop[:-1, :-1, :-1] = m[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]
        code = ndimage.correlate(crop, KERNEL, mode="constant", cval=0)
        border = (code != 0) & (code != 255)
        out.append((border, table[code[border]]))
    return out


def summarize(d_gt, a_gt, d_pred, a_pred):
    def p95(d, a):
        o = np.lexsort((a, d))
        d, a = d[o], a[o]
        c = np.cumsum(a) / np.sum(a)
        return d[min(np.searchsorted(c, 0.95), len(d) - 1)]
    hd95 = max(p95(d_gt, a_gt), p95(d_pred, a_pred))
    nsd = (np.sum(a_gt[d_gt <= TAU]) + np.sum(a_pred[d_pred <= TAU])) / (np.sum(a_gt) + np.sum(a_pred))
    assd = (np.sum(d_gt * a_gt) + np.sum(d_pred * a_pred)) / (np.sum(a_gt) + np.sum(a_pred))
    return {"hd95": float(hd95), "nsd": float(nsd), "assd": float(assd)}


def run_scipy(gt, pred, table):
    (b_gt, a_gt), (b_pred, a_pred) = surfels(gt, pred, table)
    dist_gt = ndimage.distance_transform_edt(~b_gt, sampling=SPACING)
    dist_pred = ndimage.distance_transform_edt(~b_pred, sampling=SPACING)
    return summarize(dist_pred[b_gt], a_gt, dist_gt[b_pred], a_pred)


def run_kdtree(gt, pred, table):
    (b_gt, a_gt), (b_pred, a_pred) = surfels(gt, pred, table)
    p_gt = np.argwhere(b_gt) * np.array(SPACING)
    p_pred = np.argwhere(b_pred) * np.array(SPACING)
    d_gt, _ = cKDTree(p_pred).query(p_gt, workers=1)
    d_pred, _ = cKDTree(p_gt).query(p_pred, workers=1)
    return summarize(d_gt, a_gt, d_pred, a_pred)


if __name__ == "__main__":
    what, d = sys.argv[1], sys.argv[2]
    if what == "make":
        make(d)
        sys.exit(0)
    gt, pred = load(d)
    table = area_table()
    t0 = time.perf_counter()
    values = (run_scipy if what == "scipy" else run_kdtree)(gt, pred, table)
    seconds = time.perf_counter() - t0
    print(json.dumps({"name": what, "seconds": seconds, **values}))
