// One stratified bootstrap for every bootstrap quantity of the binary report (issue 8, scale): AUPRC, Brier and
// balanced accuracy CIs, the AUROC bootstrap CI and sensitivity at specificity 0.8. Every one of them depends on a
// replicate only through the count of resampled cases per (tie group, class) cell, so a replicate draws cells, not
// cases' tie groups: within each class, m uniform draws of the class's case slots, each slot holding only its group
// (a 2-byte table while there are ≤ 65535 distinct scores), counted into a G-long array that stays in cache — the
// same resample as drawing m cases with replacement, without the n-long weight vector and its cache misses. Then each
// statistic is one O(G) walk over the G tie groups. Cost: sort once, O(B·(n + G)) with a small constant.
import { MetricInputError } from './metrics.errors';
import { quantileType7 } from './stats';
import { aucFromGroups, sensAtSpecFromGroups } from './weighted-binary';

export interface CellBootstrapOptions {
  readonly replicates: number;
  readonly seed: number;
  readonly threshold: number;
  /** Sensitivity-at-specificity target of the secondary estimate. */
  readonly specificityTarget: number;
  /** Called now and then with the number of replicates done (progress on stderr for long work). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Test hook: the cell counts of every replicate (positives, negatives per tie group, ascending score). */
  readonly onReplicate?: (b: number, pos: Float64Array, neg: Float64Array) => void;
}

export interface CellBootstrapResult {
  readonly groups: number;
  /** Ascending distinct scores (one per tie group). */
  readonly groupScore: Float64Array;
  readonly values: {
    readonly averagePrecision: Float64Array;
    readonly brier: Float64Array | null;
    readonly balancedAccuracy: Float64Array;
    readonly auroc: Float64Array;
    readonly sensitivityAtSpecificity: Float64Array;
  };
  /** Replicates in which a class was resampled into a single tie group (no within-class spread of scores). */
  readonly degenerate: number;
}

export const CELL_BOOTSTRAP_METHOD =
  'each replicate drawn as counts per (tie group, class) cell, class sizes fixed (cases resampled within outcome ' +
  'strata, only their tie group recorded), PRNG mulberry32; a replicate with a class resampled into one tie group is counted as degenerate';

