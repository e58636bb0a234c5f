import { auroc, averagePrecision, brierScore, confusionAtThreshold } from '../../metrics/binary-classification';
import { sortBinary, toSortedWeights, weightedAucSorted } from '../../metrics/weighted-binary';
import type { RankingProblem } from '../rank-robustness';

/** Binary ranking: rows are probabilities; cases resampled stratified by label (class sizes fixed, as the metric CIs). */
export function binaryRankingProblem(input: {
  metric: string;
  direction: 'higher' | 'lower';
  threshold?: number;
  labels: number[];
  predictions: number[][];
  alternatives?: number[][][];
}): RankingProblem {
  const { labels, metric } = input;
  const statistic = (row: readonly number[], idx: readonly number[]): number => {
    const scored = { labels: idx.map((i) => labels[i] as number), scores: idx.map((i) => row[i] as number) };
    switch (metric) {
      case 'auroc':
        return auroc(scored);
      case 'auprc':
        return averagePrecision(scored);
      case 'brier':
        return brierScore(scored);
      default: {
        const c = confusionAtThreshold(scored, input.threshold ?? 0.5);
        const sens = c.tp / (c.tp + c.fn);
        const spec = c.tn / (c.tn + c.fp);
        const byName: Record<string, number> = { sensitivity: sens, specificity: spec, balanced_accuracy: (sens + spec) / 2, ppv: c.tp / (c.tp + c.fp), npv: c.tn / (c.tn + c.fn) };
        const v = byName[metric];
        if (v === undefined) throw new Error(`no ranking statistic for metric '${metric}'`);
        return v;
      }
    }
  };
  return {
    metric,
    direction: input.direction,
    n: labels.length,
    strata: labels,
    scheme: 'bootstrap over cases stratified by outcome',
    rows: input.predictions,
    ...(input.alternatives ? { alternatives: input.alternatives } : {}),
    statistic,
    // AUROC from case multiplicities, the sorting done once per row (same values as expanding the replicate).
    ...(metric === 'auroc'
      ? {
          weighted: (scores: readonly number[]) => {
            const sorted = sortBinary({ labels, scores: [...scores] });
            const buffer = new Float64Array(labels.length);
            return (w: Float64Array) => weightedAucSorted(sorted, toSortedWeights(sorted, w, buffer));
          },
        }
      : {}),
    perCase: { loss: (row) => row.map((p, c) => (p - (labels[c] as number)) ** 2), description: 'squared error (p − y)², lower is better' },
  };
}
