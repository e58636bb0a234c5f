import { MetricInputError } from '../../metrics/metrics.errors';
import { harrellC, largestEventTime, survivalOrder, unoC, weightedHarrellC, weightedUnoC } from '../../metrics/survival';
import type { RankingProblem } from '../rank-robustness';

/**
 * Survival ranking: rows are risks; patients resampled plainly, as the survival CIs do (event status is an outcome,
 * not a design stratum: fixing the number of deaths would understate the variance of C). No per-case metric.
 */
export function survivalRankingProblem(input: {
  metric: string;
  direction: 'higher' | 'lower';
  tau?: number;
  times: number[];
  events: number[];
  predictions: number[][];
  alternatives?: number[][][];
}): RankingProblem {
  const { times, events, metric } = input;
  const statistic = (row: readonly number[], idx: readonly number[]): number => {
    const scored = { time: idx.map((i) => times[i] as number), event: idx.map((i) => events[i] as number), risk: idx.map((i) => row[i] as number) };
    // τ fixed across replicates (the full data's), as the weighted path; an undefined replicate is NaN, not an error.
    const tau = input.tau ?? largestEventTime({ time: times, event: events, risk: [...row] });
    try {
      return metric === 'c_index_uno' ? unoC(scored, tau) : harrellC(scored).cIndex;
    } catch (e) {
      if (e instanceof MetricInputError) return Number.NaN;
      throw e;
    }
  };
  return {
    metric,
    direction: input.direction,
    n: times.length,
    scheme: 'bootstrap over patients (plain, as the survival CIs)',
    rows: input.predictions,
    ...(input.alternatives ? { alternatives: input.alternatives } : {}),
    statistic,
    ...(metric === 'c_index_harrell' || metric === 'c_index_uno'
      ? {
          weighted: (risk: readonly number[]) => {
            const scored = { time: times, event: events, risk: [...risk] };
            const order = survivalOrder(scored);
            const tau = input.tau ?? largestEventTime(scored);
            return metric === 'c_index_uno' ? (w: Float64Array) => weightedUnoC(scored, order, w, tau) : (w: Float64Array) => weightedHarrellC(scored, order, w);
          },
        }
      : {}),
  };
}
