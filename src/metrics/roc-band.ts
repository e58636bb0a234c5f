// Pointwise confidence band of an ROC curve (METRICS.md §4): sensitivity at fixed false-positive rates, from the
// stratified bootstrap of patients that every other CI uses (bootstrap.ts: mulberry32, class-stratified draws). Written
// here rather than taken from a library because it must use Assay's own replicate draws (so a report is reproducible
// from its seed) and weights instead of copies (B × n stays cheap at 100k cases).
import { forEachReplicate, PRNG_NAME } from './bootstrap';
import { MetricInputError } from './metrics.errors';
import { quantileType7 } from './stats';

/** Grid points 0, 1/G, …, 1 of the false-positive rate. */
export const ROC_BAND_GRID = 100;

export interface RocBandOptions {
  readonly replicates: number;
  readonly seed: number;
  /** Number of grid intervals (default ROC_BAND_GRID: a point every 0.01). */
  readonly grid?: number;
}

export interface RocBand {
  readonly points: { fpr: number; lo: number; hi: number }[];
  readonly method: string;
  readonly B: number;
  readonly seed: number;
}

export const rocBandMethod = (B: number, seed: number, grid: number): string =>
  `pointwise 95% band: sensitivity at false-positive rates 0, ${1 / grid}, …, 1 (linear between the ROC curve's vertices, the highest vertex where one sits exactly at the rate), percentile (type 7) over ${B} bootstrap replicates stratified by class (${PRNG_NAME}, seed ${seed}), as pROC's ci.se`;

/**
 * Sensitivity of the weighted ROC curve at FPR = i / grid, for i = 0..grid, into `out`. `order` lists case indices by
 * descending score and `groupEnd[k]` is 1 where the k-th of them is the last of its tied score; `fp`/`tp` are scratch
 * arrays of order.length + 1. Integer weights (copies), so "a vertex sits exactly at the rate" is decided in integers
 * (fp · grid = i · negatives), never in floating point.
 */
export function sensitivityOnGrid(
  labels: ArrayLike<number>,
  order: Int32Array,
  groupEnd: Uint8Array,
  weights: ArrayLike<number>,
  grid: number,
  out: Float64Array,
  fp: Float64Array,
  tp: Float64Array,
): void {
  // Vertices after each tied group, from (0, 0) to (negatives, positives).
  let m = 1;
  fp[0] = 0;
  tp[0] = 0;
  let f = 0;
  let t = 0;
  for (let k = 0; k < order.length; k++) {
    const c = order[k] as number;
    if (labels[c] === 1) t += weights[c] as number;
    else f += weights[c] as number;
    if (groupEnd[k]) {
      fp[m] = f;
      tp[m] = t;
      m++;
    }
  }
  const neg = f;
  const pos = t;
  let j = 0;
  for (let i = 0; i <= grid; i++) {
    const target = i * neg;
    // The last vertex at or before the rate; at a rate with several vertices, the highest of them.
    while (j + 1 < m && (fp[j + 1] as number) * grid <= target) j++;
    const fj = fp[j] as number;
    const tj = tp[j] as number;
    if (fj * grid === target) out[i] = tj / pos;
    else {
      // Strictly between vertex j and the next one (one exists: the last vertex sits at rate 1).
      const f1 = fp[j + 1] as number;
      const t1 = tp[j + 1] as number;
      out[i] = (tj + ((t1 - tj) * (target - fj * grid)) / ((f1 - fj) * grid)) / pos;
    }
  }
}

/** Descending-score order and tie-group ends, once per curve. */
export function rocOrder(scores: ArrayLike<number>): { order: Int32Array; groupEnd: Uint8Array } {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const groupEnd = new Uint8Array(order.length);
  for (let k = 0; k < order.length; k++) groupEnd[k] = k === order.length - 1 || scores[order[k] as number] !== scores[order[k + 1] as number] ? 1 : 0;
  return { order, groupEnd };
}

export function rocBand(labels: readonly number[], scores: readonly number[], options: RocBandOptions): RocBand {
  const grid = options.grid ?? ROC_BAND_GRID;
  if (labels.length !== scores.length) throw new MetricInputError('METRIC_LENGTH_MISMATCH', `labels (${labels.length}) and scores (${scores.length}) differ in length`);
  if (!labels.some((y) => y === 1) || !labels.some((y) => y === 0)) throw new MetricInputError('METRIC_EMPTY_INPUT', 'an ROC band needs both classes');
  if (!Number.isInteger(grid) || grid < 1 || grid > 10_000) throw new MetricInputError('METRIC_BAD_PARAMETER', `grid must be an integer in 1..10000, got ${grid}`);
  const { order, groupEnd } = rocOrder(scores);
  const B = options.replicates;
  const values = Array.from({ length: grid + 1 }, () => new Float64Array(B));
  const row = new Float64Array(grid + 1);
  const fp = new Float64Array(labels.length + 1);
  const tp = new Float64Array(labels.length + 1);
  forEachReplicate({ n: labels.length, strata: labels, replicates: B, seed: options.seed }, (weights, b) => {
    sensitivityOnGrid(labels, order, groupEnd, weights, grid, row, fp, tp);
    for (let i = 0; i <= grid; i++) (values[i] as Float64Array)[b] = row[i] as number;
  });
  const points = values.map((v, i) => {
    const sorted = Float64Array.from(v).sort();
    return { fpr: i / grid, lo: quantileType7(sorted, 0.025), hi: quantileType7(sorted, 0.975) };
  });
  return { points, method: rocBandMethod(B, options.seed, grid), B, seed: options.seed };
}
