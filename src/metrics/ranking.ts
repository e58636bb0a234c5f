// Leaderboard ranking and its robustness (METRICS.md §7, after challengeR, Wiesenfarth et al. 2021). Pure.
// Input: values[submission][case], NaN = missing case; direction says whether higher values are better.
import { forEachReplicate } from './bootstrap';
import { holmAdjust, kendallTauB, wilcoxonSignedRank } from './hypothesis-tests';
import { MetricInputError } from './metrics.errors';
import { quantileType7, rankIntervalWithMcError } from './stats';

export type Direction = 'higher' | 'lower';
export type RankingMethod = 'aggregate-then-rank' | 'rank-then-aggregate' | 'test-then-rank';

export interface RankingInput {
  readonly values: readonly (readonly number[])[];
  readonly direction: Direction;
  /**
   * Value a missing case is scored as (challengeR na.treat); default: the worst observed value in the matrix
   * (e.g. pass 0 for DSC). Rank-then-aggregate ignores it: a missing case gets the worst rank on that case.
   */
  readonly missingValue?: number;
}

export interface Ranking {
  readonly method: RankingMethod;
  /** Per submission: mean value, mean rank, or number of significant wins. */
  readonly score: number[];
  /** 1 = best; equal scores share the lowest rank ("min": 1, 2, 2, 4). */
  readonly rank: number[];
  readonly description: string;
}

/** Dense K×n matrix, row-major; validated once. */
interface Matrix {
  readonly k: number;
  readonly n: number;
  readonly data: Float64Array;
}

function toMatrix(values: readonly (readonly number[])[]): Matrix {
  const k = values.length;
  if (k === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no submissions to rank');
  const n = (values[0] as readonly number[]).length;
  if (n === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases to rank on');
  const data = new Float64Array(k * n);
  values.forEach((row, s) => {
    if (row.length !== n) throw new MetricInputError('METRIC_LENGTH_MISMATCH', `submission ${s} has ${row.length} cases, expected ${n}`);
    row.forEach((v, c) => {
      if (!Number.isNaN(v) && !Number.isFinite(v)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `value [${s}][${c}] is infinite`);
      data[s * n + c] = v;
    });
  });
  return { k, n, data };
}

/** Missing cases replaced by the missing value; values sign-flipped so that higher is always better. */
function filledOriented(m: Matrix, input: RankingInput): Float64Array {
  const sign = input.direction === 'higher' ? 1 : -1;
  let fill = input.missingValue;
  if (fill === undefined) {
    let worst = Number.NaN;
    for (const v of m.data) if (!Number.isNaN(v) && (Number.isNaN(worst) || sign * v < sign * worst)) worst = v;
    fill = worst;
  }
  if (Number.isNaN(fill)) throw new MetricInputError('METRIC_EMPTY_INPUT', 'every value is missing');
  const out = new Float64Array(m.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = m.data[i] as number;
    out[i] = sign * (Number.isNaN(v) ? fill : v);
  }
  return out;
}

/** Scores closer than this (relative) are tied: sums of the same values in another order differ in the last bits. */
export const SCORE_TIE_TOLERANCE = 1e-12;

function strictlyBetter(a: number, b: number): boolean {
  return a - b > SCORE_TIE_TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Ranks with ties "min" of scores where higher is better: 1 + number of strictly better. */
export function rankMin(scores: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    let better = 0;
    for (let j = 0; j < scores.length; j++) if (strictlyBetter(scores[j] as number, scores[i] as number)) better++;
    out.push(1 + better);
  }
  return out;
}

/** rankMin into a buffer, for the bootstrap loop (O(K²), K = submissions, no allocation). */
function rankMinInto(scores: Float64Array, out: Float64Array): void {
  const k = scores.length;
  for (let i = 0; i < k; i++) {
    let better = 0;
    const si = scores[i] as number;
    for (let j = 0; j < k; j++) if (strictlyBetter(scores[j] as number, si)) better++;
    out[i] = 1 + better;
  }
}

/** Mean over cases with multiplicities w (all 1 for the point estimate). */
function weightedRowMeans(oriented: Float64Array, k: number, n: number, w: Float64Array, out: Float64Array): void {
  let total = 0;
  for (let c = 0; c < n; c++) total += w[c] as number;
  for (let s = 0; s < k; s++) {
    let sum = 0;
    const base = s * n;
    for (let c = 0; c < n; c++) sum += (oriented[base + c] as number) * (w[c] as number);
    out[s] = sum / total;
  }
}

/** Per-case ranks (higher oriented value = better = rank 1), ties averaged; missing cases share the worst ranks. */
function perCaseRanks(m: Matrix, input: RankingInput): Float64Array {
  const sign = input.direction === 'higher' ? 1 : -1;
  const ranks = new Float64Array(m.k * m.n);
  for (let c = 0; c < m.n; c++) {
    for (let s = 0; s < m.k; s++) {
      const v = m.data[s * m.n + c] as number;
      let better = 0;
      let equal = 0;
      for (let t = 0; t < m.k; t++) {
        const u = m.data[t * m.n + c] as number;
        // Missing is worse than any value and ties with other missing ones.
        if (Number.isNaN(v)) {
          if (!Number.isNaN(u)) better++;
          else equal++;
        } else if (!Number.isNaN(u)) {
          if (sign * u > sign * v) better++;
          else if (u === v) equal++;
        }
      }
      ranks[s * m.n + c] = better + (equal + 1) / 2;
    }
  }
  return ranks;
}

const DESCRIPTIONS: Record<RankingMethod, string> = {
  'aggregate-then-rank':
    'aggregate-then-rank (challengeR aggregateThenRank, FUN = mean): mean per submission over cases, missing cases scored as the missing value (default: worst observed value), ranks with ties "min" (means within 1e-12 relative are tied)',
  'rank-then-aggregate':
    'rank-then-aggregate (challengeR rankThenAggregate, FUN = mean): rank per case with ties averaged, missing cases share the worst ranks, mean rank per submission, re-ranked with ties "min"',
  'test-then-rank':
    'test-then-rank (challengeR testThenRank, alpha = 0.05, p.adjust "none"): for each ordered pair a one-sided paired Wilcoxon signed-rank test (normal approximation with continuity correction, as R wilcox.test(exact = FALSE)), score = number of significant wins, ranks with ties "min"; missing cases scored as the missing value',
};

function rankFromMatrix(m: Matrix, input: RankingInput, method: RankingMethod): Ranking {
  const w = new Float64Array(m.n).fill(1);
  const score = new Float64Array(m.k);
  if (method === 'aggregate-then-rank') {
    weightedRowMeans(filledOriented(m, input), m.k, m.n, w, score);
    const sign = input.direction === 'higher' ? 1 : -1;
    return { method, score: Array.from(score, (v) => sign * v), rank: rankMin(score), description: DESCRIPTIONS[method] };
  }
  if (method === 'rank-then-aggregate') {
    weightedRowMeans(perCaseRanks(m, input), m.k, m.n, w, score);
    // Lower mean rank is better.
    return { method, score: Array.from(score), rank: rankMin(score.map((v) => -v)), description: DESCRIPTIONS[method] };
  }
  const wins = significantWins(filledOriented(m, input), m.k, m.n, 0.05);
  return { method, score: wins, rank: rankMin(wins), description: DESCRIPTIONS[method] };
}

function row(oriented: Float64Array, n: number, s: number): Float64Array {
  return oriented.subarray(s * n, (s + 1) * n);
}

function significantWins(oriented: Float64Array, k: number, n: number, alpha: number): number[] {
  const wins = new Array<number>(k).fill(0);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      if (a === b) continue;
      const p = wilcoxonSignedRank(row(oriented, n, a), row(oriented, n, b), { alternative: 'greater', mode: 'approx', correction: true }).pValue;
      // All differences zero: no evidence either way (p treated as 1).
      if (p !== null && p < alpha) wins[a] = (wins[a] as number) + 1;
    }
  }
  return wins;
}

