'use strict';
// Intensity preprocessing (in place: the volume is the runner's own float32 copy) and resampling between the
// input grid and the model's spacing. Grids follow src/volumes/volume.ts: voxel (i, j, k) at i + ni·(j + nj·k),
// world = origin + direction · diag(spacing) · (i, j, k), LPS mm.

/** Applies the manifest's preprocessing to `data` in place. window: clip to [c − w/2, c + w/2], scale to [0, 1]. */
function preprocess(data, p) {
  const n = data.length;
  if (p.kind === 'window') {
    const lo = p.center - p.width / 2;
    const inv = 1 / p.width;
    for (let v = 0; v < n; v++) {
      const x = (data[v] - lo) * inv;
      data[v] = x < 0 ? 0 : x > 1 ? 1 : x;
    }
  } else if (p.kind === 'normalize' || p.kind === 'zscore') {
    let mean = p.mean;
    let std = p.std;
    if (p.kind === 'zscore') {
      // Two passes in float64: one for the mean, one for the variance (no catastrophic cancellation).
      let s = 0;
      for (let v = 0; v < n; v++) s += data[v];
      mean = s / n;
      let q = 0;
      for (let v = 0; v < n; v++) q += (data[v] - mean) * (data[v] - mean);
      std = Math.sqrt(q / n) || 1;
    }
    const inv = 1 / std;
    for (let v = 0; v < n; v++) data[v] = (data[v] - mean) * inv;
  }
}

/**
 * The grid at the model's spacing covering the same extent: same origin (the centre of voxel 0) and direction,
 * dims round(n · s / s') (at least 1).
 */
function resampledGeometry(g, spacing) {
  const dims = [0, 1, 2].map((c) => Math.max(1, Math.round((g.dims[c] * g.spacing[c]) / spacing[c])));
  return { dims, spacing: spacing.slice(), origin: g.origin.slice(), direction: g.direction.slice() };
}

// Per axis: for each target index, the lower source index and the weight of the upper one (clamped at the edges).
function linearAxis(nTarget, nSource, ratio) {
  const lo = new Int32Array(nTarget);
  const hi = new Int32Array(nTarget);
  const w = new Float64Array(nTarget);
  for (let t = 0; t < nTarget; t++) {
    let x = t * ratio;
    if (x > nSource - 1) x = nSource - 1;
    const l = Math.floor(x);
    lo[t] = l;
    hi[t] = Math.min(l + 1, nSource - 1);
    w[t] = x - l;
  }
  return { lo, hi, w };
}

/** Trilinear resampling of `data` on grid `from` to grid `to` (same origin and direction, other spacing). */
function resampleLinear(data, from, to) {
  const [ni, nj] = from.dims;
  const ax = [0, 1, 2].map((c) => linearAxis(to.dims[c], from.dims[c], to.spacing[c] / from.spacing[c]));
  const [A, B, C] = ax;
  const out = new Float32Array(to.dims[0] * to.dims[1] * to.dims[2]);
  let o = 0;
  for (let k = 0; k < to.dims[2]; k++) {
    const k0 = C.lo[k] * ni * nj;
    const k1 = C.hi[k] * ni * nj;
    const wk = C.w[k];
    for (let j = 0; j < to.dims[1]; j++) {
      const j0 = B.lo[j] * ni;
      const j1 = B.hi[j] * ni;
      const wj = B.w[j];
      for (let i = 0; i < to.dims[0]; i++, o++) {
        const i0 = A.lo[i];
        const i1 = A.hi[i];
        const wi = A.w[i];
        const c00 = data[k0 + j0 + i0] * (1 - wi) + data[k0 + j0 + i1] * wi;
        const c01 = data[k0 + j1 + i0] * (1 - wi) + data[k0 + j1 + i1] * wi;
        const c10 = data[k1 + j0 + i0] * (1 - wi) + data[k1 + j0 + i1] * wi;
        const c11 = data[k1 + j1 + i0] * (1 - wi) + data[k1 + j1 + i1] * wi;
        const c0 = c00 * (1 - wj) + c01 * wj;
        const c1 = c10 * (1 - wj) + c11 * wj;
        out[o] = c0 * (1 - wk) + c1 * wk;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resampling of a label map on grid `from` back to grid `to` (same origin and direction). */
function resampleNearest(labels, from, to) {
  const idx = [0, 1, 2].map((c) => {
    const a = new Int32Array(to.dims[c]);
    const ratio = to.spacing[c] / from.spacing[c];
    for (let t = 0; t < to.dims[c]; t++) a[t] = Math.min(from.dims[c] - 1, Math.max(0, Math.round(t * ratio)));
    return a;
  });
  const [ni, nj] = from.dims;
  const out = new Uint8Array(to.dims[0] * to.dims[1] * to.dims[2]);
  let o = 0;
  for (let k = 0; k < to.dims[2]; k++) {
    const kk = idx[2][k] * ni * nj;
    for (let j = 0; j < to.dims[1]; j++) {
      const jj = kk + idx[1][j] * ni;
      for (let i = 0; i < to.dims[0]; i++, o++) out[o] = labels[jj + idx[0][i]];
    }
  }
  return out;
}

/** World (LPS mm) position of a fractional voxel index. */
function voxelToWorld(g, i, j, k) {
  const a = i * g.spacing[0];
  const b = j * g.spacing[1];
  const c = k * g.spacing[2];
  const d = g.direction;
  return [g.origin[0] + d[0] * a + d[1] * b + d[2] * c, g.origin[1] + d[3] * a + d[4] * b + d[5] * c, g.origin[2] + d[6] * a + d[7] * b + d[8] * c];
}

module.exports = { preprocess, resampledGeometry, resampleLinear, resampleNearest, voxelToWorld };
