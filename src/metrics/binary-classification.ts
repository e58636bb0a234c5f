// Binary classification metrics (METRICS.md §4). Pure functions; labels are 0/1, 1 = positive.
import { MetricInputError } from './metrics.errors';
import { Z_975, createSeededRandomInt, midRanks, quantileType7, twoSidedNormalP, wilsonInterval } from './stats';

export const AUROC_METHOD = 'Mann–Whitney U / (m·n) with ties counted ½ (mid-ranks)';
export const DELONG_CI_METHOD = 'DeLong (Sun & Xu fast algorithm), Wald 95% CI clipped to [0,1]';
export const AUPRC_METHOD =
  'average precision, sklearn average_precision_score convention: Σ (R_k − R_{k−1})·P_k over distinct thresholds, step-wise, no interpolation';
export const BRIER_METHOD = 'mean (p − y)², sklearn brier_score_loss';
export const WILSON_METHOD = 'Wilson score 95% CI';

export interface BinaryInput {
  readonly labels: readonly number[];
  readonly scores: readonly number[];
}

/** Validates labels/scores and splits scores by class; a class may be empty. */
export function validateAndSplit(input: BinaryInput): { positives: number[]; negatives: number[] } {
  const { labels, scores } = input;
  if (labels.length !== scores.length) {
    throw new MetricInputError(
      'METRIC_LENGTH_MISMATCH',
      `labels (${labels.length}) and scores (${scores.length}) have different lengths`,
    );
  }
  if (labels.length === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases to score (n = 0)');
  const positives: number[] = [];
  const negatives: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    const score = scores[i] as number;
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw new MetricInputError('METRIC_NON_FINITE_SCORE', `score at index ${i} is not a finite number (${String(score)})`);
    }
    if (label === 1) positives.push(score);
    else if (label === 0) negatives.push(score);
    else throw new MetricInputError('METRIC_BAD_LABEL', `label at index ${i} is ${String(label)}, expected 0 or 1`);
  }
  return { positives, negatives };
}

/** Validates labels/scores and splits scores by class; throws MetricInputError instead of returning garbage. */
export function splitByClass(input: BinaryInput): { positives: number[]; negatives: number[] } {
  const { positives, negatives } = validateAndSplit(input);
  if (positives.length === 0 || negatives.length === 0) {
    const present = positives.length === 0 ? 'negative (0)' : 'positive (1)';
    throw new MetricInputError(
      'METRIC_ONE_CLASS',
      `only ${present} cases present (n = ${input.labels.length}); AUROC and class-conditional metrics are not estimable`,
    );
  }
  return { positives, negatives };
}

/** DeLong structural components: V10 per positive, V01 per negative (METRICS.md §4.2). */
export interface DelongComponents {
  readonly auc: number;
  /** V10_i = fraction of negatives ranked below positive i (ties ½). */
  readonly v10: Float64Array;
  /** V01_j = fraction of positives ranked above negative j (ties ½). */
  readonly v01: Float64Array;
}

/** Sun & Xu (2014) fast mid-rank computation of AUC and the DeLong components, O(N log N). */
export function delongComponentsFromSplit(positives: readonly number[], negatives: readonly number[]): DelongComponents {
  const m = positives.length;
  const n = negatives.length;
  const tz = midRanks([...positives, ...negatives]);
  const tx = midRanks(positives);
  const ty = midRanks(negatives);
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  let rankSum = 0;
  for (let i = 0; i < m; i++) {
    const r = tz[i] as number;
    rankSum += r;
    v10[i] = (r - (tx[i] as number)) / n;
  }
  for (let j = 0; j < n; j++) v01[j] = 1 - ((tz[m + j] as number) - (ty[j] as number)) / m;
  // Half-integer rank sums are exact in float64, so this AUC is one correctly rounded division.
  const auc = (rankSum - (m * (m + 1)) / 2) / (m * n);
  return { auc, v10, v01 };
}

export function delongComponents(input: BinaryInput): DelongComponents {
  const { positives, negatives } = splitByClass(input);
  return delongComponentsFromSplit(positives, negatives);
}