export function rankSubmissions(input: RankingInput & { readonly method: RankingMethod }): Ranking {
  return rankFromMatrix(toMatrix(input.values), input, input.method);
}

export interface SignificanceMap {
  /** p[a][b]: one-sided Wilcoxon p for "a better than b" (null on the diagonal or when all differences are zero). */
  readonly p: (number | null)[][];
  /** Holm-adjusted over all K(K−1) ordered pairs. */
  readonly pHolm: (number | null)[][];
  /** significant[a][b]: a significantly better than b at α after Holm. */
  readonly significant: boolean[][];
  readonly alpha: number;
  readonly method: string;
}

/** challengeR significanceMap: pairwise one-sided Wilcoxon signed-rank, Holm-adjusted, α = 0.05. */
export function significanceMap(input: RankingInput & { readonly alpha?: number }): SignificanceMap {
  const m = toMatrix(input.values);
  const oriented = filledOriented(m, input);
  const alpha = input.alpha ?? 0.05;
  const flat: (number | null)[] = [];
  for (let a = 0; a < m.k; a++) {
    for (let b = 0; b < m.k; b++) {
      flat.push(a === b ? null : wilcoxonSignedRank(row(oriented, m.n, a), row(oriented, m.n, b), { alternative: 'greater', mode: 'approx', correction: true }).pValue);
    }
  }
  const adj = holmAdjust(flat);
  const grid = <T>(src: readonly T[]): T[][] => Array.from({ length: m.k }, (_, a) => src.slice(a * m.k, (a + 1) * m.k));
  return {
    p: grid(flat),
    pHolm: grid(adj),
    significant: grid(adj.map((p) => p !== null && p < alpha)),
    alpha,
    method:
      'pairwise one-sided paired Wilcoxon signed-rank (normal approximation, continuity correction, as R wilcox.test(exact = FALSE)), Holm over all ordered pairs (challengeR significanceMap)',
  };
}

