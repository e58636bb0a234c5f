// DeepMind `compute_surface_distances` (google-deepmind/surface-distance, metrics.py; METRICS.md §2.3a), 3-D:
// crop both masks to the bounding box of their union, zero-pad, code every 2×2×2 cell of voxel centres, take the cells
// whose code is neither 0 nor 255 as surface cells with the surfel area of their code, and measure from every surface
// cell of one mask the exact Euclidean distance (mm) to the nearest surface cell of the other.
//
// DeepMind runs a full `distance_transform_edt` per mask. Here the exact EDT (Felzenszwalb & Huttenlocher, "Distance
// transforms of sampled functions", Theory of Computing 8, 2012) runs its first two separable passes on the padded
// crop and the third only along the lines that hold a query cell, evaluated at those cells: the same minimum, with the
// squared distance summed in SciPy's order ((Δ₀s₀)² + (Δ₁s₁)²) + (Δ₂s₂)², so a τ that is a multiple of the spacing
// flips NSD exactly where DeepMind does.
import { MetricInputError } from '../metrics.errors';
import { type Vec3, type VoxelArray } from '../../volumes/volume';
import { surfelAreaTable } from './surfel-areas';

export interface MaskInput {
  readonly dims: Vec3;
  readonly data: VoxelArray;
}

export interface SurfaceDistanceOptions {
  /** Foreground = voxels equal to this label (one-vs-rest); default: any non-zero voxel. */
  readonly label?: number;
  /**
   * Sort each direction by (distance, area) as DeepMind returns them (default true). Needed for the percentile; the
   * other metrics are sums and work unsorted.
   */
  readonly sort?: boolean;
}

export interface SurfaceDistances {
  /** Distance (mm) from each reference surfel to the predicted surface; +∞ everywhere when the prediction is empty. */
  readonly distancesGtToPred: Float64Array;
  readonly distancesPredToGt: Float64Array;
  /** Area (mm²) of each reference surfel, aligned with distancesGtToPred. */
  readonly surfelAreasGt: Float64Array;
  readonly surfelAreasPred: Float64Array;
  readonly sorted: boolean;
}

interface Crop {
  /** Padded crop: one zero voxel on both sides of every axis. Q = extent + 2. */
  readonly q: Vec3;
  readonly gt: Uint8Array;
  readonly pred: Uint8Array;
}

function checkInputs(gt: MaskInput, pred: MaskInput, spacing: readonly number[]): void {
  if (spacing.length !== 3 || !spacing.every((s) => Number.isFinite(s) && s > 0)) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', `spacing must be three positive finite numbers (array-axis order), got ${JSON.stringify(spacing)}`);
  }
  if (!gt.dims.every((n, c) => n === pred.dims[c])) {
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', `reference dims ${gt.dims.join('×')} and prediction dims ${pred.dims.join('×')} differ`);
  }
  const n = gt.dims[0] * gt.dims[1] * gt.dims[2];
  if (gt.data.length !== n || pred.data.length !== n) {
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', `mask data length differs from dims ${gt.dims.join('×')}`);
  }
}

/** [min, max] per axis of the foreground of either mask, or null when both are empty. */
function unionBoundingBox(gt: VoxelArray, pred: VoxelArray, dims: Vec3, label: number | undefined): [Vec3, Vec3] | null {
  const [n0, n1, n2] = dims;
  const min: Vec3 = [n0, n1, n2];
  const max: Vec3 = [-1, -1, -1];
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      const row = n0 * (j + n1 * k);
      let first = -1;
      let last = -1;
      for (const data of [gt, pred]) {
        // Scan from both ends: most rows of a crop-worthy volume are empty or short.
        let i = 0;
        if (label === undefined) {
          while (i < n0 && data[row + i] === 0) i++;
        } else {
          while (i < n0 && data[row + i] !== label) i++;
        }
        if (i === n0) continue;
        let e = n0 - 1;
        if (label === undefined) {
          while (data[row + e] === 0) e--;
        } else {
          while (data[row + e] !== label) e--;
        }
        if (first === -1 || i < first) first = i;
        if (e > last) last = e;
      }
      if (first === -1) continue;
      if (first < min[0]) min[0] = first;
      if (last > max[0]) max[0] = last;
      if (j < min[1]) min[1] = j;
      if (j > max[1]) max[1] = j;
      if (k < min[2]) min[2] = k;
      if (k > max[2]) max[2] = k;
    }
  }
  return max[0] === -1 ? null : [min, max];
}

