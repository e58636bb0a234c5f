// Paired tests (METRICS.md §6.6, §7.2): Wilcoxon signed-rank, Holm adjustment, Kendall's τ-b.
import { MetricInputError } from './metrics.errors';
import { midRanks, normalCdf, normalUpperTail } from './stats';

export type Alternative = 'two-sided' | 'greater' | 'less';

export interface WilcoxonOptions {
  readonly alternative?: Alternative;
  /**
   * 'auto' (default): exact null distribution when n ≤ 50 and there are no zero and no tied |differences|, otherwise
   * the normal approximation with tie correction. 'approx' forces the normal approximation.
   */
  readonly mode?: 'auto' | 'exact' | 'approx';
  /** Continuity correction ±½ in the normal approximation (scipy default false; R wilcox.test default true). */
  readonly correction?: boolean;
}

export interface WilcoxonResult {
  /** Two-sided: min(R⁺, R⁻); one-sided: R⁺ (scipy convention). */
  readonly statistic: number;
  /** null when every difference is zero (scipy raises; R gives no usable p). */
  readonly pValue: number | null;
  /** Non-zero differences used. */
  readonly n: number;
  readonly mode: 'exact' | 'approx';
  readonly z: number | null;
  readonly method: string;
}

const EXACT_MAX_N = 50;

/** Null distribution of R⁺ for n untied ranks: counts of subsets of {1..n} by sum, divided by 2ⁿ (exact below 2⁵³). */
function signedRankPmf(n: number): Float64Array {
  const maxSum = (n * (n + 1)) / 2;
  const counts = new Float64Array(maxSum + 1);
  counts[0] = 1;
  for (let k = 1; k <= n; k++) {
    for (let s = (k * (k + 1)) / 2; s >= k; s--) counts[s] = (counts[s] as number) + (counts[s - k] as number);
  }
  const total = Math.pow(2, n);
  return counts.map((c) => c / total);
}

function sumRange(a: Float64Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i <= to; i++) s += a[i] as number;
  return s;
}

/**
 * Wilcoxon signed-rank test of x − y, zero differences dropped (zero_method "wilcox"). Matches
 * scipy.stats.wilcoxon(x, y, alternative=…, correction=…) in scipy 1.10.1, except that scipy 1.10 uses its exact
 * table even with tied |d| when n ≤ 50 (truncating a half-integer R⁺), where we switch to the tie-corrected normal
 * approximation (as newer scipy does); with mode 'approx' and correction true it equals R wilcox.test(paired = TRUE,
 * exact = FALSE), the form challengeR uses.
 */
