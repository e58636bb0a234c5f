// Generic bootstrap engine (METRICS.md §4.3). Replicates are multiplicity vectors over the independent units
// (patients), so a statistic is written once as a weighted computation and serves the point estimate (all weights 1),
// the bootstrap (multiplicities) and the jackknife (one weight 0).
import { createCipheriv } from 'node:crypto';
import { MetricInputError } from './metrics.errors';
import { createSeededRandomInt, normalCdf, normalQuantile, quantileType7 } from './stats';

/** A statistic of weighted units; return NaN when it is undefined on this replicate (e.g. one class absent). */
export type WeightedStatistic = (weights: Float64Array) => number;

export type IntervalMethod = 'percentile' | 'bca';

export interface BootstrapOptions {
  /** Number of independent units (patients). */
  readonly n: number;
  /** Stratum per unit (e.g. the outcome); units are resampled within their stratum, stratum sizes fixed. */
  readonly strata?: ArrayLike<number>;
  readonly replicates: number;
  readonly seed: number;
  /**
   * A secret 32-byte key: the draws come from it (createKeyedRandomInt) instead of `seed`, for replicates that leave
   * the machine (a federated node's): their receiver cannot regenerate the weights. `seed` is then only a label.
   */
  readonly key?: Uint8Array;
}

export interface BootstrapReplicates {
  /** One value per replicate, NaN where the statistic was undefined. */
  readonly values: Float64Array;
  /** Count of NaN replicates (dropped from intervals, as pROC does). */
  readonly degenerate: number;
  readonly replicates: number;
  readonly seed: number;
  readonly stratified: boolean;
}

/** What every CI in a report carries so it can be reproduced. */
export interface CiProvenance {
  readonly method: string;
  readonly B: number;
  readonly seed: number;
  readonly degenerate: number;
}

export interface BootstrapCi extends CiProvenance {
  readonly value: number;
  /** null when fewer than 2 replicates were defined. */
  readonly ci: [number, number] | null;
  /** Set when BCa was asked for but undefined, and the percentile interval was returned instead. */
  readonly fallback?: string;
}

export const PRNG_NAME = 'mulberry32';

function validate(options: BootstrapOptions): void {
  const { n, replicates, seed, strata } = options;
  if (!Number.isInteger(n) || n < 1) throw new MetricInputError('METRIC_EMPTY_INPUT', `bootstrap needs n ≥ 1 units, got ${n}`);
  if (!Number.isInteger(replicates) || replicates < 1) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', `bootstrap replicates must be a positive integer, got ${replicates}`);
  }
  if (!Number.isInteger(seed)) throw new MetricInputError('METRIC_BAD_PARAMETER', `bootstrap seed must be an integer, got ${seed}`);
  if (strata !== undefined && strata.length !== n) {
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', `strata (${strata.length}) and units (${n}) differ in length`);
  }
}

/**
 * Uniform integers in [0, bound) from a secret 256-bit key: the AES-256-CTR keystream (node's crypto), read as
 * little-endian uint32s, mapped like createSeededRandomInt. For resampling whose replicates leave the machine while
 * the draws must not be reproducible by the receiver: mulberry32 has 32 bits of state, so a receiver holding B
 * replicate sums of n per-case values could search every seed, regenerate the weights and solve for the values.
 * Deterministic for a given key (the node can reproduce its own replicates).
 */
export function createKeyedRandomInt(key: Uint8Array): (bound: number) => number {
  if (key.length !== 32) throw new MetricInputError('METRIC_BAD_PARAMETER', `a resampling key must be 32 bytes, got ${key.length}`);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(16_384);
  let block = Buffer.alloc(0);
  let at = 0;
  return (bound: number): number => {
    if (at >= block.length) {
      block = cipher.update(zeros);
      at = 0;
    }
    const u32 = block.readUInt32LE(at);
    at += 4;
    return Math.floor((u32 / 4294967296) * bound);
  };
}