function cropPadded(gt: VoxelArray, pred: VoxelArray, dims: Vec3, min: Vec3, max: Vec3, label: number | undefined): Crop {
  const e: Vec3 = [max[0] - min[0] + 1, max[1] - min[1] + 1, max[2] - min[2] + 1];
  const q: Vec3 = [e[0] + 2, e[1] + 2, e[2] + 2];
  const size = q[0] * q[1] * q[2];
  const out = { gt: new Uint8Array(size), pred: new Uint8Array(size) };
  const [n0, n1] = dims;
  for (const [src, dst] of [
    [gt, out.gt],
    [pred, out.pred],
  ] as const) {
    for (let z = 0; z < e[2]; z++) {
      for (let y = 0; y < e[1]; y++) {
        const from = min[0] + n0 * (min[1] + y + n1 * (min[2] + z));
        const to = 1 + q[0] * (y + 1 + q[1] * (z + 1));
        for (let x = 0; x < e[0]; x++) {
          const v = src[from + x] as number;
          dst[to + x] = (label === undefined ? v !== 0 : v === label) ? 1 : 0;
        }
      }
    }
  }
  return { q, gt: out.gt, pred: out.pred };
}

interface Surface {
  /** Index in the padded grid of each surface cell, ascending. A cell at index o spans voxels o … o+(1,1,1). */
  readonly cells: Int32Array;
  readonly codes: Uint8Array;
}

/**
 * Surface cells of a padded mask: the cell at (x, y, z) ∈ [0, Q−2]³ has DeepMind code
 * Σ P[x+a, y+b, z+c]·2^(7−(4a+2b+c)); it is a surface cell when the code is neither 0 nor 255.
 */
function surfaceCells(p: Uint8Array, q: Vec3): Surface {
  const [q0, q1, q2] = q;
  const sy = q0;
  const sz = q0 * q1;
  // Which padded rows hold any foreground: a cell row whose four voxel rows are empty has code 0 throughout.
  const rowAny = new Uint8Array(q1 * q2);
  for (let r = 0; r < q1 * q2; r++) {
    const base = r * q0;
    for (let x = 0; x < q0; x++) {
      if (p[base + x] !== 0) {
        rowAny[r] = 1;
        break;
      }
    }
  }
  let cells = new Int32Array(1024);
  let codes = new Uint8Array(1024);
  let count = 0;
  for (let z = 0; z < q2 - 1; z++) {
    for (let y = 0; y < q1 - 1; y++) {
      const r = y + q1 * z;
      if (((rowAny[r] as number) | (rowAny[r + 1] as number) | (rowAny[r + q1] as number) | (rowAny[r + q1 + 1] as number)) === 0) continue;
      const base = sz * z + sy * y;
      // Nibble of voxel column x: bits (b, c) = (0,0) → 8, (0,1) → 4, (1,0) → 2, (1,1) → 1; the cell's code is
      // nibble(x) << 4 | nibble(x + 1) (a = 0 is the high nibble).
      let prev = (p[base] as number) * 8 + (p[base + sz] as number) * 4 + (p[base + sy] as number) * 2 + (p[base + sy + sz] as number);
      for (let x = 0; x < q0 - 1; x++) {
        const o = base + x + 1;
        const next = (p[o] as number) * 8 + (p[o + sz] as number) * 4 + (p[o + sy] as number) * 2 + (p[o + sy + sz] as number);
        const code = (prev << 4) | next;
        prev = next;
        if (code === 0 || code === 255) continue;
        if (count === cells.length) {
          const grownCells = new Int32Array(count * 2);
          grownCells.set(cells);
          cells = grownCells;
          const grownCodes = new Uint8Array(count * 2);
          grownCodes.set(codes);
          codes = grownCodes;
        }
        cells[count] = base + x;
        codes[count] = code;
        count++;
      }
    }
  }
  return { cells: cells.subarray(0, count), codes: codes.subarray(0, count) };
}

/**
 * Lower envelope of the parabolas val[t] + s²(p − pos[t])² over sites t < m (pos ascending): `v` receives the site
 * numbers of the envelope's parabolas and `zb` the boundaries between them (zb[0] = −∞). Returns their count.
 */