export interface RankStability {
  /** rankCounts[s][r − 1] = number of replicates in which submission s got rank r. */
  readonly rankCounts: number[][];
  readonly medianRank: number[];
  /** 95% rank interval by the inverted CDF (type 1 at 2.5% and 97.5%): integer ranks. */
  readonly rankInterval: [number, number][];
  /** Monte Carlo s.e. of each tail share (√(0.025·0.975/B)), and per submission whether an endpoint is that close to moving. */
  readonly monteCarlo: { readonly tailSe: number; readonly boundaryUncertain: boolean[] };
  readonly kendallTau: { readonly median: number; readonly q25: number; readonly q75: number; readonly values: Float64Array };
  readonly B: number;
  readonly seed: number;
  readonly degenerate: number;
  readonly method: string;
}

/**
 * challengeR bootstrap(): resample cases with replacement (a case's values for all submissions move together),
 * re-apply the same ranking, compare with the full-data ranking by Kendall's τ-b. A replicate where τ is undefined
 * (all submissions tied) is counted in `degenerate` and left out of the τ summary (not of the rank distribution).
 */
export function rankStability(
  input: RankingInput & { readonly method: RankingMethod; readonly replicates?: number; readonly seed: number },
): RankStability {
  const m = toMatrix(input.values);
  const B = input.replicates ?? 1000;
  const reference = rankFromMatrix(m, input, input.method).rank;
  const refRanks = Float64Array.from(reference);
  // Per-method replicate scorer; ranking within a case does not depend on other cases, so per-case ranks are reused.
  const oriented = input.method === 'rank-then-aggregate' ? perCaseRanks(m, input).map((v) => -v) : filledOriented(m, input);
  const scores = new Float64Array(m.k);
  const ranks = new Float64Array(m.k);
  const counts = Array.from({ length: m.k }, () => new Array<number>(m.k).fill(0));
  const allRanks = Array.from({ length: m.k }, () => new Float64Array(B));
  const taus = new Float64Array(B);
  let degenerate = 0;
  const caseIndex = new Int32Array(m.n);
  const resampled = new Float64Array(m.k * m.n);
  forEachReplicate({ n: m.n, replicates: B, seed: input.seed }, (w, b) => {
    if (input.method === 'test-then-rank') {
      // Wilcoxon needs the resampled cases themselves, not multiplicities.
      let q = 0;
      for (let c = 0; c < m.n; c++) for (let r = 0; r < (w[c] as number); r++) caseIndex[q++] = c;
      for (let s = 0; s < m.k; s++) for (let c = 0; c < m.n; c++) resampled[s * m.n + c] = oriented[s * m.n + (caseIndex[c] as number)] as number;
      scores.set(significantWins(resampled, m.k, m.n, 0.05));
    } else {
      weightedRowMeans(oriented, m.k, m.n, w, scores);
    }
    rankMinInto(scores, ranks);
    for (let s = 0; s < m.k; s++) {
      const r = ranks[s] as number;
      const c = counts[s] as number[];
      c[r - 1] = (c[r - 1] as number) + 1;
      (allRanks[s] as Float64Array)[b] = r;
    }
    const tau = kendallTauB(refRanks, ranks);
    taus[b] = tau;
    if (Number.isNaN(tau)) degenerate++;
  });
  const sortedTau = taus.filter((t) => !Number.isNaN(t)).sort();
  const medianRank: number[] = [];
  const rankInterval: [number, number][] = [];
  const boundaryUncertain: boolean[] = [];
  let tailSe = Number.NaN;
  for (const r of allRanks) {
    r.sort();
    medianRank.push(quantileType7(r, 0.5));
    const iv = rankIntervalWithMcError(r);
    rankInterval.push(iv.interval);
    boundaryUncertain.push(iv.boundaryUncertain);
    tailSe = iv.tailSe;
  }
  return {
    rankCounts: counts,
    medianRank,
    rankInterval,
    monteCarlo: { tailSe, boundaryUncertain },
    kendallTau: { median: quantileType7(sortedTau, 0.5), q25: quantileType7(sortedTau, 0.25), q75: quantileType7(sortedTau, 0.75), values: taus },
    B,
    seed: input.seed,
    degenerate,
    method: `bootstrap over cases (all submissions' values of a case move together), B=${B}, seed=${input.seed}, PRNG mulberry32, re-applying ${DESCRIPTIONS[input.method]}; Kendall's τ-b vs the full-data ranking; 95% rank interval by the inverted CDF (type 1, integer ranks), Monte Carlo s.e. of each 2.5% tail share ${tailSe.toFixed(4)}`,
  };
}