/** Unit indices grouped by stratum, strata in order of first appearance (part of the seeded draw order). */
export function groupByStratum(n: number, strata?: ArrayLike<number>): Int32Array[] {
  if (strata === undefined) return [Int32Array.from({ length: n }, (_, i) => i)];
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const s = strata[i] as number;
    const g = groups.get(s);
    if (g) g.push(i);
    else groups.set(s, [i]);
  }
  return [...groups.values()].map((g) => Int32Array.from(g));
}

/**
 * Calls `onReplicate` with the multiplicity vector of each replicate. The draw order (replicate, stratum in order of
 * first appearance, draw) with mulberry32 fixes the replicates for a given seed on any machine.
 */
export function forEachReplicate(options: BootstrapOptions, onReplicate: (weights: Float64Array, b: number) => void): void {
  validate(options);
  const groups = groupByStratum(options.n, options.strata);
  const randomInt = options.key ? createKeyedRandomInt(options.key) : createSeededRandomInt(options.seed);
  const weights = new Float64Array(options.n);
  for (let b = 0; b < options.replicates; b++) {
    weights.fill(0);
    for (const g of groups) {
      const size = g.length;
      for (let k = 0; k < size; k++) {
        const i = g[randomInt(size)] as number;
        weights[i] = (weights[i] as number) + 1;
      }
    }
    onReplicate(weights, b);
  }
}

export function bootstrapReplicates(options: BootstrapOptions, statistic: WeightedStatistic): BootstrapReplicates {
  const values = new Float64Array(options.replicates);
  let degenerate = 0;
  forEachReplicate(options, (w, b) => {
    const v = statistic(w);
    values[b] = v;
    if (Number.isNaN(v)) degenerate++;
  });
  return { values, degenerate, replicates: options.replicates, seed: options.seed, stratified: options.strata !== undefined };
}

/** Non-NaN replicates, ascending. */
export function definedSorted(values: Float64Array): Float64Array {
  const out = values.filter((v) => !Number.isNaN(v));
  return out.sort();
}

/** Percentile interval: type-7 quantiles (R default, numpy "linear") at α/2 and 1 − α/2 of the defined replicates. */
export function percentileInterval(values: Float64Array, alpha = 0.05): [number, number] | null {
  const sorted = definedSorted(values);
  if (sorted.length < 2) return null;
  return [quantileType7(sorted, alpha / 2), quantileType7(sorted, 1 - alpha / 2)];
}

/** Leave-one-unit-out jackknife values θ̂_(i) of a weighted statistic. O(n) statistic calls. */
export function jackknifeValues(n: number, statistic: WeightedStatistic): Float64Array {
  const w = new Float64Array(n).fill(1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    w[i] = 0;
    out[i] = statistic(w);
    w[i] = 1;
  }
  return out;
}

export interface BcaParts {
  readonly z0: number;
  readonly acceleration: number;
  readonly alpha1: number;
  readonly alpha2: number;
  readonly ci: [number, number];
}

/**
 * BCa interval (Efron 1987; Efron & Tibshirani, An Introduction to the Bootstrap, 1993, §14.3 eqs 14.14–14.15):
 * z₀ = Φ⁻¹(p̂) with p̂ = (#{θ*<θ̂} + #{θ*≤θ̂})/(2B) (ties counted ½, as scipy.stats.bootstrap), acceleration
 * â = Σ(θ̄−θ̂_(i))³ / (6[Σ(θ̄−θ̂_(i))²]^{3/2}) from the jackknife, α₁,₂ = Φ(z₀ + (z₀+z_α)/(1−â(z₀+z_α))), endpoints
 * = type-7 quantiles of the replicates at α₁, α₂. Returns a reason string when BCa is undefined.
 */
