// Per-case, per-class segmentation metrics (METRICS.md §2.2–2.5): overlap on voxel counts, distances on the DeepMind
// surfel model, and the platform's empty-mask rule, so that no value is ever ∞.
import { MetricInputError } from '../metrics.errors';
import { sameGrid } from '../../volumes/geometry';
import { type Volume, physicalDiagonal } from '../../volumes/volume';
import { numpySum } from './numpy-sum';
import { type MaskInput, type SurfaceDistances, computeSurfaceDistances } from './surface-distances';

export type SegmentationStatus = 'ok' | 'ref_empty' | 'pred_empty' | 'both_empty';
export type BothEmptyPolicy = 'exclude' | 'perfect';

export const SEGMENTATION_METRIC_NAMES = ['dice', 'iou', 'hd', 'hd95', 'masd', 'assd', 'nsd'] as const;
export type SegmentationMetricName = (typeof SEGMENTATION_METRIC_NAMES)[number];
export const DISTANCE_METRICS: ReadonlySet<SegmentationMetricName> = new Set(['hd', 'hd95', 'masd', 'assd']);

export const SURFACE_MODEL =
  'DeepMind surface-distance surfels (2×2×2 neighbour codes on the crop to the union bounding box, zero-padded; ' +
  'marching-cubes surfel areas scaled by spacing in array-axis order; exact Euclidean distances between surface cells)';
export const PERCENTILE_METHOD = 'area-weighted nearest-rank percentile (DeepMind compute_robust_hausdorff), max of both directions';

/** One case's values; null = not defined for this case (both masks empty under the 'exclude' policy). */
export type SegmentationValues = Record<SegmentationMetricName, number | null>;

export interface SegmentationCaseScore extends SegmentationValues {
  readonly status: SegmentationStatus;
  /** The worst distance used for one-empty cases: the reference grid's physical diagonal (mm). */
  readonly worstDistanceMm: number;
}

export interface CaseMetricOptions {
  readonly toleranceMm: number;
  /** Foreground label for one-vs-rest of a label map; default any non-zero voxel. */
  readonly label?: number;
  readonly bothEmpty?: BothEmptyPolicy;
}

/** DeepMind `compute_robust_hausdorff` for one direction (distances sorted by (distance, area)). */
export function directedPercentile(distances: Float64Array, areas: Float64Array, percent: number): number {
  const n = distances.length;
  if (n === 0) return Infinity;
  const total = numpySum(areas);
  const target = percent / 100;
  // np.cumsum (sequential) / np.sum (pairwise), then searchsorted side='left': first k with c_k ≥ p/100.
  let cum = 0;
  for (let k = 0; k < n; k++) {
    cum += areas[k] as number;
    if (cum / total >= target) return distances[k] as number;
  }
  return distances[n - 1] as number;
}

function maxOf(a: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if ((a[i] as number) > m) m = a[i] as number;
  return m;
}

function weightedSum(d: Float64Array, w: Float64Array): number {
  const prod = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) prod[i] = (d[i] as number) * (w[i] as number);
  return numpySum(prod);
}

function areaWithin(d: Float64Array, w: Float64Array, tau: number): number {
  const kept: number[] = [];
  for (let i = 0; i < d.length; i++) if ((d[i] as number) <= tau) kept.push(w[i] as number);
  return numpySum(kept);
}

export interface SurfaceMetricValues {
  readonly hd: number;
  readonly hd95: number;
  readonly masd: number;
  readonly assd: number;
  readonly nsd: number;
  readonly asdGtToPred: number;
  readonly asdPredToGt: number;
}

