import type { RankingProblem } from './rank-robustness';
import type { CaseResult } from './task-definition';

/**
 * Ranking data of a task whose aggregate is the mean of a per-case value (segmentation's Dice, NSD, HD95 …): rows are
 * the per-case values (NaN = excluded for that case, e.g. both masks empty), a replicate's statistic is the mean
 * of the defined values among the resampled cases, cases resampled plainly. The per-case loss for
 * rank-then-aggregate is the value itself (lower-is-better metrics) or its negation.
 */
export function meanRankingProblem(input: {
  metric: string;
  direction: 'higher' | 'lower';
  value: (r: CaseResult) => number;
  entries: readonly (readonly CaseResult[])[];
  alternatives?: readonly (readonly (readonly CaseResult[])[])[];
}): RankingProblem {
  const rowOf = (entry: readonly CaseResult[]): number[] => entry.map(input.value);
  const rows = input.entries.map(rowOf);
  return {
    metric: input.metric,
    direction: input.direction,
    n: rows[0]?.length ?? 0,
    scheme: 'bootstrap over cases (plain); mean of the cases with the metric defined',
    rows,
    ...(input.alternatives ? { alternatives: input.alternatives.map((list) => list.map(rowOf)) } : {}),
    statistic(row, idx) {
      let sum = 0;
      let n = 0;
      for (const i of idx) {
        const v = row[i] as number;
        if (Number.isFinite(v)) {
          sum += v;
          n++;
        }
      }
      return n === 0 ? Number.NaN : sum / n;
    },
    weighted(row) {
      return (w: Float64Array) => {
        let sum = 0;
        let n = 0;
        for (let i = 0; i < row.length; i++) {
          const v = row[i] as number;
          const k = w[i] as number;
          if (k > 0 && Number.isFinite(v)) {
            sum += k * v;
            n += k;
          }
        }
        return n === 0 ? Number.NaN : sum / n;
      };
    },
    perCase: {
      loss: (row) => row.map((v) => (input.direction === 'higher' ? -v : v)),
      description: `per-case ${input.metric}${input.direction === 'higher' ? ' (negated: lower is better)' : ''}`,
    },
  };
}