export function bcaInterval(args: {
  readonly estimate: number;
  readonly replicates: Float64Array;
  readonly jackknife: Float64Array;
  readonly alpha?: number;
}): BcaParts | string {
  const alpha = args.alpha ?? 0.05;
  const sorted = definedSorted(args.replicates);
  const B = sorted.length;
  if (B < 2) return 'fewer than 2 defined replicates';
  if (sorted[0] === sorted[B - 1]) return 'all replicates equal';
  let below = 0;
  let atOrBelow = 0;
  for (let b = 0; b < B; b++) {
    const v = sorted[b] as number;
    if (v < args.estimate) below++;
    if (v <= args.estimate) atOrBelow++;
  }
  const z0 = normalQuantile((below + atOrBelow) / (2 * B));
  if (!Number.isFinite(z0)) return 'estimate outside the bootstrap distribution (z₀ infinite)';
  const jk = args.jackknife.filter((v) => !Number.isNaN(v));
  if (jk.length < 2) return 'jackknife undefined';
  let mean = 0;
  for (const v of jk) mean += v;
  mean /= jk.length;
  let num = 0;
  let den = 0;
  for (const v of jk) {
    const d = mean - v;
    num += d * d * d;
    den += d * d;
  }
  if (den === 0) return 'jackknife degenerate (all leave-one-out values equal)';
  const acceleration = num / (6 * Math.pow(den, 1.5));
  const adjust = (zAlpha: number): number => normalCdf(z0 + (z0 + zAlpha) / (1 - acceleration * (z0 + zAlpha)));
  const alpha1 = adjust(normalQuantile(alpha / 2));
  const alpha2 = adjust(normalQuantile(1 - alpha / 2));
  if (!Number.isFinite(alpha1) || !Number.isFinite(alpha2)) return 'adjusted levels not finite';
  return { z0, acceleration, alpha1, alpha2, ci: [quantileType7(sorted, alpha1), quantileType7(sorted, alpha2)] };
}

export function describeBootstrap(args: {
  readonly interval: IntervalMethod;
  readonly replicates: number;
  readonly seed: number;
  readonly stratified: boolean;
  readonly unit?: string;
}): string {
  const unit = args.unit ?? 'case';
  const scheme = args.stratified
    ? `stratified bootstrap of ${unit}s (resampled with replacement within outcome strata, stratum sizes fixed)`
    : `bootstrap of ${unit}s (resampled with replacement)`;
  const interval =
    args.interval === 'bca'
      ? 'BCa 95% CI (Efron & Tibshirani 1993 §14.3, jackknife acceleration)'
      : 'percentile 95% CI (R type 7 / numpy linear)';
  return `${scheme}, B=${args.replicates}, seed=${args.seed}, PRNG ${PRNG_NAME}, ${interval}; undefined replicates dropped and counted`;
}

/** Bootstrap CI of any weighted statistic: the one entry point metric code should use. */
export function bootstrapCi(
  statistic: WeightedStatistic,
  options: BootstrapOptions & { readonly interval?: IntervalMethod; readonly alpha?: number; readonly unit?: string },
): BootstrapCi {
  const interval = options.interval ?? 'percentile';
  const estimate = statistic(new Float64Array(options.n).fill(1));
  const reps = bootstrapReplicates(options, statistic);
  return finishCi(estimate, reps.values, reps.degenerate, interval, options, () => jackknifeValues(options.n, statistic));
}

/**
 * Several statistics of the same replicates, computed together: `statistic(weights, out)` writes statistic j to
 * out[j]. One draw loop and one weight vector serve them all (so shared per-replicate work is done once); each CI equals
 * what bootstrapCi would return for statistic j alone with the same options.
 */