export function auroc(input: BinaryInput): number {
  return delongComponents(input).auc;
}

function sampleCovariance(a: Float64Array, b: Float64Array, meanA: number, meanB: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - meanA) * ((b[i] as number) - meanB);
  return s / (a.length - 1);
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  return s / a.length;
}

export interface AurocWithDelong {
  readonly auc: number;
  /** DeLong variance; null when m < 2 or n < 2 (pROC returns NA there). */
  readonly variance: number | null;
  readonly ci: [number, number] | null;
  readonly method: string;
}

/** DeLong variance S10/m + S01/n with ddof = 1, as pROC var(roc) and compare_auc_delong_xu.delong_roc_variance. */
export function delongVariance(c: DelongComponents): number | null {
  const m = c.v10.length;
  const n = c.v01.length;
  if (m < 2 || n < 2) return null;
  const s10 = sampleCovariance(c.v10, c.v10, c.auc, c.auc);
  const s01 = sampleCovariance(c.v01, c.v01, c.auc, c.auc);
  return s10 / m + s01 / n;
}

export function aurocWithDelong(input: BinaryInput): AurocWithDelong {
  const c = delongComponents(input);
  const variance = delongVariance(c);
  if (variance === null) {
    return { auc: c.auc, variance: null, ci: null, method: `${DELONG_CI_METHOD}; not estimable with fewer than 2 cases in a class` };
  }
  const half = Z_975 * Math.sqrt(variance);
  // pROC ci_auc_delong: ci[ci > 1] <- 1; ci[ci < 0] <- 0.
  const ci: [number, number] = [Math.max(0, c.auc - half), Math.min(1, c.auc + half)];
  return { auc: c.auc, variance, ci, method: DELONG_CI_METHOD };
}

export interface PairedDelongResult {
  readonly aucA: number;
  readonly aucB: number;
  /** aucA − aucB. */
  readonly difference: number;
  /** Var(aucA − aucB) = L S Lᵀ with L = (1, −1); null when a class has fewer than 2 cases. */
  readonly variance: number | null;
  /** d ± z·√var (not clipped, as pROC ci for the paired DeLong difference); null when var is 0 or null. */
  readonly ci: [number, number] | null;
  readonly z: number | null;
  /** Two-sided p-value 2·(1 − Φ(|z|)); null when var is 0 or null, the reason in `method`. */
  readonly pValue: number | null;
  readonly method: string;
}

export const PAIRED_DELONG_METHOD = 'paired DeLong (Sun & Xu components), z = Δ/√(L S Lᵀ), two-sided normal p, Wald 95% CI of Δ';

/**
 * Paired DeLong test of two score vectors on the same cases (pROC roc.test(paired = TRUE, method = "delong")).
 * Degrades instead of throwing when a class has a single case (the variance needs 2 per class) or the variance is 0;
 * throws only when a class is absent (no AUROC at all).
 */
