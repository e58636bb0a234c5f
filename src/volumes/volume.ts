/**
 * A 3-D image or label volume on a voxel grid, the one in-memory form every reader (NIfTI, MetaImage, DICOM) returns
 * and every writer, metric and resampler takes.
 *
 * Conventions (fixed here so that no reader, metric or model can disagree):
 * - Voxel (i, j, k) is stored at `data[i + dims[0] * (j + dims[1] * k)]`: i varies fastest (NIfTI/ITK order).
 * - `spacing` is in millimetres in array-axis order (i, j, k), widened to float64 exactly as the header stores it.
 * - World coordinates are millimetres in the **LPS** frame (DICOM, ITK, MetaImage and LUNA16's convention). NIfTI's
 *   RAS affine is converted by negating its first two rows on read and back on write.
 * - `direction` is the 3×3 matrix of direction cosines, row-major, whose column c is the world direction of axis c:
 *   world = origin + direction · diag(spacing) · (i, j, k).
 */
export type VoxelArray = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

export type Vec3 = [number, number, number];

export interface Geometry {
  dims: Vec3;
  spacing: Vec3;
  origin: Vec3;
  /** Row-major 3×3; column c is the unit world direction of array axis c. */
  direction: [number, number, number, number, number, number, number, number, number];
}

export interface Volume extends Geometry {
  data: VoxelArray;
}

export const IDENTITY_DIRECTION: Geometry['direction'] = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function voxelCount(g: Pick<Geometry, 'dims'>): number {
  return g.dims[0] * g.dims[1] * g.dims[2];
}

/** World (LPS, mm) position of the centre of voxel (i, j, k); fractional indices allowed. */
export function voxelToWorld(g: Geometry, i: number, j: number, k: number): Vec3 {
  const [si, sj, sk] = g.spacing;
  const d = g.direction;
  const a = i * si;
  const b = j * sj;
  const c = k * sk;
  return [g.origin[0] + d[0] * a + d[1] * b + d[2] * c, g.origin[1] + d[3] * a + d[4] * b + d[5] * c, g.origin[2] + d[6] * a + d[7] * b + d[8] * c];
}

/** Continuous voxel index of a world point (inverse of voxelToWorld; the direction matrix is orthonormal). */
export function worldToVoxel(g: Geometry, x: number, y: number, z: number): Vec3 {
  const d = g.direction;
  const px = x - g.origin[0];
  const py = y - g.origin[1];
  const pz = z - g.origin[2];
  // Orthonormal direction: its inverse is its transpose.
  return [(d[0] * px + d[3] * py + d[6] * pz) / g.spacing[0], (d[1] * px + d[4] * py + d[7] * pz) / g.spacing[1], (d[2] * px + d[5] * py + d[8] * pz) / g.spacing[2]];
}

/** Physical diagonal of the grid's extent, √Σ(n_i·s_i)², mm: the worst distance of METRICS.md §2.5 rule 2. */
export function physicalDiagonal(g: Pick<Geometry, 'dims' | 'spacing'>): number {
  return Math.hypot(g.dims[0] * g.spacing[0], g.dims[1] * g.spacing[1], g.dims[2] * g.spacing[2]);
}
