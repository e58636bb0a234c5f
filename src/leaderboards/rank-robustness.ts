import { auroc, averagePrecision, brierScore, confusionAtThreshold } from '../metrics/binary-classification';
import { forEachReplicate } from '../metrics/bootstrap';
import { MetricInputError } from '../metrics/metrics.errors';
import { kendallTauB } from '../metrics/hypothesis-tests';
import { rankMin, rankStability, rankSubmissions } from '../metrics/ranking';
import { RANK_INTERVAL_REPLICATES, RANK_TAIL_HALF_WIDTH, quantileType7, rankIntervalWithMcError } from '../metrics/stats';
import { harrellC, largestEventTime, survivalOrder, unoC, weightedHarrellC, weightedUnoC } from '../metrics/survival';
import { sortBinary, toSortedWeights, weightedAucSorted } from '../metrics/weighted-binary';

/** What a leaderboard ranks: per submission, its predictions on the same cases in the same order. */
export interface RankingData {
  task: 'binary-classification' | 'survival';
  metric: string;
  direction: 'higher' | 'lower';
  threshold?: number;
  tau?: number;
  /** Binary: label per case; survival: event per case (the bootstrap stratum either way). */
  labels: number[];
  times?: number[];
  /** predictions[s][c]: probability or risk of submission s on case c. */
  predictions: number[][];
  /**
   * perVendor "best": the vendor's other submissions for entry s (same case order). Each replicate then takes the
   * vendor's best on that replicate, not the one chosen on the whole test set (which would make the interval
   * optimistic for vendors with many submissions).
   */
  alternatives?: number[][][];
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

/** The aggregate metric on a multiset of case indices (a bootstrap replicate expanded from its multiplicities). */
function statistic(data: RankingData, s: number, idx: readonly number[], row: readonly number[] = data.predictions[s] as number[]): number {
  const scores = idx.map((i) => row[i] as number);
  if (data.task === 'survival') {
    const input = { time: idx.map((i) => data.times?.[i] as number), event: idx.map((i) => data.labels[i] as number), risk: scores };
    // τ fixed across replicates (the full data's), as the weighted path; an undefined replicate is NaN, not an error.
    const tau = data.tau ?? largestEventTime({ time: data.times as number[], event: data.labels, risk: row as number[] });
    try {
      return data.metric === 'c_index_uno' ? unoC(input, tau) : harrellC(input).cIndex;
    } catch (e) {
      if (e instanceof MetricInputError) return Number.NaN;
      throw e;
    }
  }
  const input = { labels: idx.map((i) => data.labels[i] as number), scores };
  switch (data.metric) {
    case 'auroc':
      return auroc(input);
    case 'auprc':
      return averagePrecision(input);
    case 'brier':
      return brierScore(input);
    default: {
      const c = confusionAtThreshold(input, data.threshold ?? 0.5);
      const sens = c.tp / (c.tp + c.fn);
      const spec = c.tn / (c.tn + c.fp);
      const byName: Record<string, number> = { sensitivity: sens, specificity: spec, balanced_accuracy: (sens + spec) / 2, ppv: c.tp / (c.tp + c.fp), npv: c.tn / (c.tn + c.fn) };
      const v = byName[data.metric];
      if (v === undefined) throw new Error(`no ranking statistic for metric '${data.metric}'`);
      return v;
    }
  }
}

const orient = (v: number, direction: 'higher' | 'lower'): number => (direction === 'higher' ? v : -v);

/**
 * For the usual primary metrics, a replicate's value straight from its case multiplicities, with the sorting done
 * once per submission (the metrics module's weighted statistics; same values as expanding the replicate). Other
 * metrics expand the replicate into case indices.
 */
function weightedStatistics(data: RankingData, rows: readonly number[][] = data.predictions): ((w: Float64Array) => number)[] | null {
  if (data.task === 'binary-classification' && data.metric === 'auroc') {
    return rows.map((scores) => {
      const sorted = sortBinary({ labels: data.labels, scores });
      const buffer = new Float64Array(data.labels.length);
      return (w: Float64Array) => weightedAucSorted(sorted, toSortedWeights(sorted, w, buffer));
    });
  }
  if (data.task === 'survival' && (data.metric === 'c_index_harrell' || data.metric === 'c_index_uno')) {
    return rows.map((risk) => {
      const input = { time: data.times as number[], event: data.labels, risk };
      const order = survivalOrder(input);
      const tau = data.tau ?? largestEventTime(input);
      return data.metric === 'c_index_uno' ? (w: Float64Array) => weightedUnoC(input, order, w, tau) : (w: Float64Array) => weightedHarrellC(input, order, w);
    });
  }
  return null;
}

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
  data: RankingData,
  /** expand: recompute each replicate on expanded case indices (the reference path the fast one is tested against). */
  options: { replicates: number; seed: number; expand?: boolean },
): RobustnessResult {
  const k = data.predictions.length;
  const n = data.labels.length;
  const all = Array.from({ length: n }, (_, i) => i);
  const value = data.predictions.map((_, s) => statistic(data, s, all));
  const weighted = options.expand ? null : weightedStatistics(data);
  const alternatives = data.alternatives ?? [];
  const altWeighted = alternatives.map((rows) => (options.expand ? null : weightedStatistics(data, rows)));
  const better = (a: number, b: number): boolean => orient(a, data.direction) > orient(b, data.direction);
  const rank = rankMin(value.map((v) => orient(v, data.direction)));
  const ranks = Array.from({ length: k }, () => [] as number[]);
  const counts = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const taus: number[] = [];
  let degenerate = 0;
  const strata = data.task === 'binary-classification' ? data.labels : undefined;
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
    else vals = data.predictions.map((_, s) => statistic(data, s, expanded()));
    // The vendor's best on this replicate.
    alternatives.forEach((rows, s) => {
      const fs = altWeighted[s];
      rows.forEach((row, a) => {
        const v = fs ? (fs[a] as (w: Float64Array) => number)(w) : statistic(data, s, expanded(), row);
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
  const scheme = strata ? 'bootstrap over cases stratified by outcome' : 'bootstrap over patients (plain, as the survival CIs)';
  const perVendor = alternatives.some((a) => a.length > 0) ? "; each vendor's best submission re-selected inside every replicate" : '';
  return summarise({ method: `aggregate-then-rank on ${data.metric}; ${scheme}${perVendor}`, rank, value, ranks, counts, taus, B: options.replicates, seed: options.seed, degenerate });
}

/**
 * rank-then-aggregate and test-then-rank need a per-case metric; for binary classification that is the squared error
 * (p − y)² (the per-case Brier term, lower is better). Robustness comes from the metrics module's rankStability.
 */
export function perCaseRankRobustness(data: RankingData, method: 'rank-then-aggregate' | 'test-then-rank', options: { replicates: number; seed: number }): RobustnessResult {
  if (data.task !== 'binary-classification') throw new Error(`${method} needs a per-case metric; ${data.task} has none`);
  const values = data.predictions.map((row) => row.map((p, c) => (p - (data.labels[c] as number)) ** 2));
  const ranking = rankSubmissions({ values, direction: 'lower', method });
  const stability = rankStability({ values, direction: 'lower', method, replicates: options.replicates, seed: options.seed });
  const B = stability.B;
  return {
    method: `${ranking.description} (per-case metric: squared error (p − y)², lower is better)`,
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
