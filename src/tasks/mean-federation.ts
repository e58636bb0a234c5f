import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { nodeRatioPart, pooledRatio, type RatioPart } from '../metrics/pooling';
import type { MetricValue } from '../metrics/score-report';
import { type FederatedScore, type Heterogeneity, isCount, metaAnalysedFromCis, perNodeTables, type PooledMetric, ratioPartProblem, type TaskFederation, type EgressLevel } from './federation';
import { benchmarkBootstrap } from './scoring-support';
import type { CaseResult } from './task-definition';

/** One node's summary for a task whose metrics are means of per-case values (aggregates: every egress level). */
export interface MeanNodeSummary {
  readonly egress: EgressLevel;
  readonly n: number;
  readonly metrics: Record<string, MetricValue>;
  /** metric → Σ of the defined per-case values, their count, and the node's bootstrap replicate sums. */
  readonly sums: Record<string, RatioPart>;
}

/**
 * Federation for tasks whose metrics are means over cases (segmentation: Dice, NSD, HD95, …): each node sends, per
 * metric, the sum and count of its defined per-case values and B replicate sums of a bootstrap over its own cases
 * (one weight vector per replicate for all metrics, as the single-site bootstrap does); the hub's mean is exact (the
 * single-site mean on the union of the cases) and its CI is a bootstrap stratified by node. Nothing per case leaves.
 * The per-node means also go through a DerSimonian–Laird meta-analysis, shown as heterogeneity beside the exact pool.
 */
export function meanFederation(input: {
  metrics: readonly string[];
  /** The per-case value of a metric as aggregated (NaN = excluded under the benchmark's policy). */
  perCaseValue: (definition: BenchmarkDefinition, metric: string) => (r: CaseResult) => number;
  metricCodeVersion: string;
}): TaskFederation<MeanNodeSummary> {
  return {
    summarize({ score, definition, egress, seed, seedKey }) {
      const bootstrap = benchmarkBootstrap(definition);
      const sums: Record<string, RatioPart> = {};
      for (const metric of input.metrics) {
        const value = input.perCaseValue(definition, metric);
        sums[metric] = nodeRatioPart(
          score.perCase.map((r) => {
            const v = value(r);
            return Number.isNaN(v) ? null : v;
          }),
          { replicates: bootstrap.replicates, seed, ...(seedKey ? { key: seedKey } : {}) },
        );
      }
      return { egress, n: score.n, metrics: Object.fromEntries(input.metrics.map((m) => [m, score.metrics[m] as MetricValue])), sums };
    },

    check({ summary }) {
      const s = summary as Partial<MeanNodeSummary>;
      if (!isCount(s.n)) return `n ${JSON.stringify(s.n)} is not a case count`;
      // A metric's denominator counts the cases where it is defined: at most the node's cases.
      for (const metric of input.metrics) {
        const part = s.sums?.[metric];
        if (part === undefined) continue;
        const problem = ratioPartProblem(`sums.${metric}`, part, { maxDenominator: s.n });
        if (problem) return problem;
        if (!isCount(part.denominator)) return `sums.${metric}: denominator ${part.denominator} is not a case count`;
      }
      return null;
    },

    pool({ definition, nodes }): FederatedScore {
      const ordered = [...nodes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      const metrics: Record<string, PooledMetric> = {};
      const heterogeneity: Record<string, Heterogeneity> = {};
      for (const metric of input.metrics) {
        const parts = ordered.map((x) => x.summary.sums[metric]);
        if (parts.some((p) => p === undefined)) {
          metrics[metric] = { value: null, ci: null, method: `${metric} not pooled: a node did not report it`, pooling: 'not-pooled' };
          continue;
        }
        const pooled = pooledRatio(parts as RatioPart[]);
        metrics[metric] = { value: pooled.value, ci: pooled.ci, method: `mean over cases; ${pooled.method}`, pooling: 'exact' };
        const meta = metaAnalysedFromCis(ordered, metric, 'bootstrap CI');
        if (meta) heterogeneity[metric] = meta.heterogeneity;
      }
      return {
        n: ordered.reduce((a, x) => a + x.summary.n, 0),
        nodes: ordered.length,
        metrics,
        perNode: perNodeTables(definition, ordered.map((x) => ({ node: x.node, n: x.summary.n, metrics: x.summary.metrics })), input.metrics),
        heterogeneity,
        egress: Object.fromEntries(ordered.map((x) => [x.node, x.summary.egress])),
        metricCodeVersion: input.metricCodeVersion,
      };
    },
  };
}