export function cellBootstrap(labels: readonly number[], scores: readonly number[], options: CellBootstrapOptions): CellBootstrapResult {
  const { replicates: B, seed } = options;
  if (!Number.isInteger(B) || B < 1) throw new MetricInputError('METRIC_BAD_PARAMETER', `bootstrap replicates must be a positive integer, got ${B}`);
  const n = labels.length;
  // Sort once (native numeric sort of a typed array), tie groups = distinct scores, each case's group by binary search.
  const sorted = Float64Array.from(scores).sort();
  let G = 0;
  for (let k = 0; k < n; k++) if (k === 0 || sorted[k] !== sorted[k - 1]) sorted[G++] = sorted[k] as number;
  const groupScore = sorted.slice(0, G);
  const cellPos = new Float64Array(G);
  const cellNeg = new Float64Array(G);
  for (let i = 0; i < n; i++) {
    const s = scores[i] as number;
    let lo = 0;
    let hi = G - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((groupScore[mid] as number) < s) lo = mid + 1;
      else hi = mid;
    }
    if (labels[i] === 1) cellPos[lo] = (cellPos[lo] as number) + 1;
    else cellNeg[lo] = (cellNeg[lo] as number) + 1;
  }
  // Per class, the group of each of its case slots, slots ordered by group: a uniform slot is a uniform case of the
  // class, and only its group is needed. 2 bytes a slot while the groups fit (≤ 65535 distinct scores).
  const classCells = (cells: Float64Array): { slotGroup: Uint16Array | Int32Array; size: number } => {
    let size = 0;
    for (let g = 0; g < G; g++) size += cells[g] as number;
    const slotGroup = G <= 0xffff ? new Uint16Array(size) : new Int32Array(size);
    let k = 0;
    for (let g = 0; g < G; g++) for (let c = 0; c < (cells[g] as number); c++) slotGroup[k++] = g;
    return { slotGroup, size };
  };
  const P = classCells(cellPos);
  const N = classCells(cellNeg);
  if (P.size === 0 || N.size === 0) throw new MetricInputError('METRIC_ONE_CLASS', 'the stratified bootstrap needs both classes');
  const isProbability = groupScore[0]! >= 0 && groupScore[G - 1]! <= 1;
  // First group at or above the threshold: positive calls are groups ≥ gThr.
  let gThr = 0;
  while (gThr < G && (groupScore[gThr] as number) < options.threshold) gThr++;

  const state = new Uint32Array([seed >>> 0]);
  const next32 = (): number => {
    const s = ((state[0] as number) + 0x6d2b79f5) >>> 0;
    state[0] = s;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const pos = new Float64Array(G);
  const neg = new Float64Array(G);
  /** m uniform draws of a class's case slots, counted by group; false when every draw fell in one group. */
  const draw = (c: typeof P, into: Float64Array): boolean => {
    const { slotGroup, size } = c;
    const first = slotGroup[Math.floor((next32() / 4294967296) * size)] as number;
    into[first] = (into[first] as number) + 1;
    let varied = false;
    for (let d = 1; d < size; d++) {
      const g = slotGroup[Math.floor((next32() / 4294967296) * size)] as number;
      into[g] = (into[g] as number) + 1;
      if (g !== first) varied = true;
    }
    return varied;
  };
  const ap = new Float64Array(B);
  const brier = isProbability ? new Float64Array(B) : null;
  const ba = new Float64Array(B);
  const auc = new Float64Array(B);
  const sens = new Float64Array(B);
  let degenerate = 0;
  const m = P.size;
  const n0 = N.size;
  let lastReport = Date.now();
  for (let b = 0; b < B; b++) {
    pos.fill(0);
    neg.fill(0);
    const vp = draw(P, pos);
    const vn = draw(N, neg);
    if (!vp || !vn) degenerate++;
    options.onReplicate?.(b, pos, neg);
    // One descending walk: AP (sklearn step-wise), TP and FP at the threshold, Brier by cell.
    let tp = 0;
    let fp = 0;
    let apSum = 0;
    let sq = 0;
    let tpCalls = 0;
    let fpCalls = 0;
    for (let g = G - 1; g >= 0; g--) {
      const p = pos[g] as number;
      const q = neg[g] as number;
      tp += p;
      fp += q;
      if (p > 0) apSum += (p / m) * (tp / (tp + fp));
      if (g === gThr) {
        tpCalls = tp;
        fpCalls = fp;
      }
      if (brier) {
        const s = groupScore[g] as number;
        sq += p * (s - 1) * (s - 1) + q * s * s;
      }
    }
    const tnCalls = n0 - fpCalls;
    ap[b] = Math.min(1, apSum);
    if (brier) brier[b] = sq / (m + n0);
    ba[b] = (tpCalls / m + tnCalls / n0) / 2;
    auc[b] = aucFromGroups(pos, neg);
    sens[b] = sensAtSpecFromGroups(pos, neg, options.specificityTarget);
    if (options.onProgress && (b + 1) % 50 === 0 && Date.now() - lastReport > 2000) {
      lastReport = Date.now();
      options.onProgress(b + 1, B);
    }
  }
  return { groups: G, groupScore, values: { averagePrecision: ap, brier, balancedAccuracy: ba, auroc: auc, sensitivityAtSpecificity: sens }, degenerate };
}

/** Percentile 95% interval (type 7) of the defined replicates; null with fewer than 2. */
export function percentile95(values: Float64Array): [number, number] | null {
  const v = values.filter((x) => !Number.isNaN(x)).sort();
  if (v.length < 2) return null;
  return [quantileType7(v, 0.025), quantileType7(v, 0.975)];
}
