// Pooling results of federated nodes at the hub (issue 11): exact where the statistics allow, a random-effects
// meta-analysis where a node lets only aggregates leave. Pure functions; the node-side halves (what a node computes
// from its own cases before anything leaves) are here too, so both sides share one definition of each quantity.
//
// Exact pooling, by what leaves a node:
// - means of per-case values (Dice, NSD, HD95, Brier, …) and proportions (sensitivity, specificity, PPV, NPV, FROC
//   counts) are ratios of sums: Σ_k numerator_k / Σ_k denominator_k over nodes k is the single-site value on the union
//   of the cases; a proportion's Wilson interval from the pooled counts is the single-site interval;
// - AUROC and its DeLong variance need, per node, the two sorted score lists (positives, negatives) and nothing else:
//   placement values are ranks within the union, so the pooled AUROC and CI are the single-site ones;
// - the CI of a pooled ratio of sums comes from a bootstrap that resamples within each node: every node resamples
//   its own cases B times with its own seed and returns the B replicate sums (not the cases), and the hub forms
//   replicate b of the pooled ratio as Σ_k num_kb / Σ_k den_kb, which is a bootstrap stratified by node.
// Otherwise (aggregates only): per-node estimates with their variances are combined by DerSimonian–Laird.
import { createHash } from 'node:crypto';
import { AurocWithDelong, DELONG_CI_METHOD, delongComponentsFromSplit, delongVariance, proportionWithWilson } from './binary-classification';
import { forEachReplicate, percentileInterval } from './bootstrap';
import { chiSquareUpperTail, studentTQuantile } from './distributions';
import { MetricInputError } from './metrics.errors';
import { Z_975, normalQuantile } from './stats';
import { type SubgroupResult, suppressedGroups } from './subgroups';

export const POOLED_AUROC_METHOD = `${DELONG_CI_METHOD}, computed at the hub from each node's two sorted score lists (positives, negatives; no case identifiers): exact, equal to the single-site computation on the union of the cases`;
export const POOLED_RATIO_METHOD = 'pooled exactly from per-node sums (Σ numerators / Σ denominators over nodes; equal to the single-site value on the union of the cases)';
export const WITHIN_NODE_BOOTSTRAP_METHOD = 'percentile bootstrap stratified by node (each node resamples its own cases with its own seed and returns replicate sums only)';
export const DL_METHOD = 'random-effects meta-analysis of per-node estimates, DerSimonian–Laird τ², inverse-variance weights 1/(vᵢ + τ²), Wald 95% CI';
export const DL_PREDICTION_METHOD = '95% prediction interval μ̂ ± t_{k−2, 0.975} √(τ² + SE(μ̂)²) (Higgins, Thompson & Spiegelhalter 2009); needs k ≥ 3 nodes';

/** One node's class-conditional scores: what the 'score-distributions' egress level lets leave, sorted, no ids. */
export interface ScoreDistribution {
  readonly positives: readonly number[];
  readonly negatives: readonly number[];
}

/** Node side: the scores split by label and sorted ascending, so their order carries nothing about the cases. */
export function scoreDistribution(labels: readonly number[], scores: readonly number[]): ScoreDistribution {
  if (labels.length !== scores.length) throw new MetricInputError('METRIC_LENGTH_MISMATCH', `labels (${labels.length}) and scores (${scores.length}) have different lengths`);
  const positives: number[] = [];
  const negatives: number[] = [];
  labels.forEach((label, i) => {
    const s = scores[i] as number;
    if (!Number.isFinite(s)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `score at index ${i} is not a finite number (${String(s)})`);
    if (label === 1) positives.push(s);
    else if (label === 0) negatives.push(s);
    else throw new MetricInputError('METRIC_BAD_LABEL', `label at index ${i} is ${String(label)}, expected 0 or 1`);
  });
  return { positives: positives.sort((a, b) => a - b), negatives: negatives.sort((a, b) => a - b) };
}