export function bootstrapCis(
  count: number,
  statistic: (weights: Float64Array, out: Float64Array) => void,
  options: BootstrapOptions & { readonly interval?: IntervalMethod; readonly alpha?: number; readonly unit?: string },
): BootstrapCi[] {
  const interval = options.interval ?? 'percentile';
  const out = new Float64Array(count);
  statistic(new Float64Array(options.n).fill(1), out);
  const estimates = Float64Array.from(out);
  const values = Array.from({ length: count }, () => new Float64Array(options.replicates));
  const degenerate = new Array<number>(count).fill(0);
  forEachReplicate(options, (w, b) => {
    statistic(w, out);
    for (let j = 0; j < count; j++) {
      const v = out[j] as number;
      (values[j] as Float64Array)[b] = v;
      if (Number.isNaN(v)) degenerate[j] = (degenerate[j] as number) + 1;
    }
  });
  let jackknife: Float64Array[] | null = null;
  const jackknifeOf = (j: number): Float64Array => {
    if (jackknife === null) {
      const all = Array.from({ length: count }, () => new Float64Array(options.n));
      const w = new Float64Array(options.n).fill(1);
      for (let i = 0; i < options.n; i++) {
        w[i] = 0;
        statistic(w, out);
        for (let k = 0; k < count; k++) (all[k] as Float64Array)[i] = out[k] as number;
        w[i] = 1;
      }
      jackknife = all;
    }
    return jackknife[j] as Float64Array;
  };
  return Array.from({ length: count }, (_, j) =>
    finishCi(estimates[j] as number, values[j] as Float64Array, degenerate[j] as number, interval, options, () => jackknifeOf(j)),
  );
}

function finishCi(
  estimate: number,
  values: Float64Array,
  degenerate: number,
  interval: IntervalMethod,
  options: BootstrapOptions & { readonly alpha?: number; readonly unit?: string },
  jackknife: () => Float64Array,
): BootstrapCi {
  const stratified = options.strata !== undefined;
  const base = { B: options.replicates, seed: options.seed, degenerate };
  const describe = (m: IntervalMethod): string =>
    describeBootstrap({ interval: m, replicates: options.replicates, seed: options.seed, stratified, unit: options.unit });
  if (interval === 'bca') {
    const bca = bcaInterval({ estimate, replicates: values, jackknife: jackknife(), alpha: options.alpha });
    if (typeof bca !== 'string') return { value: estimate, ci: bca.ci, method: describe('bca'), ...base };
    return {
      value: estimate,
      ci: percentileInterval(values, options.alpha),
      method: `${describe('percentile')} (BCa undefined: ${bca})`,
      fallback: bca,
      ...base,
    };
  }
  return { value: estimate, ci: percentileInterval(values, options.alpha), method: describe('percentile'), ...base };
}

export interface PairedBootstrapResult extends CiProvenance {
  /** θ_A − θ_B on the full data. */
  readonly difference: number;
  readonly ci: [number, number] | null;
  /** Two-sided bootstrap p: min(1, 2·min(P*(Δ* ≤ 0), P*(Δ* ≥ 0))) over defined replicates. */
  readonly p: number | null;
}

export const PAIRED_BOOTSTRAP_P =
  'two-sided percentile-bootstrap p = min(1, 2·min(#{Δ* ≤ 0}, #{Δ* ≥ 0})/B_defined), the smallest α whose percentile interval excludes 0';

/**
 * Paired bootstrap of a difference: both statistics see the same replicate (same patients), so their correlation is
 * kept. The replicate is undefined when either statistic is.
 */
export function pairedBootstrap(
  statisticA: WeightedStatistic,
  statisticB: WeightedStatistic,
  options: BootstrapOptions & { readonly alpha?: number; readonly unit?: string },
): PairedBootstrapResult {
  const ones = new Float64Array(options.n).fill(1);
  const difference = statisticA(ones) - statisticB(ones);
  const reps = bootstrapReplicates(options, (w) => statisticA(w) - statisticB(w));
  const defined = definedSorted(reps.values);
  let atOrBelow = 0;
  let atOrAbove = 0;
  for (const v of defined) {
    if (v <= 0) atOrBelow++;
    if (v >= 0) atOrAbove++;
  }
  const p = defined.length === 0 ? null : Math.min(1, (2 * Math.min(atOrBelow, atOrAbove)) / defined.length);
  const method =
    `paired ${describeBootstrap({ interval: 'percentile', replicates: options.replicates, seed: options.seed, stratified: reps.stratified, unit: options.unit })}` +
    ` of the difference A − B; ${PAIRED_BOOTSTRAP_P}`;
  return { difference, ci: percentileInterval(reps.values, options.alpha), p, method, B: options.replicates, seed: options.seed, degenerate: reps.degenerate };
}
