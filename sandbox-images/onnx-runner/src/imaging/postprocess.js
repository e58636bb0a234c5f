'use strict';
// From a probability map to what the contract asks for: a uint8 label mask, or detection points in world LPS mm.

const { voxelToWorld } = require('./grid');

/** 1 where the probability reaches the threshold, else 0. */
function maskOf(map, threshold) {
  const mask = new Uint8Array(map.length);
  for (let v = 0; v < map.length; v++) mask[v] = map[v] >= threshold ? 1 : 0;
  return mask;
}

/**
 * Detections from a heatmap on grid `g`. method 'components': each 26-connected component of voxels at or above the
 * threshold gives one point at its probability-weighted centroid, score = its maximum. method 'maxima': each voxel at
 * or above the threshold that no 26-neighbour exceeds gives a point at that voxel. Then, strongest first, a point
 * closer than minDistanceMm (world mm) to a kept one is dropped, and at most maxDetections are kept.
 * The map is modified (visited voxels are marked by negation; values are >= threshold > 0 before).
 */
function detectionsOf(map, g, out) {
  const [ni, nj, nk] = g.dims;
  const th = out.threshold;
  const found = [];
  if (out.method === 'components') {
    const stack = [];
    for (let v0 = 0; v0 < map.length; v0++) {
      if (!(map[v0] >= th)) continue;
      let sw = 0;
      let si = 0;
      let sj = 0;
      let sk = 0;
      let max = 0;
      let size = 0;
      map[v0] = -map[v0];
      stack.push(v0);
      while (stack.length) {
        const v = stack.pop();
        const p = -map[v];
        const i = v % ni;
        const j = Math.floor(v / ni) % nj;
        const k = Math.floor(v / (ni * nj));
        sw += p;
        si += p * i;
        sj += p * j;
        sk += p * k;
        if (p > max) max = p;
        size++;
        for (let dk = -1; dk <= 1; dk++) {
          const kk = k + dk;
          if (kk < 0 || kk >= nk) continue;
          for (let dj = -1; dj <= 1; dj++) {
            const jj = j + dj;
            if (jj < 0 || jj >= nj) continue;
            for (let di = -1; di <= 1; di++) {
              const ii = i + di;
              if (ii < 0 || ii >= ni) continue;
              const u = ii + ni * (jj + nj * kk);
              if (map[u] >= th) {
                map[u] = -map[u];
                stack.push(u);
              }
            }
          }
        }
      }
      found.push({ index: [si / sw, sj / sw, sk / sw], score: max, voxels: size });
    }
  } else {
    for (let k = 0; k < nk; k++) for (let j = 0; j < nj; j++) for (let i = 0; i < ni; i++) {
      const v = i + ni * (j + nj * k);
      const p = map[v];
      if (!(p >= th)) continue;
      let peak = true;
      for (let dk = -1; dk <= 1 && peak; dk++) for (let dj = -1; dj <= 1 && peak; dj++) for (let di = -1; di <= 1; di++) {
        const ii = i + di;
        const jj = j + dj;
        const kk = k + dk;
        if ((di || dj || dk) && ii >= 0 && ii < ni && jj >= 0 && jj < nj && kk >= 0 && kk < nk && map[ii + ni * (jj + nj * kk)] > p) {
          peak = false;
          break;
        }
      }
      if (peak) found.push({ index: [i, j, k], score: p, voxels: 1 });
    }
  }
  found.sort((a, b) => b.score - a.score);
  const kept = [];
  for (const f of found) {
    if (kept.length >= out.maxDetections) break;
    const w = voxelToWorld(g, f.index[0], f.index[1], f.index[2]);
    if (out.minDistanceMm > 0 && kept.some((q) => Math.hypot(q.x - w[0], q.y - w[1], q.z - w[2]) < out.minDistanceMm)) continue;
    kept.push({ x: w[0], y: w[1], z: w[2], score: f.score });
  }
  return kept;
}

module.exports = { maskOf, detectionsOf };