/** Hub side: AUROC with its DeLong CI from the nodes' score lists (the union of the cases, exactly). */
export function pooledAurocDelong(nodes: readonly ScoreDistribution[]): AurocWithDelong & { readonly nPositive: number; readonly nNegative: number } {
  // Sorted union: the result then does not depend on the order in which nodes reported.
  const positives = nodes.flatMap((d) => d.positives).sort((a, b) => a - b);
  const negatives = nodes.flatMap((d) => d.negatives).sort((a, b) => a - b);
  for (const s of [...positives, ...negatives]) if (!Number.isFinite(s)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `a node reported a score that is not a finite number (${String(s)})`);
  if (positives.length === 0 || negatives.length === 0) {
    throw new MetricInputError('METRIC_ONE_CLASS', `only ${positives.length === 0 ? 'negative (0)' : 'positive (1)'} cases over all nodes; AUROC is not estimable`);
  }
  const c = delongComponentsFromSplit(positives, negatives);
  const variance = delongVariance(c);
  const base = { nPositive: positives.length, nNegative: negatives.length };
  if (variance === null) return { ...base, auc: c.auc, variance: null, ci: null, method: `${POOLED_AUROC_METHOD}; CI not estimable with fewer than 2 cases in a class` };
  const half = Z_975 * Math.sqrt(variance);
  return { ...base, auc: c.auc, variance, ci: [Math.max(0, c.auc - half), Math.min(1, c.auc + half)], method: POOLED_AUROC_METHOD };
}

/**
 * One node's part of a ratio of sums (a mean: Σ values / count of defined values; a proportion: k / n), with the
 * replicate sums of its within-node bootstrap when the CI is wanted.
 */
export interface RatioPart {
  readonly numerator: number;
  readonly denominator: number;
  /**
   * Replicate b's numerator and denominator; the same B on every node. The resampling key never leaves the node:
   * with it and n, the resampling weights could be regenerated and the per-case values solved for from B ≥ n
   * replicate sums. So a node resamples from a secret 256-bit key (NodeBootstrap.key, an AES-CTR stream), never
   * from a 32-bit seed the hub could search; `seedTag` (a hash of the key) lets the hub check that no two nodes
   * resampled alike.
   */
  readonly replicates?: { readonly numerators: readonly number[]; readonly denominators: readonly number[]; readonly seedTag: string };
}

/**
 * Node side: numerator = Σ values over defined cases, denominator = their count (a case's value null is excluded,
 * e.g. Dice with both masks empty under the benchmark's policy), and the B replicate sums of a bootstrap over this
 * node's cases (every case, defined or not, is a resampling unit: the count of defined cases varies by replicate).
 */
export function nodeRatioPart(values: readonly (number | null)[], bootstrap?: NodeBootstrap, denominatorOf: (v: number | null) => number = (v) => (v === null ? 0 : 1)): RatioPart {
  for (const v of values) {
    if (v !== null && !Number.isFinite(v)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `a per-case value is not a finite number (${String(v)})`);
  }
  return nodeRatioSums(
    values.map((v) => v ?? 0),
    values.map(denominatorOf),
    bootstrap,
  );
}

/**
 * Node side, general form: case i adds numerators[i] to the numerator and denominators[i] to the denominator (e.g.
 * detection sensitivity: a scan's detected lesions over its reference lesions), with the B replicate sums of a
 * bootstrap over this node's cases (a case is drawn with all of its numerator and denominator).
 */
export function nodeRatioSums(numerators: readonly number[], denominators: readonly number[], bootstrap?: NodeBootstrap): RatioPart {
  if (numerators.length !== denominators.length) throw new MetricInputError('METRIC_LENGTH_MISMATCH', `numerators (${numerators.length}) and denominators (${denominators.length}) have different lengths`);
  let numerator = 0;
  let denominator = 0;
  for (let i = 0; i < numerators.length; i++) {
    const a = numerators[i] as number;
    const d = denominators[i] as number;
    if (!Number.isFinite(a) || !Number.isFinite(d) || d < 0) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `case ${i}: numerator ${String(a)} or denominator ${String(d)} is not a finite number (or the denominator is negative)`);
    numerator += a;
    denominator += d;
  }
  if (!bootstrap || numerators.length === 0) return { numerator, denominator };
  const nums: number[] = [];
  const dens: number[] = [];
  forEachReplicate({ n: numerators.length, replicates: bootstrap.replicates, seed: bootstrap.seed, ...(bootstrap.key ? { key: bootstrap.key } : {}) }, (w) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < numerators.length; i++) {
      const wi = w[i] as number;
      if (wi === 0) continue;
      num += wi * (numerators[i] as number);
      den += wi * (denominators[i] as number);
    }
    nums.push(num);
    dens.push(den);
  });
  return { numerator, denominator, replicates: { numerators: nums, denominators: dens, seedTag: replicateTagOf(bootstrap) } };
}

