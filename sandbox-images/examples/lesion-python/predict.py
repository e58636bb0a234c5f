#!/usr/bin/env python3
"""Example lesion algorithm for image tasks: fixed thresholds, no model file.

Contract (DESIGN.md, "The algorithm contract"): /input/manifest.json lists cases whose input "ct" is a NIfTI path
relative to /input. The interface's output says what to write:
  kind "mask":       /output/masks/<caseId>.nii.gz (uint8, the input's grid and affine) and the line
                     {"caseId", "<output name>": "masks/<caseId>.nii.gz"}
  kind "detections": the line {"caseId", "<output name>": [{"x", "y", "z", "score"}]}, world LPS mm
Method: 3x3x3 mean filter, lesion = smoothed HU above THRESHOLD_HU; detection = each connected component of at least
MIN_VOXELS voxels, at its centre of mass, score = a logistic of its peak contrast.
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

INPUT = os.environ.get("ASSAY_INPUT", "/input")
OUTPUT = os.environ.get("ASSAY_OUTPUT", "/output")
THRESHOLD_HU = float(os.environ.get("LESION_THRESHOLD_HU", "72"))
MIN_VOXELS = 5


def segment(hu):
    smooth = ndimage.uniform_filter(hu.astype(np.float32), size=3, mode="nearest")
    return smooth, smooth > THRESHOLD_HU


def voxel_to_lps(affine, ijk):
    ras = affine @ np.array([ijk[0], ijk[1], ijk[2], 1.0])
    return [float(-ras[0]), float(-ras[1]), float(ras[2])]  # NIfTI stores RAS; the contract's world is LPS


def main():
    with open(os.path.join(INPUT, "manifest.json")) as f:
        manifest = json.load(f)
    iface = manifest["interface"]
    in_name = next(i["name"] for i in iface["inputs"] if i.get("kind") == "volume")
    out = iface["outputs"][0]
    kind, field = out["kind"], out["name"]
    if kind not in ("mask", "detections"):
        print(f"unsupported output kind {kind}", file=sys.stderr)
        return 1
    if kind == "mask":
        os.makedirs(os.path.join(OUTPUT, "masks"), exist_ok=True)
    with open(os.path.join(OUTPUT, "predictions.jsonl"), "w") as lines:
        for case in manifest["cases"]:
            cid = case["caseId"]
            img = nib.load(os.path.join(INPUT, case["inputs"][in_name]))
            hu = np.asarray(img.dataobj, dtype=np.float32)
            smooth, mask = segment(hu)
            if kind == "mask":
                rel = f"masks/{cid}.nii.gz"
                m = nib.Nifti1Image(mask.astype(np.uint8), img.affine, img.header)
                m.set_data_dtype(np.uint8)
                m.header.set_slope_inter(1, 0)
                nib.save(m, os.path.join(OUTPUT, rel))
                lines.write(json.dumps({"caseId": cid, field: rel}) + "\n")
            else:
                labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
                dets = []
                for lab in range(1, n + 1):
                    comp = labels == lab
                    if comp.sum() < MIN_VOXELS:
                        continue
                    centre = ndimage.center_of_mass(comp)
                    peak = float(smooth[comp].max())
                    x, y, z = voxel_to_lps(img.affine, centre)
                    dets.append({"x": x, "y": y, "z": z, "score": float(1 / (1 + np.exp(-(peak - THRESHOLD_HU) / 10)))})
                dets.sort(key=lambda d: -d["score"])
                lines.write(json.dumps({"caseId": cid, field: dets}) + "\n")
    print(f"predicted {len(manifest['cases'])} case(s) ({kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