export function pairedDelong(
  scoresA: readonly number[],
  scoresB: readonly number[],
  labels: readonly number[],
): PairedDelongResult {
  const a = splitByClass({ labels, scores: scoresA });
  const b = splitByClass({ labels, scores: scoresB });
  const ca = delongComponentsFromSplit(a.positives, a.negatives);
  const cb = delongComponentsFromSplit(b.positives, b.negatives);
  const m = ca.v10.length;
  const n = ca.v01.length;
  const difference = ca.auc - cb.auc;
  if (m < 2 || n < 2) {
    return {
      aucA: ca.auc,
      aucB: cb.auc,
      difference,
      variance: null,
      ci: null,
      z: null,
      pValue: null,
      method: `${PAIRED_DELONG_METHOD}; variance, CI and p not estimable: ${m} positive and ${n} negative case(s), the DeLong covariance needs at least 2 in each class (pROC gives NA)`,
    };
  }
  // Means of the components equal the AUCs exactly in exact arithmetic; use the computed means like pROC does.
  const ma10 = mean(ca.v10);
  const mb10 = mean(cb.v10);
  const ma01 = mean(ca.v01);
  const mb01 = mean(cb.v01);
  const s10 =
    sampleCovariance(ca.v10, ca.v10, ma10, ma10) +
    sampleCovariance(cb.v10, cb.v10, mb10, mb10) -
    2 * sampleCovariance(ca.v10, cb.v10, ma10, mb10);
  const s01 =
    sampleCovariance(ca.v01, ca.v01, ma01, ma01) +
    sampleCovariance(cb.v01, cb.v01, mb01, mb01) -
    2 * sampleCovariance(ca.v01, cb.v01, ma01, mb01);
  const variance = Math.max(0, s10 / m + s01 / n);
  if (variance === 0) {
    return {
      aucA: ca.auc,
      aucB: cb.auc,
      difference,
      variance,
      ci: null,
      z: null,
      pValue: null,
      method:
        `${PAIRED_DELONG_METHOD}; z and p not computed: Var(Δ) = 0 (the two models' DeLong components differ by a constant, ` +
        `e.g. a model compared with itself or two models that both separate the classes perfectly), so z = Δ/0 is undefined; ` +
        `pROC prints p = 1 here, we report null rather than a p-value the data do not give`,
    };
  }
  const se = Math.sqrt(variance);
  const z = difference / se;
  return {
    aucA: ca.auc,
    aucB: cb.auc,
    difference,
    variance,
    ci: [difference - Z_975 * se, difference + Z_975 * se],
    z,
    pValue: twoSidedNormalP(z),
    method: PAIRED_DELONG_METHOD,
  };
}

/** Case indices sorted by descending score; shared by AP and its bootstrap. */
export function descendingOrder(scores: readonly number[]): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((i, j) => (scores[j] as number) - (scores[i] as number));
  return order;
}

/**
 * Weighted average precision over a precomputed descending order; weights are bootstrap multiplicities (all 1 for the
 * point estimate). Tied scores form one threshold, as in sklearn's precision_recall_curve.
 */
export function weightedAveragePrecision(
  order: readonly number[],
  scores: readonly number[],
  labels: readonly number[],
  weights: ArrayLike<number> | null,
): number {
  let totalPositive = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) totalPositive += weights ? (weights[i] as number) : 1;
  let tp = 0;
  let fp = 0;
  let prevTp = 0;
  let ap = 0;
  for (let k = 0; k < order.length; k++) {
    const idx = order[k] as number;
    const w = weights ? (weights[idx] as number) : 1;
    if (labels[idx] === 1) tp += w;
    else fp += w;
    const next = order[k + 1];
    const groupEnds = next === undefined || scores[next] !== scores[idx];
    if (groupEnds && tp > prevTp) {
      ap += ((tp - prevTp) / totalPositive) * (tp / (tp + fp));
      prevTp = tp;
    }
  }
  // Summing P_k·ΔR_k can overshoot 1 by an ulp when every positive ranks first; AP is a proportion.
  return Math.min(1, ap);
}

export function averagePrecision(input: BinaryInput): number {
  splitByClass(input);
  return weightedAveragePrecision(descendingOrder(input.scores), input.scores, input.labels, null);
}

/** Binary Brier score; scores must be probabilities in [0, 1]. */
export function brierScore(input: BinaryInput): number {
  const { labels, scores } = input;
  if (labels.length !== scores.length) {
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', `labels (${labels.length}) and scores (${scores.length}) differ in length`);
  }
  if (labels.length === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases to score (n = 0)');
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = scores[i] as number;
    if (y !== 0 && y !== 1) throw new MetricInputError('METRIC_BAD_LABEL', `label at index ${i} is ${String(y)}, expected 0 or 1`);
    if (!Number.isFinite(p) || p < 0 || p > 1) {
      throw new MetricInputError('METRIC_BAD_PROBABILITY', `score at index ${i} (${String(p)}) is not a probability in [0, 1]`);
    }
    s += (p - y) * (p - y);
  }
  return s / labels.length;
}

