import { forEachReplicate } from '../metrics/bootstrap';
import { kendallTauB } from '../metrics/hypothesis-tests';
import { rankMin, rankStability, rankSubmissions } from '../metrics/ranking';
import { RANK_INTERVAL_REPLICATES, RANK_TAIL_HALF_WIDTH, quantileType7, rankIntervalWithMcError } from '../metrics/stats';

/**
 * What a leaderboard ranks, task-free: per entry one row of per-case values (predictions, or per-case metrics) on the
 * same cases in the same order, and how the task turns a resampled set of cases into the ranked statistic. Each task
 * folder builds one (e.g. binary-classification/ranking.ts).
 */
export interface RankingProblem {
  metric: string;
  direction: 'higher' | 'lower';
  /** Number of cases. */
  n: number;
  /** Bootstrap strata per case (binary: the label, so class sizes stay fixed); absent: plain resampling. */
  strata?: readonly number[];
  /** How cases are resampled, for the method text. */
  scheme: string;
  /** rows[s][c]: entry s's value on case c. */
  rows: number[][];
  /**
   * perVendor "best": the vendor's other submissions for entry s (same case order). Each replicate then takes the
   * vendor's best on that replicate, not the one chosen on the whole test set (which would make the interval
   * optimistic for vendors with many submissions).
   */
  alternatives?: number[][][];
  /** The aggregate metric of one row on a multiset of case indices (NaN where undefined). */
  statistic(row: readonly number[], idx: readonly number[]): number;
  /** A replicate's value straight from case multiplicities (sorting done once per row), where the task has one. */
  weighted?(row: readonly number[]): (w: Float64Array) => number;
  /** rank-then-aggregate / test-then-rank: the per-case loss (lower is better) and its description; absent: none. */
  perCase?: { loss(row: readonly number[]): number[]; description: string };
}

export interface RobustnessResult {
  method: string;
  /** Per submission, in input order. */
  rank: number[];
  value: number[];
  medianRank: number[];
  /** 95% rank interval by the inverted CDF (integer ranks). */
  rankInterval: [number, number][];
  /** Monte Carlo s.e. of each 2.5% tail share, and per entry whether an endpoint is within 2 s.e. of moving. */
  monteCarlo: { tailSe: number; boundaryUncertain: boolean[] };
  /** rankShare[s][r-1] = share of bootstrap replicates in which submission s got rank r (blob plot data). */
  rankShare: number[][];
  kendallTau: { median: number; q25: number; q75: number };
  B: number;
  seed: number;
  degenerate: number;
}

const orient = (v: number, direction: 'higher' | 'lower'): number => (direction === 'higher' ? v : -v);

/**
 * Ranks submissions on an aggregate metric (aggregate-then-rank, ties "min") and measures how stable that ranking is:
 * bootstrap over cases, the metric recomputed for every submission on each replicate (all submissions' values of a
 * case move together), ranks re-derived; 95% rank interval by the inverted CDF (integer ranks) with its Monte Carlo
 * error, and Kendall's τ-b between each replicate's ranking and the reported one (challengeR bootstrap + stability).
 * Resampling: binary cases stratified by outcome (class sizes fixed, as the metric CIs); survival patients resampled
 * plainly, as the survival CIs do (event status is an outcome, not a design stratum: fixing the number of deaths
 * would understate the variance of C). With `alternatives`, a vendor's best submission is re-selected per replicate.
 */