function envelope(pos: Int32Array, val: Float64Array, m: number, s2: number, v: Int32Array, zb: Float64Array): number {
  let k = 0;
  v[0] = 0;
  zb[0] = -Infinity;
  zb[1] = Infinity;
  for (let t = 1; t < m; t++) {
    const r = pos[t] as number;
    const hr = (val[t] as number) + s2 * r * r;
    let inter: number;
    for (;;) {
      const u = v[k] as number;
      const pu = pos[u] as number;
      inter = (hr - ((val[u] as number) + s2 * pu * pu)) / (2 * s2 * (r - pu));
      // zb[0] = −∞ stops the loop at k = 0.
      if (inter > (zb[k] as number)) break;
      k--;
    }
    k++;
    v[k] = t;
    zb[k] = inter;
    zb[k + 1] = Infinity;
  }
  return k + 1;
}

/** Scratch buffers of the 1-D passes, sized for the longest axis. */
class Scratch {
  readonly pos: Int32Array;
  readonly val: Float64Array;
  readonly v: Int32Array;
  readonly zb: Float64Array;
  constructor(n: number) {
    this.pos = new Int32Array(n);
    this.val = new Float64Array(n);
    this.v = new Int32Array(n);
    this.zb = new Float64Array(n + 1);
  }
}

/**
 * Exact Euclidean distance (mm) from each query cell to the nearest feature cell, both given as ascending indices
 * into the padded grid q. +∞ for every query when there is no feature (DeepMind's map for an empty surface), so no
 * transform ever runs without a feature (METRICS.md §2.5 rule 5).
 */
export function distancesToNearest(features: Int32Array, queries: Int32Array, q: Vec3, spacing: readonly [number, number, number]): Float64Array {
  const out = new Float64Array(queries.length);
  if (features.length === 0) return out.fill(Infinity);
  if (queries.length === 0) return out;
  const [q0, q1, q2] = q;
  const [s0, s1, s2] = spacing;
  const plane = q0 * q1;
  const g = new Float64Array(plane * q2).fill(Infinity);
  const scratch = new Scratch(Math.max(q0, q1, q2));
  const { pos, val, v, zb } = scratch;

  // Pass 1 (axis 0): (Δ₀·s₀)² to the nearest feature in the row; rows without one stay +∞.
  const rowHas = new Uint8Array(q1 * q2);
  for (let f = 0; f < features.length; ) {
    const row = Math.floor((features[f] as number) / q0);
    const base = row * q0;
    rowHas[row] = 1;
    let prev = -1;
    let x = 0;
    while (f < features.length && (features[f] as number) < base + q0) {
      const fx = (features[f] as number) - base;
      for (; x <= fx; x++) {
        const dNext = fx - x;
        const d = prev >= 0 && x - prev < dNext ? x - prev : dNext;
        const dm = d * s0;
        g[base + x] = dm * dm;
      }
      prev = fx;
      f++;
    }
    for (; x < q0; x++) {
      const dm = (x - prev) * s0;
      g[base + x] = dm * dm;
    }
  }

  // Pass 2 (axis 1), per slice: the rows holding a feature are the sites of every column of the slice.
  const sliceHas = new Uint8Array(q2);
  const s1sq = s1 * s1;
  for (let z = 0; z < q2; z++) {
    let m = 0;
    for (let y = 0; y < q1; y++) if (rowHas[y + q1 * z] === 1) pos[m++] = y;
    if (m === 0) continue;
    sliceHas[z] = 1;
    const sliceBase = plane * z;
    for (let x = 0; x < q0; x++) {
      const col = sliceBase + x;
      for (let t = 0; t < m; t++) val[t] = g[col + q0 * (pos[t] as number)] as number;
      envelope(pos, val, m, s1sq, v, zb);
      let k = 0;
      for (let y = 0; y < q1; y++) {
        while ((zb[k + 1] as number) < y) k++;
        const t = v[k] as number;
        const dm = (y - (pos[t] as number)) * s1;
        g[col + q0 * y] = (val[t] as number) + dm * dm;
      }
    }
  }

  // Pass 3 (axis 2), only along the (x, y) lines that hold a query, evaluated at the queries.
  const zSites = new Int32Array(q2);
  let mz = 0;
  for (let z = 0; z < q2; z++) if (sliceHas[z] === 1) zSites[mz++] = z;
  const order = queriesByLine(queries, plane);
  const s2sq = s2 * s2;
  const zval = new Float64Array(q2);
  for (let a = 0; a < order.length; ) {
    const line = (queries[order[a] as number] as number) % plane;
    let b = a;
    while (b < order.length && (queries[order[b] as number] as number) % plane === line) b++;
    for (let t = 0; t < mz; t++) zval[t] = g[line + plane * (zSites[t] as number)] as number;
    envelope(zSites, zval, mz, s2sq, v, zb);
    let k = 0;
    for (let c = a; c < b; c++) {
      const qi = order[c] as number;
      const z = Math.floor((queries[qi] as number) / plane);
      while ((zb[k + 1] as number) < z) k++;
      const t = v[k] as number;
      const dm = (z - (zSites[t] as number)) * s2;
      out[qi] = Math.sqrt((zval[t] as number) + dm * dm);
    }
    a = b;
  }
  return out;
}