export function wilcoxonSignedRank(x: ArrayLike<number>, y: ArrayLike<number>, options: WilcoxonOptions = {}): WilcoxonResult {
  if (x.length !== y.length) throw new MetricInputError('METRIC_LENGTH_MISMATCH', `x (${x.length}) and y (${y.length}) differ in length`);
  const alternative = options.alternative ?? 'two-sided';
  const correction = options.correction ?? false;
  const d: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = (x[i] as number) - (y[i] as number);
    if (!Number.isFinite(v)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `difference at index ${i} is not finite`);
    if (v !== 0) d.push(v);
  }
  const hadZeros = d.length < x.length;
  const n = d.length;
  const describe = (mode: string): string =>
    `Wilcoxon signed-rank (${alternative}), zero differences dropped, ${mode}` +
    (mode.startsWith('normal') ? `, tie-corrected variance${correction ? ', continuity correction ½' : ''}` : '');
  if (n === 0) {
    return { statistic: 0, pValue: null, n: 0, mode: 'approx', z: null, method: `${describe('normal approximation')}; not estimable: all differences are zero` };
  }
  const ranks = midRanks(d.map(Math.abs));
  let rPlus = 0;
  let rMinus = 0;
  for (let i = 0; i < n; i++) {
    if ((d[i] as number) > 0) rPlus += ranks[i] as number;
    else rMinus += ranks[i] as number;
  }
  const statistic = alternative === 'two-sided' ? Math.min(rPlus, rMinus) : rPlus;
  // Tie groups of |d|: sum over groups of t(t² − 1).
  const sortedRanks = Float64Array.from(ranks).sort();
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && sortedRanks[j + 1] === sortedRanks[i]) j++;
    const t = j - i + 1;
    tieTerm += t * (t * t - 1);
    i = j + 1;
  }
  const mode = options.mode ?? 'auto';
  const useExact = mode === 'exact' || (mode === 'auto' && n <= EXACT_MAX_N && !hadZeros && tieTerm === 0);
  if (useExact) {
    if (tieTerm !== 0 || hadZeros) {
      throw new MetricInputError('METRIC_BAD_PARAMETER', 'exact Wilcoxon distribution needs untied, non-zero differences');
    }
    const pmf = signedRankPmf(n);
    const top = pmf.length - 1;
    let p: number;
    if (alternative === 'two-sided') {
      p = rPlus === top / 2 ? 1 : 2 * Math.min(sumRange(pmf, 0, rPlus), sumRange(pmf, rPlus, top));
    } else if (alternative === 'greater') p = sumRange(pmf, rPlus, top);
    else p = sumRange(pmf, 0, rPlus);
    return { statistic, pValue: Math.min(1, Math.max(0, p)), n, mode: 'exact', z: null, method: describe('exact null distribution') };
  }
  const mean = (n * (n + 1)) / 4;
  const se = Math.sqrt((n * (n + 1) * (2 * n + 1) - 0.5 * tieTerm) / 24);
  let cc = 0;
  if (correction) cc = alternative === 'two-sided' ? 0.5 * Math.sign(statistic - mean) : alternative === 'less' ? -0.5 : 0.5;
  const z = (statistic - mean - cc) / se;
  const p = alternative === 'two-sided' ? 2 * normalUpperTail(Math.abs(z)) : alternative === 'greater' ? normalUpperTail(z) : normalCdf(z);
  return { statistic, pValue: Math.min(1, p), n, mode: 'approx', z, method: describe('normal approximation') };
}

/** Holm step-down adjustment, as R p.adjust(method = "holm"); null entries stay null and do not count in m. */
export function holmAdjust(pValues: readonly (number | null)[]): (number | null)[] {
  const idx = pValues.map((p, i) => ({ p, i })).filter((e): e is { p: number; i: number } => e.p !== null && !Number.isNaN(e.p));
  idx.sort((a, b) => a.p - b.p || a.i - b.i);
  const m = idx.length;
  const out: (number | null)[] = pValues.map(() => null);
  let running = 0;
  idx.forEach((e, k) => {
    running = Math.max(running, (m - k) * e.p);
    out[e.i] = Math.min(1, running);
  });
  return out;
}

/**
 * Kendall's τ-b (as scipy.stats.kendalltau default variant "b"): (C − D)/√((n₀ − n₁)(n₀ − n₂)). O(n²), meant for
 * rankings of tens to hundreds of submissions. NaN when either vector is constant.
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new MetricInputError('METRIC_LENGTH_MISMATCH', `x (${n}) and y (${y.length}) differ in length`);
  let concordMinusDiscord = 0;
  let tiesX = 0;
  let tiesY = 0;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    const yi = y[i] as number;
    for (let j = i + 1; j < n; j++) {
      const dx = xi - (x[j] as number);
      const dy = yi - (y[j] as number);
      pairs++;
      if (dx === 0) tiesX++;
      if (dy === 0) tiesY++;
      if (dx !== 0 && dy !== 0) concordMinusDiscord += (dx > 0) === (dy > 0) ? 1 : -1;
    }
  }
  const den = Math.sqrt((pairs - tiesX) * (pairs - tiesY));
  return den === 0 ? Number.NaN : concordMinusDiscord / den;
}