export interface PooledRatio {
  readonly value: number | null;
  readonly ci: [number, number] | null;
  readonly method: string;
  readonly numerator: number;
  readonly denominator: number;
}

/** A node's within-node bootstrap: B, and the secret key its draws come from (the seed alone only in unit tests). */
export interface NodeBootstrap {
  readonly replicates: number;
  readonly seed: number;
  readonly key?: Uint8Array;
}

/**
 * A one-way tag of a node's resampling (the hub compares tags; it never learns the key). Of a key: sha256 of 256
 * secret bits, not searchable. Of a bare seed (unit tests only; nodes always resample from a key): searchable.
 */
export function replicateTagOf(bootstrap: { seed: number; key?: Uint8Array }): string {
  const hash = createHash('sha256');
  if (bootstrap.key) hash.update('assay-bootstrap-key\u0000').update(bootstrap.key);
  else hash.update(`assay-bootstrap-seed\u0000${bootstrap.seed}`);
  return hash.digest('hex').slice(0, 32);
}

/** Hub side: the pooled ratio Σ num / Σ den, and its within-node bootstrap CI when every node sent replicates. */
export function pooledRatio(parts: readonly RatioPart[]): PooledRatio {
  let numerator = 0;
  let denominator = 0;
  for (const p of parts) {
    if (!Number.isFinite(p.numerator) || !Number.isFinite(p.denominator) || p.denominator < 0) throw new MetricInputError('METRIC_BAD_PARAMETER', 'a node reported a sum that is not finite or a negative count');
    numerator += p.numerator;
    denominator += p.denominator;
  }
  if (denominator === 0) return { value: null, ci: null, method: `${POOLED_RATIO_METHOD}; not estimable: no defined case on any node`, numerator, denominator };
  const value = numerator / denominator;
  const withReplicates = parts.filter((p) => p.replicates);
  if (parts.length === 0 || withReplicates.length !== parts.length) return { value, ci: null, method: `${POOLED_RATIO_METHOD}; no CI: not every node returned bootstrap replicates`, numerator, denominator };
  const B = parts[0]?.replicates?.numerators.length ?? 0;
  if (B < 2 || parts.some((p) => p.replicates?.numerators.length !== B || p.replicates?.denominators.length !== B)) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', 'nodes returned different numbers of bootstrap replicates');
  }
  const seeds = new Set(parts.map((p) => p.replicates?.seedTag));
  // Two nodes resampling with one seed draw the same index pattern: the strata would not be independent.
  if (seeds.size !== parts.length) throw new MetricInputError('METRIC_BAD_PARAMETER', 'two nodes used the same bootstrap seed; within-node resampling must be independent');
  const values = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let num = 0;
    let den = 0;
    for (const p of parts) {
      num += p.replicates?.numerators[b] as number;
      den += p.replicates?.denominators[b] as number;
    }
    values[b] = den > 0 ? num / den : Number.NaN;
  }
  return { value, ci: percentileInterval(values), method: `${POOLED_RATIO_METHOD}; ${WITHIN_NODE_BOOTSTRAP_METHOD}, B = ${B}`, numerator, denominator };
}

/** A proportion pooled from per-node counts, with the Wilson interval of the pooled counts (the single-site interval). */
export function pooledProportion(parts: readonly { k: number; n: number }[]): { value: number | null; ci: [number, number] | null; k: number; n: number } {
  let k = 0;
  let n = 0;
  for (const p of parts) {
    if (!Number.isInteger(p.k) || !Number.isInteger(p.n) || p.k < 0 || p.k > p.n) throw new MetricInputError('METRIC_BAD_PARAMETER', `a node reported impossible counts (${p.k} of ${p.n})`);
    k += p.k;
    n += p.n;
  }
  const w = proportionWithWilson(k, n);
  return { value: w.value, ci: w.ci, k, n };
}

/** A node's estimate and its sampling variance (e.g. AUROC with its DeLong variance), for meta-analysis. */
export interface NodeEstimate {
  readonly node: string;
  readonly estimate: number;
  readonly variance: number;
}