export function aggregateRankRobustness(
  data: RankingProblem,
  /** expand: recompute each replicate on expanded case indices (the reference path the fast one is tested against). */
  options: { replicates: number; seed: number; expand?: boolean },
): RobustnessResult {
  const k = data.rows.length;
  const n = data.n;
  const all = Array.from({ length: n }, (_, i) => i);
  const weightedOf = (rows: readonly number[][]): ((w: Float64Array) => number)[] | null => (options.expand || !data.weighted ? null : rows.map((row) => (data.weighted as NonNullable<RankingProblem['weighted']>)(row)));
  const value = data.rows.map((row) => data.statistic(row, all));
  const weighted = weightedOf(data.rows);
  const alternatives = data.alternatives ?? [];
  const altWeighted = alternatives.map((rows) => weightedOf(rows));
  const better = (a: number, b: number): boolean => orient(a, data.direction) > orient(b, data.direction);
  const rank = rankMin(value.map((v) => orient(v, data.direction)));
  const ranks = Array.from({ length: k }, () => [] as number[]);
  const counts = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const taus: number[] = [];
  let degenerate = 0;
  const strata = data.strata;
  forEachReplicate({ n, replicates: options.replicates, seed: options.seed, ...(strata ? { strata } : {}) }, (w) => {
    let vals: number[];
    let idx: number[] | null = null;
    const expanded = (): number[] => {
      if (idx === null) {
        idx = [];
        for (let i = 0; i < n; i++) for (let r = 0; r < (w[i] as number); r++) idx.push(i);
      }
      return idx;
    };
    if (weighted) vals = weighted.map((f) => f(w));
    else vals = data.rows.map((row) => data.statistic(row, expanded()));
    // The vendor's best on this replicate.
    alternatives.forEach((rows, s) => {
      const fs = altWeighted[s];
      rows.forEach((row, a) => {
        const v = fs ? (fs[a] as (w: Float64Array) => number)(w) : data.statistic(row, expanded());
        if (Number.isFinite(v) && better(v, vals[s] as number)) vals[s] = v;
      });
    });
    if (vals.some((v) => !Number.isFinite(v))) {
      degenerate++;
      return;
    }
    const r = rankMin(vals.map((v) => orient(v, data.direction)));
    r.forEach((rk, s) => {
      ranks[s]?.push(rk);
      (counts[s] as number[])[rk - 1]! += 1;
    });
    if (k > 1) {
      const tau = kendallTauB(rank, r);
      if (Number.isFinite(tau)) taus.push(tau);
    }
  });
  const scheme = data.scheme;
  const perVendor = alternatives.some((a) => a.length > 0) ? "; each vendor's best submission re-selected inside every replicate" : '';
  return summarise({ method: `aggregate-then-rank on ${data.metric}; ${scheme}${perVendor}`, rank, value, ranks, counts, taus, B: options.replicates, seed: options.seed, degenerate });
}

/**
 * rank-then-aggregate and test-then-rank need a per-case metric, which the task supplies (binary classification: the
 * squared error (p − y)², the per-case Brier term, lower is better). Robustness comes from the metrics module's rankStability.
 */
export function perCaseRankRobustness(data: RankingProblem, method: 'rank-then-aggregate' | 'test-then-rank', options: { replicates: number; seed: number }): RobustnessResult {
  const perCase = data.perCase;
  if (!perCase) throw new Error(`${method} needs a per-case metric; ${data.metric} has none`);
  const values = data.rows.map((row) => perCase.loss(row));
  const ranking = rankSubmissions({ values, direction: 'lower', method });
  const stability = rankStability({ values, direction: 'lower', method, replicates: options.replicates, seed: options.seed });
  const B = stability.B;
  return {
    method: `${ranking.description} (per-case metric: ${perCase.description})`,
    rank: ranking.rank,
    value: ranking.score,
    medianRank: stability.medianRank,
    rankInterval: stability.rankInterval,
    monteCarlo: stability.monteCarlo,
    rankShare: stability.rankCounts.map((row) => row.map((c) => c / B)),
    kendallTau: { median: stability.kendallTau.median, q25: stability.kendallTau.q25, q75: stability.kendallTau.q75 },
    B,
    seed: stability.seed,
    degenerate: stability.degenerate,
  };
}

function summarise(input: { method: string; rank: number[]; value: number[]; ranks: number[][]; counts: number[][]; taus: number[]; B: number; seed: number; degenerate: number }): RobustnessResult {
  const sortedTaus = [...input.taus].sort((a, b) => a - b);
  const q = (p: number): number => (sortedTaus.length > 0 ? quantileType7(sortedTaus, p) : Number.NaN);
  const used = input.B - input.degenerate;
  const intervals = input.ranks.map((r) => rankIntervalWithMcError([...r].sort((a, b) => a - b)));
  const tailSe = Math.sqrt((0.025 * 0.975) / Math.max(1, used));
  return {
    method:
      `${input.method}, B = ${input.B}, seed ${input.seed} (mulberry32), ranks ties "min", 95% rank interval by the inverted CDF ` +
      `(type 1 quantiles, integer ranks); Monte Carlo s.e. of each 2.5% tail share ${tailSe.toFixed(4)} ` +
      `(B = ${RANK_INTERVAL_REPLICATES} keeps it within ±${RANK_TAIL_HALF_WIDTH} at 95%), endpoints within 2 s.e. of moving flagged; Kendall τ-b against the reported ranking`,
    rank: input.rank,
    value: input.value,
    medianRank: input.ranks.map((r) => (r.length > 0 ? quantileType7([...r].sort((a, b) => a - b), 0.5) : Number.NaN)),
    rankInterval: intervals.map((iv) => iv.interval),
    monteCarlo: { tailSe, boundaryUncertain: intervals.map((iv) => iv.boundaryUncertain) },
    rankShare: input.counts.map((row) => row.map((c) => (used > 0 ? c / used : 0))),
    kendallTau: { median: q(0.5), q25: q(0.25), q75: q(0.75) },
    B: input.B,
    seed: input.seed,
    degenerate: input.degenerate,
  };
}
