/**
 * Grid checks and the one resampling the platform does (METRICS.md §2.1): a prediction on another grid than the
 * reference is mapped onto the reference grid by nearest neighbour; the reference is never resampled.
 */
import { Geometry, Volume, voxelCount, VoxelArray } from './volume';
import { VolumeError } from './volume-error';

const fmt = (v: readonly number[]): string => `[${v.map((x) => +x.toPrecision(10)).join(', ')}]`;

/** What differs between two grids (dims, spacing, origin, direction, with both values); empty when they agree. */
export function geometryDifferences(a: Geometry, b: Geometry, tolerance = 1e-4): string[] {
  const out: string[] = [];
  const differs = (x: readonly number[], y: readonly number[], relative: boolean): boolean =>
    x.some((v, c) => !(Math.abs(v - y[c]!) <= tolerance * (relative ? Math.max(1, Math.abs(v)) : 1)));
  if (a.dims.some((n, c) => n !== b.dims[c])) out.push(`dims ${fmt(a.dims)} vs ${fmt(b.dims)}`);
  if (differs(a.spacing, b.spacing, true)) out.push(`spacing ${fmt(a.spacing)} vs ${fmt(b.spacing)} mm`);
  if (differs(a.origin, b.origin, true)) out.push(`origin ${fmt(a.origin)} vs ${fmt(b.origin)} mm`);
  if (differs(a.direction, b.direction, false)) out.push(`direction ${fmt(a.direction)} vs ${fmt(b.direction)}`);
  return out;
}

/**
 * Whether two grids are the same: equal dims, and spacing, origin and direction equal within `tolerance` (relative for
 * spacing and origin, absolute for direction cosines). The default tolerates the float32 rounding of NIfTI headers.
 */
export function sameGrid(a: Geometry, b: Geometry, tolerance = 1e-4): boolean {
  return geometryDifferences(a, b, tolerance).length === 0;
}

/** Refuses an image and mask (or any two volumes that must share a grid) on different grids, naming what differs. */
export function checkSameGeometry(image: Geometry, mask: Geometry, names: { image: string; mask: string }, tolerance = 1e-4): void {
  const diffs = geometryDifferences(image, mask, tolerance);
  if (diffs.length > 0) {
    throw new VolumeError('geometry_mismatch', `${names.image} and ${names.mask} are not on the same grid: ${diffs.join('; ')} (${names.image} first)`);
  }
}

/** The shared Volume assumes orthonormal direction cosines (worldToVoxel uses the transpose): refuse a sheared one. */
export function checkOrthonormal(name: string, d: readonly number[]): void {
  const col = (c: number): number[] => [d[c]!, d[3 + c]!, d[6 + c]!];
  const dot = (x: number[], y: number[]): number => x[0]! * y[0]! + x[1]! * y[1]! + x[2]! * y[2]!;
  for (const [p, q] of [[0, 1], [0, 2], [1, 2]] as const) {
    if (Math.abs(dot(col(p), col(q))) > 1e-3) throw new VolumeError('unsupported', `${name}: axes ${p} and ${q} are not orthogonal (sheared transform)`);
  }
}

export interface ResampleResult {
  volume: Volume;
  /** False when the prediction was already on the reference grid (its data is returned as is, not copied). */
  resampled: boolean;
  /** One sentence for the report. */
  note: string;
}

/**
 * Rounds a continuous voxel index to the nearest voxel, halves away from zero. An index within 1e-6 of a half or an
 * integer is first snapped to it, so floating-point noise from an oblique direction cannot pick different neighbours
 * for voxel centres that a sub-sampled grid places exactly on, or exactly between, prediction voxels.
 */
export function roundIndex(p: number): number {
  const twice = Math.round(2 * p);
  const q = Math.abs(2 * p - twice) <= 2e-6 ? twice / 2 : p;
  return Math.sign(q) * Math.floor(Math.abs(q) + 0.5);
}

/**
 * The prediction on the reference grid: each reference voxel centre goes through world (LPS mm) coordinates to the
 * nearest prediction voxel; centres outside the prediction's grid are 0 (background, METRICS.md §2.1).
 */
export function resampleNearest(pred: Volume, reference: Geometry): ResampleResult {
  if (pred.data.length !== voxelCount(pred)) throw new Error(`prediction data has ${pred.data.length} voxels, its dims say ${voxelCount(pred)}`);
  const target: Geometry = { dims: [...reference.dims], spacing: [...reference.spacing], origin: [...reference.origin], direction: [...reference.direction] };
  if (sameGrid(pred, reference)) {
    return { volume: { ...target, data: pred.data }, resampled: false, note: 'prediction is on the reference grid; not resampled' };
  }
  // index_pred = A · index_ref + b, with A = diag(1/s_p) · D_pᵀ · D_r · diag(s_r) and b = the reference origin in
  // prediction voxels. Evaluated afresh per voxel (no running sums), so errors do not accumulate across the grid.
  const dp = pred.direction;
  const dr = reference.direction;
  const a: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) a.push(((dp[r]! * dr[c]! + dp[3 + r]! * dr[3 + c]! + dp[6 + r]! * dr[6 + c]!) * reference.spacing[c]!) / pred.spacing[r]!);
  }
  const o = [0, 1, 2].map((c) => reference.origin[c]! - pred.origin[c]!);
  const b = [0, 1, 2].map((r) => (dp[r]! * o[0]! + dp[3 + r]! * o[1]! + dp[6 + r]! * o[2]!) / pred.spacing[r]!);
  const [ni, nj, nk] = reference.dims;
  const [pi, pj, pk] = pred.dims;
  const out = new (pred.data.constructor as new (n: number) => VoxelArray)(ni * nj * nk);
  let outside = 0;
  let v = 0;
  for (let k = 0; k < nk; k++) {
    for (let j = 0; j < nj; j++) {
      for (let i = 0; i < ni; i++, v++) {
        const x = roundIndex(b[0]! + a[0]! * i + a[1]! * j + a[2]! * k);
        const y = roundIndex(b[1]! + a[3]! * i + a[4]! * j + a[5]! * k);
        const z = roundIndex(b[2]! + a[6]! * i + a[7]! * j + a[8]! * k);
        if (x < 0 || y < 0 || z < 0 || x >= pi || y >= pj || z >= pk) outside++;
        else out[v] = pred.data[x + pi * (y + pj * z)]!;
      }
    }
  }
  const note =
    `prediction resampled by nearest neighbour from dims ${fmt(pred.dims)}, spacing ${fmt(pred.spacing)} mm, origin ${fmt(pred.origin)} mm, direction ${fmt(pred.direction)} ` +
    `to the reference grid (dims ${fmt(reference.dims)}, spacing ${fmt(reference.spacing)} mm, origin ${fmt(reference.origin)} mm, direction ${fmt(reference.direction)})` +
    (outside > 0 ? `; ${outside} of ${ni * nj * nk} reference voxels lie outside the prediction and are 0` : '');
  return { volume: { ...target, data: out }, resampled: true, note };
}
