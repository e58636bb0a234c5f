// Binary metrics as weighted statistics (weights = bootstrap multiplicities), precomputed once per score vector so a
// bootstrap replicate costs O(N): the scores are sorted once and every replicate walks the same tie groups.
import { splitByClass, type BinaryInput } from './binary-classification';
import { bootstrapCi, bootstrapCis, type BootstrapCi, type IntervalMethod, type WeightedStatistic } from './bootstrap';

/** Cases in ascending score order with tie-group boundaries; built once, reused by every replicate. */
export interface SortedBinary {
  readonly n: number;
  /** order[k] = index of the case with the k-th smallest score. */
  readonly order: Int32Array;
  /** Label per sorted position. */
  readonly sortedLabels: Uint8Array;
  /** groupEnd[g] = one past the last sorted position of tie group g; groups ascend in score. */
  readonly groupEnd: Int32Array;
  /** Score of each tie group. */
  readonly groupScore: Float64Array;
}

export function sortBinary(input: BinaryInput): SortedBinary {
  splitByClass(input);
  const n = input.scores.length;
  const scores = Float64Array.from(input.scores);
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((i, j) => (scores[i] as number) - (scores[j] as number) || i - j);
  const sortedLabels = new Uint8Array(n);
  const ends: number[] = [];
  const groupScores: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    sortedLabels[k] = input.labels[i] === 1 ? 1 : 0;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[i]) {
      ends.push(k + 1);
      groupScores.push(scores[i] as number);
    }
  }
  return { n, order, sortedLabels, groupEnd: Int32Array.from(ends), groupScore: Float64Array.from(groupScores) };
}

/** Weights permuted into sorted order (sorted[k] = weights[order[k]]), so the walks below read memory sequentially. */
export function toSortedWeights(s: SortedBinary, weights: Float64Array, out: Float64Array = new Float64Array(s.n)): Float64Array {
  const { order } = s;
  for (let k = 0; k < s.n; k++) out[k] = weights[order[k] as number] as number;
  return out;
}

/** Weighted Mann–Whitney AUC on sorted weights, ties ½; NaN when a class has zero weight. */
export function weightedAucSorted(s: SortedBinary, sw: Float64Array): number {
  const { groupEnd, sortedLabels } = s;
  let negBelow = 0;
  let sum = 0;
  let posTotal = 0;
  let start = 0;
  for (let g = 0; g < groupEnd.length; g++) {
    const end = groupEnd[g] as number;
    let pos = 0;
    let neg = 0;
    for (let k = start; k < end; k++) {
      const w = sw[k] as number;
      if (sortedLabels[k] === 1) pos += w;
      else neg += w;
    }
    sum += pos * (negBelow + 0.5 * neg);
    negBelow += neg;
    posTotal += pos;
    start = end;
  }
  if (posTotal === 0 || negBelow === 0) return Number.NaN;
  return sum / (posTotal * negBelow);
}

export interface OperatingPoint {
  /** Best achievable value of the optimised rate among thresholds meeting the constraint. */
  readonly value: number;
  /** Threshold t (positive iff score ≥ t) that achieves it; +Infinity = call nothing positive. */
  readonly threshold: number;
}

/**
 * Sensitivity at fixed specificity: max sens(t) over thresholds t with spec(t) ≥ target (MetricsReloaded
 * max_x_at_y_more). Candidate thresholds are the observed scores plus +∞. Weighted so a bootstrap replicate re-selects
 * the threshold on its own data. NaN when a class has zero weight.
 */
export function sensitivityAtSpecificitySorted(s: SortedBinary, sw: Float64Array, target: number): OperatingPoint {
  const totals = classTotals(s, sw);
  if (totals.pos === 0 || totals.neg === 0) return { value: Number.NaN, threshold: Number.NaN };
  // Sens falls and spec rises with t, so the answer is the smallest t whose spec meets the target.
  let negBelow = 0;
  let posBelow = 0;
  let start = 0;
  for (let g = 0; g < s.groupEnd.length; g++) {
    if (negBelow / totals.neg >= target) {
      // Raise t over groups without positive weight: same sensitivity, higher specificity (sklearn roc_curve's pick).
      let best = g;
      let from = start;
      while (best + 1 < s.groupEnd.length) {
        let pos = 0;
        for (let k = from; k < (s.groupEnd[best] as number); k++) if (s.sortedLabels[k] === 1) pos += sw[k] as number;
        if (pos > 0) break;
        from = s.groupEnd[best] as number;
        best++;
      }
      return { value: (totals.pos - posBelow) / totals.pos, threshold: s.groupScore[best] as number };
    }
    const end = s.groupEnd[g] as number;
    for (let k = start; k < end; k++) {
      if (s.sortedLabels[k] === 1) posBelow += sw[k] as number;
      else negBelow += sw[k] as number;
    }
    start = end;
  }
  return { value: 0, threshold: Number.POSITIVE_INFINITY };
}

