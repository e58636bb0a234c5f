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

/** First and last foreground i of every (j, k) row of one mask, −1 for an empty row. */
interface RowSpans {
  readonly first: Int32Array;
  readonly last: Int32Array;
}

/**
 * Row spans of a mask. A Uint8Array mask without a label is scanned four voxels at a time through a Uint32 view
 * when the rows are word-aligned (the common case: a 512-wide uint8 mask).
 */
function rowSpans(data: VoxelArray, dims: Vec3, label: number | undefined): RowSpans {
  const [n0, n1, n2] = dims;
  const rows = n1 * n2;
  const first = new Int32Array(rows).fill(-1);
  const last = new Int32Array(rows).fill(-1);
  const words = label === undefined && data instanceof Uint8Array && data.byteOffset % 4 === 0 && n0 % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, data.length >> 2) : null;
  const w0 = n0 >> 2;
  for (let r = 0; r < rows; r++) {
    const row = r * n0;
    let i = 0;
    if (words !== null) {
      const wr = r * w0;
      let w = 0;
      while (w < w0 && words[wr + w] === 0) w++;
      if (w === w0) continue;
      i = w * 4;
      while (data[row + i] === 0) i++;
      let e = w0 - 1;
      while (words[wr + e] === 0) e--;
      let last4 = e * 4 + 3;
      while (data[row + last4] === 0) last4--;
      first[r] = i;
      last[r] = last4;
      continue;
    }
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
    first[r] = i;
    last[r] = e;
  }
  return { first, last };
}

/** [min, max] per axis of the foreground of either mask, or null when both are empty. */
function unionBoundingBox(spans: readonly RowSpans[], dims: Vec3): [Vec3, Vec3] | null {
  const [n0, n1, n2] = dims;
  const min: Vec3 = [n0, n1, n2];
  const max: Vec3 = [-1, -1, -1];
  for (const { first, last } of spans) {
    for (let k = 0; k < n2; k++) {
      for (let j = 0; j < n1; j++) {
        const r = j + n1 * k;
        const f = first[r] as number;
        if (f === -1) continue;
        if (f < min[0]) min[0] = f;
        if ((last[r] as number) > max[0]) max[0] = last[r] as number;
        if (j < min[1]) min[1] = j;
        if (j > max[1]) max[1] = j;
        if (k < min[2]) min[2] = k;
        if (k > max[2]) max[2] = k;
      }
    }
  }
  return max[0] === -1 ? null : [min, max];
}

interface Surface {
  /**
   * Index of each surface cell, ascending, in the grid q = extent + 2 of the crop (DeepMind's crop plus its one-voxel
   * pad, and one more so that index arithmetic never leaves the grid). Cell (x, y, z) spans crop voxels x−1 … x.
   */
  readonly cells: Int32Array;
  readonly codes: Uint8Array;
}

/**
 * Surface cells of one mask, read straight from the volume (no cropped copy): the cell (x, y, z) ∈ [0, extent]³ has
 * DeepMind code Σ m[x−1+a, y−1+b, z−1+c]·2^(7−(4a+2b+c)) over crop voxels, background outside the crop; it is a
 * surface cell when the code is neither 0 nor 255. Only the x-range under some foreground is visited.
 */
