import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import type { MetricValue } from '../metrics/score-report';
import type { SubgroupResult } from '../metrics/subgroups';
import { derSimonianLaird, type NodeEstimate, perNodeTable, type RandomEffectsResult } from '../metrics/pooling';
import type { TaskScore } from './task-definition';

import { EGRESS_LEVELS, type EgressLevel } from '../federation/node-policy';

/**
 * What a node's local policy lets leave it (issue 11; src/federation/node-policy.ts), least to most: aggregates only;
 * label-conditional score distributions (sorted, no case identifiers); pseudonymised per-case metric rows. Every
 * level includes the ones below.
 */
export { EGRESS_LEVELS, type EgressLevel };

export function egressAllows(level: EgressLevel, wanted: EgressLevel): boolean {
  return EGRESS_LEVELS.indexOf(level) >= EGRESS_LEVELS.indexOf(wanted);
}

/** Small-n suppression for per-node rows when the benchmark declares none (the subgroup convention's default). */
export const DEFAULT_NODE_MIN_SIZE = 10;

/** How a pooled metric was obtained: the report names it next to the number. */
export type PoolingKind = 'exact' | 'meta-analysis' | 'not-pooled';

export type PooledMetric = MetricValue & { readonly pooling: PoolingKind };

export interface Heterogeneity {
  readonly tau2: number;
  readonly i2: number;
  readonly q: number;
  readonly df: number;
  readonly pQ: number;
  readonly predictionInterval: [number, number] | null;
  readonly method: string;
}

/** A run pooled over nodes at the hub: the pooled number, the per-node numbers and the heterogeneity per metric. */
export interface FederatedScore {
  readonly n: number;
  readonly nodes: number;
  readonly metrics: Record<string, PooledMetric>;
  /** metric → one row per node (a node below the minimum size shows no value). */
  readonly perNode: Record<string, SubgroupResult[]>;
  /** metric → between-node heterogeneity, where per-node estimates with variances exist (k ≥ 2). */
  readonly heterogeneity: Record<string, Heterogeneity>;
  /** What each node let leave (the lowest level decides which metrics pool exactly). */
  readonly egress: Record<string, EgressLevel>;
  readonly metricCodeVersion: string;
}

/** A node's summary as it arrives at the hub, already verified (signature, job, node) by the protocol layer. */
export interface NodeSummaryFrom<S> {
  readonly node: string;
  readonly summary: S;
}

/**
 * The federation half of a task (TaskDefinition.federation): what a node computes from its own scored run before
 * anything leaves (bounded by its egress level), and how the hub pools the nodes' summaries. Both halves are pure and
 * JSON in, JSON out, so the summary can be signed by the node and re-verified later.
 */
export interface TaskFederation<S = unknown> {
  summarize(input: { score: TaskScore; definition: BenchmarkDefinition; egress: EgressLevel; seed: number }): S;
  pool(input: { definition: BenchmarkDefinition; nodes: readonly NodeSummaryFrom<S>[] }): FederatedScore;
}

/** Random-effects pooling of one metric over nodes, as a PooledMetric plus its heterogeneity; null when not possible. */
export function metaAnalysed(estimates: readonly NodeEstimate[]): { metric: PooledMetric; heterogeneity: Heterogeneity } | null {
  if (estimates.length < 2) return null;
  let r: RandomEffectsResult;
  try {
    r = derSimonianLaird(estimates);
  } catch {
    return null;
  }
  return {
    metric: { value: r.estimate, ci: r.ci, method: r.method, pooling: 'meta-analysis' },
    heterogeneity: { tau2: r.tau2, i2: r.i2, q: r.q, df: r.df, pQ: r.pQ, predictionInterval: r.predictionInterval, method: r.method },
  };
}

/** Variance from a symmetric-enough 95% interval, (hi − lo)/(2·z)², for a node that sent a CI but no variance. */
export function varianceFromCi(ci: [number, number] | null, z = 1.959963984540054): number | null {
  if (!ci) return null;
  const v = ((ci[1] - ci[0]) / (2 * z)) ** 2;
  return Number.isFinite(v) && v > 0 ? v : null;
}

/**
 * A DerSimonian–Laird meta-analysis of one metric from each node's own estimate, its variance read off the node's 95%
 * CI (`ciName` names that CI in the method text); null unless every node sent both, or with fewer than 2 nodes.
 */
export function metaAnalysedFromCis(nodes: readonly { node: string; summary: { metrics: Record<string, MetricValue> } }[], name: string, ciName: string): { metric: PooledMetric; heterogeneity: Heterogeneity } | null {
  const estimates = nodes.flatMap((x) => {
    const m = x.summary.metrics[name];
    const variance = varianceFromCi(m?.ci ?? null);
    return typeof m?.value === 'number' && variance !== null ? [{ node: x.node, estimate: m.value, variance }] : [];
  });
  const r = estimates.length === nodes.length ? metaAnalysed(estimates) : null;
  if (!r) return null;
  const from = `per-node variance from the node's 95% ${ciName}; `;
  return { metric: { ...r.metric, method: `${from}${r.metric.method}` }, heterogeneity: { ...r.heterogeneity, method: `${from}${r.heterogeneity.method}` } };
}

/** The per-node table of every metric (values as each node computed them on its own cases). */
export function perNodeTables(definition: BenchmarkDefinition, nodes: readonly { node: string; n: number; metrics: Record<string, MetricValue> }[], names: readonly string[]): Record<string, SubgroupResult[]> {
  const minSize = definition.subgroups?.minSize ?? DEFAULT_NODE_MIN_SIZE;
  const out: Record<string, SubgroupResult[]> = {};
  for (const name of names) {
    out[name] = perNodeTable(
      nodes.map((x) => ({ node: x.node, n: x.n, value: x.metrics[name]?.value ?? null, ci: x.metrics[name]?.ci ?? null, method: x.metrics[name]?.method ?? 'not reported by the node' })),
      minSize,
    );
  }
  return out;
}