/** Specificity at fixed sensitivity: max spec(t) over thresholds with sens(t) ≥ target (the largest such t). */
export function specificityAtSensitivitySorted(s: SortedBinary, sw: Float64Array, target: number): OperatingPoint {
  const totals = classTotals(s, sw);
  if (totals.pos === 0 || totals.neg === 0) return { value: Number.NaN, threshold: Number.NaN };
  let posAtOrAbove = 0;
  let negAtOrAbove = 0;
  let end = s.n;
  for (let g = s.groupEnd.length - 1; g >= 0; g--) {
    const start = g === 0 ? 0 : (s.groupEnd[g - 1] as number);
    for (let k = start; k < end; k++) {
      if (s.sortedLabels[k] === 1) posAtOrAbove += sw[k] as number;
      else negAtOrAbove += sw[k] as number;
    }
    end = start;
    if (posAtOrAbove / totals.pos >= target) {
      return { value: (totals.neg - negAtOrAbove) / totals.neg, threshold: s.groupScore[g] as number };
    }
  }
  // Unreachable for target ≤ 1: at the lowest threshold sens = 1.
  return { value: Number.NaN, threshold: Number.NaN };
}

function classTotals(s: SortedBinary, sw: Float64Array): { pos: number; neg: number } {
  let pos = 0;
  let neg = 0;
  for (let k = 0; k < s.n; k++) {
    if (s.sortedLabels[k] === 1) pos += sw[k] as number;
    else neg += sw[k] as number;
  }
  return { pos, neg };
}

/** Adapts a statistic on sorted weights to the engine's weights-in-input-order interface. */
export function sortedStatistic(s: SortedBinary, f: (sw: Float64Array) => number): WeightedStatistic {
  const buffer = new Float64Array(s.n);
  return (w) => f(toSortedWeights(s, w, buffer));
}

export interface FixedRateOptions {
  readonly target: number;
  readonly replicates: number;
  readonly seed: number;
  readonly interval?: IntervalMethod;
}

export interface FixedRateResult extends BootstrapCi {
  /** Threshold chosen on the full data (post hoc, hence optimistic). */
  readonly threshold: number;
}

function fixedRate(
  input: BinaryInput,
  options: FixedRateOptions,
  pick: (s: SortedBinary, sw: Float64Array, target: number) => OperatingPoint,
  what: string,
): FixedRateResult {
  const s = sortBinary(input);
  const full = pick(s, new Float64Array(s.n).fill(1), options.target);
  const ci = bootstrapCi(
    (sw) => pick(s, sw, options.target).value,
    { n: s.n, strata: s.sortedLabels, replicates: options.replicates, seed: options.seed, interval: options.interval },
  );
  return {
    ...ci,
    threshold: full.threshold,
    method:
      `${what}, threshold chosen post hoc on the test data (positive iff score ≥ t), re-selected inside every ` +
      `bootstrap replicate (as pROC ci.se); CI: ${ci.method}`,
  };
}

export function sensitivityAtSpecificity(input: BinaryInput, options: FixedRateOptions): FixedRateResult {
  return fixedRate(input, options, sensitivityAtSpecificitySorted, `max sensitivity over thresholds with specificity ≥ ${options.target}`);
}

export function specificityAtSensitivity(input: BinaryInput, options: FixedRateOptions): FixedRateResult {
  return fixedRate(input, options, specificityAtSensitivitySorted, `max specificity over thresholds with sensitivity ≥ ${options.target}`);
}