/** Distance metrics of non-empty surfaces, as DeepMind's functions compute them (METRICS.md §2.4). */
export function surfaceMetrics(sd: SurfaceDistances, toleranceMm: number): SurfaceMetricValues {
  if (!sd.sorted) throw new MetricInputError('METRIC_BAD_PARAMETER', 'surface metrics need distances sorted as DeepMind returns them');
  const { distancesGtToPred: dG, distancesPredToGt: dP, surfelAreasGt: aG, surfelAreasPred: aP } = sd;
  const areaG = numpySum(aG);
  const areaP = numpySum(aP);
  const sumG = weightedSum(dG, aG);
  const sumP = weightedSum(dP, aP);
  const asdGtToPred = sumG / areaG;
  const asdPredToGt = sumP / areaP;
  return {
    hd: Math.max(maxOf(dG), maxOf(dP)),
    hd95: Math.max(directedPercentile(dG, aG, 95), directedPercentile(dP, aP, 95)),
    masd: (asdGtToPred + asdPredToGt) / 2,
    assd: (sumG + sumP) / (areaG + areaP),
    nsd: (areaWithin(dG, aG, toleranceMm) + areaWithin(dP, aP, toleranceMm)) / (areaG + areaP),
    asdGtToPred,
    asdPredToGt,
  };
}

export function countForeground(data: MaskInput['data'], label?: number): number {
  let n = 0;
  if (label === undefined) {
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) n++;
  } else {
    for (let i = 0; i < data.length; i++) if (data[i] === label) n++;
  }
  return n;
}

function countBoth(a: MaskInput['data'], b: MaskInput['data'], label?: number): number {
  let n = 0;
  if (label === undefined) {
    for (let i = 0; i < a.length; i++) if (a[i] !== 0 && b[i] !== 0) n++;
  } else {
    for (let i = 0; i < a.length; i++) if (a[i] === label && b[i] === label) n++;
  }
  return n;
}

export function statusOf(refCount: number, predCount: number): SegmentationStatus {
  if (refCount === 0) return predCount === 0 ? 'both_empty' : 'ref_empty';
  return predCount === 0 ? 'pred_empty' : 'ok';
}

/** Values of a case with one or both masks empty (METRICS.md §2.5 platform rule 2–3). */
export function emptyCaseValues(status: Exclude<SegmentationStatus, 'ok'>, worstDistanceMm: number, bothEmpty: BothEmptyPolicy): SegmentationValues {
  if (status === 'both_empty') {
    if (bothEmpty === 'perfect') return { dice: 1, iou: 1, nsd: 1, hd: 0, hd95: 0, masd: 0, assd: 0 };
    return { dice: null, iou: null, nsd: null, hd: null, hd95: null, masd: null, assd: null };
  }
  const w = worstDistanceMm;
  return { dice: 0, iou: 0, nsd: 0, hd: w, hd95: w, masd: w, assd: w };
}

function checkGrids(reference: Volume, prediction: Volume): void {
  if (!sameGrid(reference, prediction)) {
    // §2.1: resampling the prediction is the caller's job (and must be logged); a metric never guesses.
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', 'prediction is not on the reference grid (resample it first, nearest neighbour)');
  }
}

/** All metrics of one case and class. Spacing is the reference's, in array-axis order. */
export function scoreCase(reference: Volume, prediction: Volume, options: CaseMetricOptions): SegmentationCaseScore {
  checkGrids(reference, prediction);
  if (!(Number.isFinite(options.toleranceMm) && options.toleranceMm >= 0)) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', `toleranceMm must be a finite number ≥ 0, got ${options.toleranceMm}`);
  }
  const worstDistanceMm = physicalDiagonal(reference);
  const refCount = countForeground(reference.data, options.label);
  const predCount = countForeground(prediction.data, options.label);
  const status = statusOf(refCount, predCount);
  if (status !== 'ok') return { status, worstDistanceMm, ...emptyCaseValues(status, worstDistanceMm, options.bothEmpty ?? 'exclude') };
  const both = countBoth(reference.data, prediction.data, options.label);
  const dice = (2 * both) / (refCount + predCount);
  const iou = both / (refCount + predCount - both);
  const sd = computeSurfaceDistances(reference, prediction, reference.spacing, options.label === undefined ? {} : { label: options.label });
  const m = surfaceMetrics(sd, options.toleranceMm);
  return { status, worstDistanceMm, dice, iou, hd: m.hd, hd95: m.hd95, masd: m.masd, assd: m.assd, nsd: m.nsd };
}
