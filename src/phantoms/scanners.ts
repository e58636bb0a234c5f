import { Vec3 } from '../volumes/volume';

/**
 * The synthetic sites and scanners of the lesion-phantom cohort. Each scanner belongs to one site (site-a has two), so a
 * sample that takes one case per scanner covers every site. Spacing is stored as float32 (what a NIfTI header keeps),
 * so that the in-memory geometry equals what a reader gives back.
 */
export type SiteId = 'site-a' | 'site-b' | 'site-c';
export type ScannerId = 'scanner-a1' | 'scanner-a2' | 'scanner-b1' | 'scanner-c1';

export interface ScannerProfile {
  readonly id: ScannerId;
  readonly site: SiteId;
  /** Nominal spacing as printed in cases.csv, i × j × k, mm. */
  readonly spacingLabel: string;
  /** float32 values of the nominal spacing, mm, array-axis order. */
  readonly spacing: Vec3;
  /** Target SD of the (spatially correlated) image noise, HU. */
  readonly noiseSdHu: number;
  /** Calibration offset added to every voxel, HU. */
  readonly huOffset: number;
  /**
   * Oblique acquisitions: the grid is rotated about the patient's long axis by up to `inPlane` and tilted by up to
   * `tilt` (both as quaternion vector components, ≈ half the angle in radians). null: identity direction.
   */
  readonly oblique: { readonly inPlane: number; readonly tilt: number } | null;
}

const f = Math.fround;

export const SCANNERS: readonly ScannerProfile[] = [
  { id: 'scanner-a1', site: 'site-a', spacingLabel: '0.7x0.7x5', spacing: [f(0.7), f(0.7), 5], noiseSdHu: 14, huOffset: 0, oblique: null },
  { id: 'scanner-a2', site: 'site-a', spacingLabel: '0.8x0.8x2.5', spacing: [f(0.8), f(0.8), 2.5], noiseSdHu: 10, huOffset: -6, oblique: { inPlane: 0.1, tilt: 0.02 } },
  { id: 'scanner-b1', site: 'site-b', spacingLabel: '1x1x1.25', spacing: [1, 1, 1.25], noiseSdHu: 22, huOffset: 10, oblique: null },
  { id: 'scanner-c1', site: 'site-c', spacingLabel: '0.9x0.9x2', spacing: [f(0.9), f(0.9), 2], noiseSdHu: 16, huOffset: 4, oblique: { inPlane: 0.05, tilt: 0.01 } },
];

export function scannerById(id: ScannerId): ScannerProfile {
  const s = SCANNERS.find((x) => x.id === id);
  if (!s) throw new Error(`unknown scanner ${id}`);
  return s;
}