/** AUROC with a stratified bootstrap CI (the secondary CI next to DeLong). O(N) per replicate after one sort. */
export function aurocBootstrap(
  input: BinaryInput,
  options: { readonly replicates: number; readonly seed: number; readonly interval?: IntervalMethod },
): BootstrapCi {
  const s = sortBinary(input);
  // Units indexed by sorted position (strata = sorted labels): the walk then reads the multiplicities sequentially.
  return bootstrapCi((sw) => weightedAucSorted(s, sw), {
    n: s.n,
    strata: s.sortedLabels,
    replicates: options.replicates,
    seed: options.seed,
    interval: options.interval,
  });
}

/** Group index of every sorted position. */
function groupOfPositions(s: SortedBinary): Int32Array {
  const out = new Int32Array(s.n);
  let start = 0;
  for (let g = 0; g < s.groupEnd.length; g++) {
    const end = s.groupEnd[g] as number;
    out.fill(g, start, end);
    start = end;
  }
  return out;
}

/**
 * Weighted AUC (as weightedAucSorted) from per-tie-group class weights. With integer weights the group sums are exact,
 * so this equals the per-position walk bit for bit.
 */
export function aucFromGroups(groupPos: Float64Array, groupNeg: Float64Array): number {
  let negBelow = 0;
  let sum = 0;
  let posTotal = 0;
  for (let g = 0; g < groupPos.length; g++) {
    const pos = groupPos[g] as number;
    const neg = groupNeg[g] as number;
    sum += pos * (negBelow + 0.5 * neg);
    negBelow += neg;
    posTotal += pos;
  }
  if (posTotal === 0 || negBelow === 0) return Number.NaN;
  return sum / (posTotal * negBelow);
}

/** sensitivityAtSpecificitySorted(...).value from per-tie-group class weights (same walk, group sums exact). */
export function sensAtSpecFromGroups(groupPos: Float64Array, groupNeg: Float64Array, target: number): number {
  const groups = groupPos.length;
  let totalPos = 0;
  let totalNeg = 0;
  for (let g = 0; g < groups; g++) {
    totalPos += groupPos[g] as number;
    totalNeg += groupNeg[g] as number;
  }
  if (totalPos === 0 || totalNeg === 0) return Number.NaN;
  let negBelow = 0;
  let posBelow = 0;
  for (let g = 0; g < groups; g++) {
    if (negBelow / totalNeg >= target) return (totalPos - posBelow) / totalPos;
    negBelow += groupNeg[g] as number;
    posBelow += groupPos[g] as number;
  }
  return 0;
}

/**
 * aurocBootstrap and sensitivityAtSpecificity together: both resample sorted positions within label strata with the
 * same seed, so their replicates are the same multiplicity vectors; one draw loop and one pass building per-tie-group
 * class weights serve both. Results equal the two separate calls.
 */
export function aurocAndSensitivityAtSpecificityBootstrap(
  input: BinaryInput,
  options: FixedRateOptions,
): { readonly auroc: BootstrapCi; readonly sensitivityAtSpecificity: FixedRateResult } {
  const s = sortBinary(input);
  const full = sensitivityAtSpecificitySorted(s, new Float64Array(s.n).fill(1), options.target);
  const groupOf = groupOfPositions(s);
  const groups = s.groupEnd.length;
  const groupPos = new Float64Array(groups);
  const groupNeg = new Float64Array(groups);
  const labels = s.sortedLabels;
  const [auroc, sens] = bootstrapCis(
    2,
    (sw, out) => {
      groupPos.fill(0);
      groupNeg.fill(0);
      for (let k = 0; k < sw.length; k++) {
        const w = sw[k] as number;
        if (w === 0) continue;
        const g = groupOf[k] as number;
        if (labels[k] === 1) groupPos[g] = (groupPos[g] as number) + w;
        else groupNeg[g] = (groupNeg[g] as number) + w;
      }
      out[0] = aucFromGroups(groupPos, groupNeg);
      out[1] = sensAtSpecFromGroups(groupPos, groupNeg, options.target);
    },
    { n: s.n, strata: s.sortedLabels, replicates: options.replicates, seed: options.seed, interval: options.interval },
  ) as [BootstrapCi, BootstrapCi];
  const what = `max sensitivity over thresholds with specificity ≥ ${options.target}`;
  return {
    auroc,
    sensitivityAtSpecificity: {
      ...sens,
      threshold: full.threshold,
      method:
        `${what}, threshold chosen post hoc on the test data (positive iff score ≥ t), re-selected inside every ` +
        `bootstrap replicate (as pROC ci.se); CI: ${sens.method}`,
    },
  };
}