/** Query positions grouped by (x, y) line, z ascending within a line (a stable counting sort of z-major indices). */
function queriesByLine(queries: Int32Array, plane: number): Int32Array {
  const lines = new Int32Array(queries.length);
  const distinct = new Map<number, number>();
  for (let i = 0; i < queries.length; i++) {
    const line = (queries[i] as number) % plane;
    lines[i] = line;
    distinct.set(line, (distinct.get(line) ?? 0) + 1);
  }
  const start = new Map<number, number>();
  let acc = 0;
  for (const [line, count] of distinct) {
    start.set(line, acc);
    acc += count;
  }
  const order = new Int32Array(queries.length);
  for (let i = 0; i < queries.length; i++) {
    const line = lines[i] as number;
    const at = start.get(line) as number;
    order[at] = i;
    start.set(line, at + 1);
  }
  return order;
}

/** Sorts (distance, area) pairs lexicographically, as DeepMind's `_sort_distances_surfels`. */
export function sortSurfels(distances: Float64Array, areas: Float64Array): [Float64Array, Float64Array] {
  const idx = new Uint32Array(distances.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => (distances[a] as number) - (distances[b] as number) || (areas[a] as number) - (areas[b] as number));
  const d = new Float64Array(idx.length);
  const w = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    d[i] = distances[idx[i] as number] as number;
    w[i] = areas[idx[i] as number] as number;
  }
  return [d, w];
}

export interface PreparedSurfaces {
  readonly q: Vec3;
  readonly gt: Surface;
  readonly pred: Surface;
  readonly areaTable: Float64Array;
}

/** Crop, pad and extract both surfaces; null when both masks are empty. */
export function prepareSurfaces(gt: MaskInput, pred: MaskInput, spacing: readonly [number, number, number], label?: number): PreparedSurfaces | null {
  checkInputs(gt, pred, spacing);
  const box = unionBoundingBox(gt.data, pred.data, gt.dims, label);
  if (box === null) return null;
  const crop = cropPadded(gt.data, pred.data, gt.dims, box[0], box[1], label);
  return { q: crop.q, gt: surfaceCells(crop.gt, crop.q), pred: surfaceCells(crop.pred, crop.q), areaTable: surfelAreaTable(spacing) };
}

function areasOf(surface: Surface, table: Float64Array): Float64Array {
  const out = new Float64Array(surface.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = table[surface.codes[i] as number] as number;
  return out;
}

/**
 * DeepMind `compute_surface_distances(mask_gt, mask_pred, spacing_mm)` for 3-D masks, spacing in array-axis order
 * (i, j, k) mm. Both masks empty: four empty arrays. One empty: its arrays are empty and the other's distances +∞.
 */
export function computeSurfaceDistances(
  gt: MaskInput,
  pred: MaskInput,
  spacing: readonly [number, number, number],
  options: SurfaceDistanceOptions = {},
): SurfaceDistances {
  const sort = options.sort ?? true;
  const prepared = prepareSurfaces(gt, pred, spacing, options.label);
  if (prepared === null) {
    const empty = new Float64Array(0);
    return { distancesGtToPred: empty, distancesPredToGt: empty, surfelAreasGt: empty, surfelAreasPred: empty, sorted: sort };
  }
  const { q, areaTable } = prepared;
  let dGt = distancesToNearest(prepared.pred.cells, prepared.gt.cells, q, spacing);
  let dPred = distancesToNearest(prepared.gt.cells, prepared.pred.cells, q, spacing);
  let aGt = areasOf(prepared.gt, areaTable);
  let aPred = areasOf(prepared.pred, areaTable);
  if (sort) {
    [dGt, aGt] = sortSurfels(dGt, aGt);
    [dPred, aPred] = sortSurfels(dPred, aPred);
  }
  return { distancesGtToPred: dGt, distancesPredToGt: dPred, surfelAreasGt: aGt, surfelAreasPred: aPred, sorted: sort };
}