function surfaceCells(data: VoxelArray, dims: Vec3, spans: RowSpans, min: Vec3, max: Vec3, label: number | undefined): Surface {
  const [n0, n1] = dims;
  const e: Vec3 = [max[0] - min[0] + 1, max[1] - min[1] + 1, max[2] - min[2] + 1];
  const q: Vec3 = [e[0] + 2, e[1] + 2, e[2] + 2];
  let cells = new Int32Array(4096);
  let codes = new Uint8Array(4096);
  let count = 0;
  // Voxel rows of a cell row: (b, c) = (0,0) → (y−1, z−1), (0,1) → (y−1, z), (1,0) → (y, z−1), (1,1) → (y, z);
  // their nibble weights 8, 4, 2, 1 (a = 0 forms the high nibble of the code, a = 1 the low one).
  const rowBase = new Int32Array(4);
  const rowLo = new Int32Array(4);
  const rowHi = new Int32Array(4);
  const weight = [8, 4, 2, 1];
  for (let z = 0; z <= e[2]; z++) {
    for (let y = 0; y <= e[1]; y++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let t = 0; t < 4; t++) {
        const yy = y - 1 + (t >> 1);
        const zz = z - 1 + (t & 1);
        rowLo[t] = 1;
        rowHi[t] = 0;
        if (yy < 0 || yy >= e[1] || zz < 0 || zz >= e[2]) continue;
        const r = min[1] + yy + n1 * (min[2] + zz);
        const f = spans.first[r] as number;
        if (f === -1) continue;
        rowLo[t] = f - min[0];
        rowHi[t] = (spans.last[r] as number) - min[0];
        rowBase[t] = n0 * r + min[0];
        if ((rowLo[t] as number) < lo) lo = rowLo[t] as number;
        if ((rowHi[t] as number) > hi) hi = rowHi[t] as number;
      }
      if (hi < lo) continue;
      const base = q[0] * (y + q[1] * z);
      // Crop voxel xv of row t is foreground iff inside the row's span and the voxel matches.
      const nibble = (xv: number): number => {
        let nb = 0;
        for (let t = 0; t < 4; t++) {
          if (xv < (rowLo[t] as number) || xv > (rowHi[t] as number)) continue;
          const v = data[(rowBase[t] as number) + xv] as number;
          if (label === undefined ? v !== 0 : v === label) nb |= weight[t] as number;
        }
        return nb;
      };
      let prev = 0; // nibble of voxel lo − 1: outside every span
      for (let x = lo; x <= hi + 1; x++) {
        const next = nibble(x);
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
  return { cells: cells.slice(0, count), codes: codes.slice(0, count) };
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
 * into the grid q. +∞ for every query when there is no feature (DeepMind's map for an empty surface), so no transform
 * ever runs without a feature (METRICS.md §2.5 rule 5).
 *
 * The separable transform is evaluated only where the last pass needs it: pass 1 (axis 0) on the rows holding a
 * feature, one slice at a time; pass 2 (axis 1) only in the columns x of some query line and only at the rows y of
 * those lines; pass 3 (axis 2) only along the query lines, at the queries. Each pass is exact (lower envelope of
 * parabolas), so the minimum is the full transform's.
 */
export function distancesToNearest(features: Int32Array, queries: Int32Array, q: Vec3, spacing: readonly [number, number, number]): Float64Array {
  const out = new Float64Array(queries.length);
  if (features.length === 0) return out.fill(Infinity);
  if (queries.length === 0) return out;
  const [q0, q1, q2] = q;
  const [s0, s1, s2] = spacing;
  const plane = q0 * q1;
  const scratch = new Scratch(Math.max(q0, q1, q2));
  const { pos, val, v, zb } = scratch;

  // Query lines (x, y), numbered in order of (x, then y), and the queries of each line (z ascending).
  const lineOfCell = new Int32Array(plane).fill(-1);
  for (let i = 0; i < queries.length; i++) lineOfCell[(queries[i] as number) % plane] = 0;
  const lineX: number[] = [];
  const lineY: number[] = [];
  const xStart: number[] = [];
  const xs: number[] = [];
  for (let x = 0; x < q0; x++) {
    let any = false;
    for (let y = 0; y < q1; y++) {
      const c = x + q0 * y;
      if (lineOfCell[c] === -1) continue;
      if (!any) {
        any = true;
        xs.push(x);
        xStart.push(lineX.length);
      }
      lineOfCell[c] = lineX.length;
      lineX.push(x);
      lineY.push(y);
    }
  }
  xStart.push(lineX.length);
  const nLines = lineX.length;

  // Slices holding a feature: the only sites of pass 3.
  const zSites: number[] = [];
  for (let f = 0; f < features.length; ) {
    const z = Math.floor((features[f] as number) / plane);
    zSites.push(z);
    while (f < features.length && Math.floor((features[f] as number) / plane) === z) f++;
  }
  const nz = zSites.length;
  // g2[line·nz + t]: ((Δ₀s₀)² + (Δ₁s₁)²) to the nearest feature of slice zSites[t], for each query line.
  const g2 = new Float64Array(nLines * nz);
  const slice = new Float64Array(plane);
  const sitesY = new Int32Array(q1);
  const s1sq = s1 * s1;
  let f = 0;
  for (let t = 0; t < nz; t++) {
    const z = zSites[t] as number;
    const sliceBase = plane * z;
    // Pass 1 on the feature rows of this slice.
    let m = 0;
    while (f < features.length && (features[f] as number) < sliceBase + plane) {
      const y = Math.floor(((features[f] as number) - sliceBase) / q0);
      const rowStart = sliceBase + q0 * y;
      sitesY[m++] = y;
      const base = q0 * y;
      let prev = -1;
      let x = 0;
      while (f < features.length && (features[f] as number) < rowStart + q0) {
        const fx = (features[f] as number) - rowStart;
        for (; x <= fx; x++) {
          const dNext = fx - x;
          const d = prev >= 0 && x - prev < dNext ? x - prev : dNext;
          const dm = d * s0;
          slice[base + x] = dm * dm;
        }
        prev = fx;
        f++;
      }
      for (; x < q0; x++) {
        const dm = (x - prev) * s0;
        slice[base + x] = dm * dm;
      }
    }
    // Pass 2 in the query columns, at the query rows.
    for (let c = 0; c < xs.length; c++) {
      const x = xs[c] as number;
      for (let u = 0; u < m; u++) val[u] = slice[x + q0 * (sitesY[u] as number)] as number;
      envelope(sitesY, val, m, s1sq, v, zb);
      let k = 0;
      for (let line = xStart[c] as number; line < (xStart[c + 1] as number); line++) {
        const y = lineY[line] as number;
        while ((zb[k + 1] as number) < y) k++;
        const u = v[k] as number;
        const dm = (y - (sitesY[u] as number)) * s1;
        g2[line * nz + t] = (val[u] as number) + dm * dm;
      }
    }
  }

  // Pass 3 along each query line, at its queries (grouped by line with a counting sort; z ascending within a line).
  const start = new Int32Array(nLines + 1);
  for (let i = 0; i < queries.length; i++) {
    const l = lineOfCell[(queries[i] as number) % plane] as number;
    start[l + 1] = (start[l + 1] as number) + 1;
  }
  for (let l = 0; l < nLines; l++) start[l + 1] = (start[l + 1] as number) + (start[l] as number);
  const order = new Int32Array(queries.length);
  const fill = start.slice(0, nLines);
  for (let i = 0; i < queries.length; i++) {
    const l = lineOfCell[(queries[i] as number) % plane] as number;
    order[fill[l] as number] = i;
    fill[l] = (fill[l] as number) + 1;
  }
  // Per query, the feature slices outward from its own z: a slice at Δz can only win while (Δz·s₂)² < best, and
  // g2 + (Δz·s₂)² ≥ (Δz·s₂)² in floating point too, so stopping there is exact. Most queries lie near the other
  // surface and stop after a few slices; a far one visits at most every feature slice, as the full pass would.
  const zPos = Int32Array.from(zSites);
  const firstAtOrAbove = new Int32Array(q2 + 1);
  for (let z = q2 - 1, t = nz; z >= 0; z--) {
    while (t > 0 && (zPos[t - 1] as number) >= z) t--;
    firstAtOrAbove[z] = t;
  }
  for (let l = 0; l < nLines; l++) {
    const row = l * nz;
    for (let c = start[l] as number; c < (start[l + 1] as number); c++) {
      const qi = order[c] as number;
      const z = Math.floor((queries[qi] as number) / plane);
      let best = Infinity;
      for (let t = firstAtOrAbove[z] as number; t < nz; t++) {
        const dm = ((zPos[t] as number) - z) * s2;
        const dz2 = dm * dm;
        if (dz2 >= best) break;
        const cand = (g2[row + t] as number) + dz2;
        if (cand < best) best = cand;
      }
      for (let t = (firstAtOrAbove[z] as number) - 1; t >= 0; t--) {
        const dm = (z - (zPos[t] as number)) * s2;
        const dz2 = dm * dm;
        if (dz2 >= best) break;
        const cand = (g2[row + t] as number) + dz2;
        if (cand < best) best = cand;
      }
      out[qi] = Math.sqrt(best);
    }
  }
  return out;
}

/**
 * Sorts (distance, area) pairs lexicographically, as DeepMind's `_sort_distances_surfels`. Areas take few distinct
 * values (one per neighbour code), so pairs are counted per (distance, area) and written out in order: no comparator
 * sort of the surfels.
 */
export function sortSurfels(distances: Float64Array, areas: Float64Array): [Float64Array, Float64Array] {
  const distinctAreas = Float64Array.from(new Set(areas)).sort();
  const rank = new Map<number, number>();
  distinctAreas.forEach((a, i) => rank.set(a, i));
  const k = distinctAreas.length;
  const buckets = new Map<number, Int32Array>();
  for (let i = 0; i < distances.length; i++) {
    const d = distances[i] as number;
    let b = buckets.get(d);
    if (b === undefined) {
      b = new Int32Array(k);
      buckets.set(d, b);
    }
    const r = rank.get(areas[i] as number) as number;
    b[r] = (b[r] as number) + 1;
  }
  const keys = Float64Array.from(buckets.keys()).sort();
  const d = new Float64Array(distances.length);
  const w = new Float64Array(distances.length);
  let at = 0;
  for (const key of keys) {
    const b = buckets.get(key) as Int32Array;
    for (let r = 0; r < k; r++) {
      const n = b[r] as number;
      if (n === 0) continue;
      d.fill(key, at, at + n);
      w.fill(distinctAreas[r] as number, at, at + n);
      at += n;
    }
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
  const spansGt = rowSpans(gt.data, gt.dims, label);
  const spansPred = rowSpans(pred.data, pred.dims, label);
  const box = unionBoundingBox([spansGt, spansPred], gt.dims);
  if (box === null) return null;
  const [min, max] = box;
  const q: Vec3 = [max[0] - min[0] + 3, max[1] - min[1] + 3, max[2] - min[2] + 3];
  return {
    q,
    gt: surfaceCells(gt.data, gt.dims, spansGt, min, max, label),
    pred: surfaceCells(pred.data, pred.dims, spansPred, min, max, label),
    areaTable: surfelAreaTable(spacing),
  };
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

let sharedWorker: import('node:worker_threads').Worker | null = null;

/** The worker script beside this module, when running compiled JavaScript (not under ts transpilers like jest's). */
function workerScript(): string | null {
  if (!__filename.endsWith('.js')) return null;
  return __filename.replace(/surface-distances\.js$/, 'surface-distance-worker.js');
}

/**
 * computeSurfaceDistances with the two directions on two threads (worker_threads): the same values, in about half the
 * wall time on an idle 2-core machine. Falls back to one thread where no compiled worker script exists. The worker is
 * kept for later calls and unref'd, so it never holds the process open.
 */
export async function computeSurfaceDistancesParallel(
  gt: MaskInput,
  pred: MaskInput,
  spacing: readonly [number, number, number],
  options: SurfaceDistanceOptions = {},
): Promise<SurfaceDistances> {
  const script = workerScript();
  if (script === null) return computeSurfaceDistances(gt, pred, spacing, options);
  const sort = options.sort ?? true;
  const prepared = prepareSurfaces(gt, pred, spacing, options.label);
  if (prepared === null || prepared.gt.cells.length === 0 || prepared.pred.cells.length === 0) return computeSurfaceDistances(gt, pred, spacing, options);
  const { Worker } = await import('node:worker_threads');
  sharedWorker ??= new Worker(script);
  const worker = sharedWorker;
  worker.unref();
  const remote = new Promise<Float64Array>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    worker.once('error', onError);
    worker.once('message', (m: Float64Array) => {
      worker.off('error', onError);
      resolve(m);
    });
  });
  worker.ref();
  worker.postMessage({ features: prepared.pred.cells, queries: prepared.gt.cells, q: prepared.q, spacing: [...spacing] });
  let dPred = distancesToNearest(prepared.gt.cells, prepared.pred.cells, prepared.q, spacing);
  let dGt = await remote;
  worker.unref();
  let aGt = areasOf(prepared.gt, prepared.areaTable);
  let aPred = areasOf(prepared.pred, prepared.areaTable);
  if (sort) {
    [dGt, aGt] = sortSurfels(dGt, aGt);
    [dPred, aPred] = sortSurfels(dPred, aPred);
  }
  return { distancesGtToPred: dGt, distancesPredToGt: dPred, surfelAreasGt: aGt, surfelAreasPred: aPred, sorted: sort };
}
