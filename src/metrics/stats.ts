// Small numeric helpers shared by the metric functions. Pure, float64, deterministic.

/** qnorm(0.975) to full double precision (R prints 1.959963984540054). */
export const Z_975 = 1.959963984540054;

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/**
 * erf(x) for 0 <= x < 2.5 by the all-positive series
 * erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)); no cancellation.
 */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  const x2 = x * x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x >= 2.5 by its continued fraction (modified Lentz), which keeps relative precision in the tail. */
function erfcContinuedFraction(x: number): number {
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / f;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) return 1 - erfSeries(x);
  return erfcContinuedFraction(x);
}

/** Standard normal upper tail P(Z > z). */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Two-sided p-value for a standard normal statistic, 2 * (1 - Phi(|z|)) computed without cancellation. */
export function twoSidedNormalP(z: number): number {
  return Math.min(1, 2 * normalUpperTail(Math.abs(z)));
}

/**
 * Wilson score interval (Wilson 1927) for k successes in n trials, z = qnorm(0.975).
 * Same formula as statsmodels proportion_confint(method="wilson") and scipy binomtest().proportion_ci("wilson").
 */
export function wilsonInterval(k: number, n: number, z: number = Z_975): [number, number] {
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // k = 0 and k = n have exact bounds 0 and 1; the formula leaves ~1e-17 rounding residue there.
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

/** Quantile of an ascending-sorted array (plain or typed), R type 7 / numpy "linear" definition. */
export function quantileType7(sorted: ArrayLike<number>, prob: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * prob;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (h - lo) * (b - a);
}

/**
 * Quantile of an ascending-sorted array by the inverted empirical CDF (R type 1): the smallest x with F̂(x) ≥ prob.
 * Always one of the observations, so integer data (ranks) give integer quantiles.
 */
export function quantileType1(sorted: ArrayLike<number>, prob: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  // Smallest k (1-based) with k/n ≥ prob; the epsilon guards prob·n computed a hair above an integer.
  const k = Math.max(1, Math.ceil(prob * n - 1e-9));
  return sorted[Math.min(k, n) - 1] as number;
}

/**
 * Bootstrap replicates needed so that the share of replicates beyond a `tail` quantile (e.g. 0.025 for a 95%
 * interval) is estimated to ± halfWidth with 95% Monte Carlo confidence: B = ⌈1.96²·tail(1 − tail)/halfWidth²⌉.
 */
export function replicatesForTailPrecision(tail: number, halfWidth: number): number {
  return Math.ceil((Z_975 * Z_975 * tail * (1 - tail)) / (halfWidth * halfWidth));
}

/** The promise behind the default B of rank intervals: each 2.5% tail share known to ± 0.5 percentage points. */
export const RANK_TAIL_HALF_WIDTH = 0.005;
export const RANK_INTERVAL_REPLICATES = replicatesForTailPrecision(0.025, RANK_TAIL_HALF_WIDTH);

/**
 * 95% rank interval of integer bootstrap ranks by the inverted CDF (type 1 at 0.025 and 0.975: integers), with the
 * Monte Carlo standard error of the share of replicates in each tail, √(q(1 − q)/B) at q = 0.025, and whether an
 * endpoint is within 2 s.e. of moving (the empirical CDF at an endpoint's neighbour is that close to the cut).
 */
export function rankIntervalWithMcError(sortedRanks: ArrayLike<number>): { interval: [number, number]; tailSe: number; boundaryUncertain: boolean } {
  const B = sortedRanks.length;
  if (B === 0) return { interval: [Number.NaN, Number.NaN], tailSe: Number.NaN, boundaryUncertain: true };
  const lo = quantileType1(sortedRanks, 0.025);
  const hi = quantileType1(sortedRanks, 0.975);
  const tailSe = Math.sqrt((0.025 * 0.975) / B);
  let below = 0;
  let atOrBelowLo = 0;
  let belowHi = 0;
  for (let i = 0; i < B; i++) {
    const r = sortedRanks[i] as number;
    if (r < lo) below++;
    if (r <= lo) atOrBelowLo++;
    if (r < hi) belowHi++;
  }
  // Lower endpoint moves if F(lo − 1) or F(lo) is near 0.025; upper if F(hi − 1) or F(hi) is near 0.975.
  const near = (share: number, cut: number): boolean => Math.abs(share - cut) < 2 * tailSe;
  const boundaryUncertain =
    (below > 0 && near(below / B, 0.025)) || (atOrBelowLo < B && near(atOrBelowLo / B, 0.025)) || near(belowHi / B, 0.975);
  return { interval: [lo, hi], tailSe, boundaryUncertain };
}

/** 1-based mid-ranks (ties get the mean of the ranks they span), as scipy rankdata(method="average"). */
export function midRanks(values: readonly number[]): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => (values[i] as number) - (values[j] as number));
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start;
    const v = values[order[start] as number] as number;
    while (end + 1 < n && values[order[end + 1] as number] === v) end++;
    // Positions start..end (0-based) hold ranks start+1..end+1; their mean is exact in float64.
    const rank = (start + end + 2) / 2;
    for (let k = start; k <= end; k++) ranks[order[k] as number] = rank;
    start = end + 1;
  }
  return ranks;
}

// Bound once at load: under jest's vm sandbox every `Math.x` lookup goes through the global proxy (~100× a plain call),
// which made the draw loops dominate scoring time.
const imul = Math.imul;
const floor = Math.floor;

/**
 * mulberry32: a tiny, fully specified 32-bit PRNG so bootstrap CIs are bit-identical across runs and platforms.
 * Returns uniform integers in [0, bound).
 */
export function createSeededRandomInt(seed: number): (bound: number) => number {
  // State in a typed array: a uint32 closure variable would be re-boxed as a heap number on every draw.
  const state = new Uint32Array([seed >>> 0]);
  return (bound: number): number => {
    const next = ((state[0] as number) + 0x6d2b79f5) >>> 0;
    state[0] = next;
    let t = next;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    const u32 = (t ^ (t >>> 14)) >>> 0;
    return floor((u32 / 4294967296) * bound);
  };
}

/** Standard normal CDF Φ(z), accurate in both tails. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/**
 * Inverse standard normal CDF Φ⁻¹(p) (scipy.special.ndtri / R qnorm): Acklam's rational approximation (rel. error
 * 1.15e-9) refined by one Halley step against our erfc, which brings it to ~1e-15.
 */
export function normalQuantile(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const pLow = 0.02425;
  let x: number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - pLow) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  // Halley refinement; use the upper tail for x > 0 so the residual keeps relative precision.
  const e = x > 0 ? 1 - p - normalUpperTail(x) : normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