export interface RandomEffectsResult {
  readonly k: number;
  readonly estimate: number;
  readonly se: number;
  readonly ci: [number, number];
  /** Between-node variance τ² (DerSimonian–Laird moment estimator, truncated at 0). */
  readonly tau2: number;
  /** Cochran's Q, its degrees of freedom and p-value (χ²_{k−1}). */
  readonly q: number;
  readonly df: number;
  readonly pQ: number;
  /** I² = max(0, (Q − df)/Q), as a fraction in [0, 1]; 0 when Q = 0. */
  readonly i2: number;
  /** Null when k < 3 (t_{k−2} undefined). */
  readonly predictionInterval: [number, number] | null;
  /** Inverse-variance random-effects weights, normalised to sum 1, in input order. */
  readonly weights: number[];
  readonly method: string;
}

/**
 * DerSimonian & Laird (1986) random-effects pooling of per-node estimates (R: metafor::rma(yi, vi, method = "DL")).
 * Labelled as a meta-analysis wherever shown: it estimates the mean of the nodes' true values, not the value on the
 * union of their cases.
 */
export function derSimonianLaird(estimates: readonly NodeEstimate[]): RandomEffectsResult {
  const k = estimates.length;
  if (k < 2) throw new MetricInputError('METRIC_BAD_PARAMETER', `a meta-analysis needs at least 2 nodes, got ${k}`);
  for (const e of estimates) {
    if (!Number.isFinite(e.estimate) || !Number.isFinite(e.variance) || !(e.variance > 0)) {
      throw new MetricInputError('METRIC_BAD_PARAMETER', `node ${e.node}: estimate and a positive finite variance are needed (got ${e.estimate}, ${e.variance})`);
    }
  }
  const w = estimates.map((e) => 1 / e.variance);
  const sw = w.reduce((a, b) => a + b, 0);
  const sw2 = w.reduce((a, b) => a + b * b, 0);
  const fixed = estimates.reduce((acc, e, i) => acc + (w[i] as number) * e.estimate, 0) / sw;
  const q = estimates.reduce((acc, e, i) => acc + (w[i] as number) * (e.estimate - fixed) ** 2, 0);
  const df = k - 1;
  const c = sw - sw2 / sw;
  const tau2 = Math.max(0, (q - df) / c);
  const wr = estimates.map((e) => 1 / (e.variance + tau2));
  const swr = wr.reduce((a, b) => a + b, 0);
  const estimate = estimates.reduce((acc, e, i) => acc + (wr[i] as number) * e.estimate, 0) / swr;
  const se = Math.sqrt(1 / swr);
  const z = normalQuantile(0.975);
  const predictionInterval: [number, number] | null =
    k >= 3
      ? (() => {
          const half = studentTQuantile(0.975, k - 2) * Math.sqrt(tau2 + se * se);
          return [estimate - half, estimate + half];
        })()
      : null;
  return {
    k,
    estimate,
    se,
    ci: [estimate - z * se, estimate + z * se],
    tau2,
    q,
    df,
    pQ: chiSquareUpperTail(q, df),
    i2: q > 0 ? Math.max(0, (q - df) / q) : 0,
    predictionInterval,
    weights: wr.map((x) => x / swr),
    method: `${DL_METHOD}; ${k >= 3 ? DL_PREDICTION_METHOD : 'no prediction interval with fewer than 3 nodes'}`,
  };
}

/** Per-node results as a subgroup table of their own: a node with fewer than `minSize` cases shows no value (and, if it is the only one, the next-smallest node neither: see suppressedGroups). */
export function perNodeTable(rows: readonly { node: string; n: number; value: number | null; ci: [number, number] | null; method: string }[], minSize: number): SubgroupResult[] {
  if (!Number.isInteger(minSize) || minSize < 1) throw new MetricInputError('METRIC_BAD_PARAMETER', `minSize must be a positive integer, got ${minSize}`);
  const hidden = suppressedGroups(rows.map((r) => ({ group: r.node, n: r.n })), minSize);
  return [...rows]
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    .map((r): SubgroupResult => {
      const why = hidden.get(r.node);
      return why ? { group: r.node, suppressed: true, n: why } : { group: r.node, suppressed: false, n: r.n, value: r.value, ci: r.ci, method: r.method };
    });
}
