#!/usr/bin/python3
"""Reference reader for src/volumes/nifti-write.spec.ts and src/phantoms specs: reads NIfTI files with nibabel (an
implementation independent of Assay) and prints, per file, what nibabel makes of the header and the voxels as JSON.

Usage: /usr/bin/python3 test/golden/nibabel-read-nifti.py FILE [FILE ...]
Voxels come back base64-encoded, little-endian, i fastest (Fortran order), in the on-disk dtype.
Lesion centres: for a uint8 mask, the 26-connected components (scipy.ndimage.label) with their voxel counts and their
centre of mass mapped through nibabel's affine to RAS world millimetres.
"""
import base64
import json
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage


def describe(path):
    img = nib.load(path)
    hdr = img.header
    data = np.asanyarray(img.dataobj)
    out = {
        "path": path,
        "shape": list(data.shape),
        "dtype": str(data.dtype),
        "affine": img.affine.tolist(),
        "qform": img.get_qform().tolist(),
        "sform": img.get_sform().tolist(),
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "zooms": [float(z) for z in hdr.get_zooms()],
        "qfac": float(hdr["pixdim"][0]),
        # nibabel resets the loaded header's vox_offset to 0; the array proxy keeps the offset it read.
        "vox_offset": float(img.dataobj.offset),
        "xyzt_units": int(hdr["xyzt_units"]),
        "spatial_units": hdr.get_xyzt_units()[0],
        "data_b64": base64.b64encode(data.astype(data.dtype.newbyteorder("<")).tobytes(order="F")).decode("ascii"),
    }
    if data.dtype == np.uint8 and data.ndim == 3:
        labels, n = ndimage.label(data > 0, structure=np.ones((3, 3, 3)))
        comps = []
        for lab in range(1, n + 1):
            idx = np.argwhere(labels == lab).astype(np.float64)
            com = idx.mean(axis=0)
            ras = img.affine @ np.append(com, 1.0)
            comps.append({"voxels": int(idx.shape[0]), "ras": ras[:3].tolist()})
        out["components"] = comps
    return out


print(json.dumps([describe(p) for p in sys.argv[1:]]))