export interface ConfusionCounts {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

/** Confusion counts at a locked threshold; positive iff score ≥ threshold (METRICS.md §4.4). */
export function confusionAtThreshold(input: BinaryInput, threshold: number): ConfusionCounts {
  if (!Number.isFinite(threshold)) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', `threshold must be a finite number, got ${String(threshold)}`);
  }
  validateAndSplit(input);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < input.labels.length; i++) {
    const predicted = (input.scores[i] as number) >= threshold;
    if (input.labels[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

export interface ProportionEstimate {
  readonly value: number | null;
  readonly ci: [number, number] | null;
  readonly k: number;
  readonly n: number;
}

/** k/n with a Wilson CI; not estimable (null) when n = 0 rather than a made-up 0 or 1. */
export function proportionWithWilson(k: number, n: number): ProportionEstimate {
  if (n === 0) return { value: null, ci: null, k, n };
  return { value: k / n, ci: wilsonInterval(k, n), k, n };
}

export interface BootstrapSpec {
  readonly replicates: number;
  readonly seed: number;
}

export const DEFAULT_BOOTSTRAP: BootstrapSpec = { replicates: 2000, seed: 20240601 };

export interface StratifiedBootstrapCis {
  readonly balancedAccuracy: [number, number];
  readonly averagePrecision: [number, number];
  /** null when scores are not probabilities (Brier undefined). */
  readonly brier: [number, number] | null;
  readonly method: string;
  /** Replicates in which a class was resampled from a single distinct case (no within-class variation). */
  readonly degenerate: number;
}

/**
 * Floor for a stratified bootstrap interval: each class needs at least this many cases. Class sizes are held fixed,
 * so a class of m cases has only C(2m−1, m) distinct resamples (1 for m = 1, 3 for m = 2, 126 for m = 5, 92378 for
 * m = 10): below 10 the percentile interval reflects little more than the other class and is implausibly narrow.
 */
export const MIN_CLASS_FOR_BOOTSTRAP = 10;

export function bootstrapFloorReason(m: number, n: number): string | null {
  if (m >= MIN_CLASS_FOR_BOOTSTRAP && n >= MIN_CLASS_FOR_BOOTSTRAP) return null;
  return (
    `bootstrap interval withheld: ${m} positive and ${n} negative case(s), below the floor of ${MIN_CLASS_FOR_BOOTSTRAP} per class ` +
    `(with class sizes fixed, a class of m cases has only C(2m−1, m) distinct resamples, so the interval would understate the uncertainty)`
  );
}

export function bootstrapMethod(spec: BootstrapSpec): string {
  return (
    `stratified bootstrap (positives and negatives resampled separately with replacement, m and n fixed, as pROC), ` +
    `B=${spec.replicates}, seed=${spec.seed}, PRNG mulberry32, percentile 95% CI (R type 7 / numpy linear); ` +
    `needs ≥ ${MIN_CLASS_FOR_BOOTSTRAP} cases per class; replicates with a class resampled from one distinct case counted as degenerate`
  );
}

/**
 * One stratified bootstrap shared by the metrics that lack a closed-form CI with a named reference.
 * Replicates are multiplicity vectors so AP stays O(N) per replicate on the pre-sorted order.
 */
export function stratifiedBootstrapCis(
  input: BinaryInput & { readonly threshold: number },
  spec: BootstrapSpec = DEFAULT_BOOTSTRAP,
): StratifiedBootstrapCis {
  if (!Number.isInteger(spec.replicates) || spec.replicates < 1) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', `bootstrap replicates must be a positive integer, got ${spec.replicates}`);
  }
  splitByClass(input);
  const { labels, scores, threshold } = input;
  const N = labels.length;
  const posIdx: number[] = [];
  const negIdx: number[] = [];
  labels.forEach((y, i) => (y === 1 ? posIdx : negIdx).push(i));
  const pos = Int32Array.from(posIdx);
  const neg = Int32Array.from(negIdx);
  const m = pos.length;
  const n = neg.length;
  const isProbability = scores.every((p) => p >= 0 && p <= 1);
  // Per case, once: score, label, the AP tie group (descending score, as weightedAveragePrecision walks it) and
  // whether it counts towards TP / TN at the threshold.
  const order = descendingOrder(scores);
  const groupOf = new Int32Array(N);
  let groups = 0;
  for (let k = 0; k < N; k++) {
    const idx = order[k] as number;
    groupOf[idx] = groups;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[idx]) groups++;
  }
  // d = s − y per case (the Brier residual); per drawn slot of each stratum: the case's AP group and TP/TN hit.
  const d = Float64Array.from(scores, (p, i) => p - (labels[i] as number));
  const posGroup = Int32Array.from(pos, (i) => groupOf[i] as number);
  const negGroup = Int32Array.from(neg, (i) => groupOf[i] as number);
  const posHit = Uint8Array.from(pos, (i) => ((scores[i] as number) >= threshold ? 1 : 0));
  const negHit = Uint8Array.from(neg, (i) => ((scores[i] as number) < threshold ? 1 : 0));
  const groupPos = new Float64Array(groups);
  const groupNeg = new Float64Array(groups);
  const randomInt = createSeededRandomInt(spec.seed);
  const weights = new Float64Array(N);
  const ba = new Float64Array(spec.replicates);
  const ap = new Float64Array(spec.replicates);
  const brier = new Float64Array(spec.replicates);
  let degenerate = 0;
  for (let b = 0; b < spec.replicates; b++) {
    let firstPos = -1;
    let firstNeg = -1;
    let variedPos = m === 0;
    let variedNeg = n === 0;
    weights.fill(0);
    groupPos.fill(0);
    groupNeg.fill(0);
    // TP/TN counts and the per-group class weights are integer sums, exact in any order, so they are taken at draw time.
    let tp = 0;
    let tn = 0;
    for (let k = 0; k < m; k++) {
      const r = randomInt(m);
      if (firstPos < 0) firstPos = r;
      else if (r !== firstPos) variedPos = true;
      const i = pos[r] as number;
      weights[i] = (weights[i] as number) + 1;
      const g = posGroup[r] as number;
      groupPos[g] = (groupPos[g] as number) + 1;
      tp += posHit[r] as number;
    }
    for (let k = 0; k < n; k++) {
      const r = randomInt(n);
      if (firstNeg < 0) firstNeg = r;
      else if (r !== firstNeg) variedNeg = true;
      const i = neg[r] as number;
      weights[i] = (weights[i] as number) + 1;
      const g = negGroup[r] as number;
      groupNeg[g] = (groupNeg[g] as number) + 1;
      tn += negHit[r] as number;
    }
    if (!variedPos || !variedNeg) degenerate++;
    // Σ w·(s − y)² is not integer: summed in case order, as before.
    let sq = 0;
    if (isProbability) {
      for (let i = 0; i < N; i++) {
        const w = weights[i] as number;
        if (w !== 0) sq += w * (d[i] as number) * (d[i] as number);
      }
    }
    // Σ multiplicities of positives: exactly m in a stratified replicate.
    const totalPositive = m;
    ba[b] = (tp / m + tn / n) / 2;
    // weightedAveragePrecision on the tie groups: multiplicities are integers, so the group sums are exact and the
    // running TP/FP at each group end are the same numbers as in the per-case walk.
    let tpRun = 0;
    let fpRun = 0;
    let prevTp = 0;
    let apSum = 0;
    for (let g = 0; g < groups; g++) {
      tpRun += groupPos[g] as number;
      fpRun += groupNeg[g] as number;
      if (tpRun > prevTp) {
        apSum += ((tpRun - prevTp) / totalPositive) * (tpRun / (tpRun + fpRun));
        prevTp = tpRun;
      }
    }
    ap[b] = Math.min(1, apSum);
    brier[b] = sq / (m + n);
  }
  const ci = (values: Float64Array): [number, number] => {
    const sorted = values.sort((x, z) => x - z);
    return [quantileType7(sorted, 0.025), quantileType7(sorted, 0.975)];
  };
  return {
    balancedAccuracy: ci(ba),
    averagePrecision: ci(ap),
    brier: isProbability ? ci(brier) : null,
    method: bootstrapMethod(spec),
    degenerate,
  };
}
