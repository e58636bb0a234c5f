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
  /**
   * `seed` labels the node's bootstrap; `seedKey` (32 secret bytes, always given on a node) is what its draws come
   * from, so the hub cannot regenerate the weights behind the replicate sums that leave (NodeBootstrap).
   */
  summarize(input: { score: TaskScore; definition: BenchmarkDefinition; egress: EgressLevel; seed: number; seedKey?: Uint8Array }): S;
  pool(input: { definition: BenchmarkDefinition; nodes: readonly NodeSummaryFrom<S>[] }): FederatedScore;
  /**
   * Hub side, before pooling: what in one node's summary does not hold together (a count that is not a count, a score
   * list whose length or whose count above the locked threshold differs from the node's own counts), or null. The
   * summary is signed by an authenticated node, so a mismatch is a fault of that node (a bug, or a forgery), never the
   * vendor's; pooling it would put a number on the leaderboard that no set of cases gives.
   */
  check(input: { definition: BenchmarkDefinition; summary: unknown }): string | null;
}

/** A non-negative integer (a count of cases, lesions or pairs). */
export const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** How many of `scores` are ≥ t (the locked-threshold rule: positive iff score ≥ threshold). */
export function countAtOrAbove(scores: readonly number[], t: number): number {
  let k = 0;
  for (const s of scores) if (s >= t) k++;
  return k;
}

/** A score list as it must arrive: an array of finite numbers, sorted ascending (as the node's egress filter leaves it). */
export function scoreListProblem(name: string, list: unknown): string | null {
  if (!Array.isArray(list)) return `${name} is not a list`;
  for (let i = 0; i < list.length; i++) {
    const s: unknown = list[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) return `${name}[${i}] is not a finite number`;
    if (i > 0 && s < (list[i - 1] as number)) return `${name} is not sorted ascending (at ${i})`;
  }
  return null;
}

/**
 * A ratio part (Σ numerator / Σ denominator, with replicate sums) as it must arrive: finite sums, the denominator a
 * count where it counts cases, both within their bounds, replicate lists of one length.
 */
export function ratioPartProblem(name: string, part: unknown, bounds: { denominator?: number; maxDenominator?: number; integer?: boolean; maxNumerator?: 'denominator' }): string | null {
  if (typeof part !== 'object' || part === null) return `${name} is missing`;
  const { numerator, denominator, replicates } = part as { numerator?: unknown; denominator?: unknown; replicates?: unknown };
  if (typeof numerator !== 'number' || !Number.isFinite(numerator) || typeof denominator !== 'number' || !Number.isFinite(denominator) || denominator < 0) return `${name}: numerator or denominator is not a finite number`;
  if (bounds.integer && (!isCount(numerator) || !isCount(denominator))) return `${name}: ${numerator} / ${denominator} are not counts`;
  if (bounds.denominator !== undefined && denominator !== bounds.denominator) return `${name}: denominator ${denominator}, expected ${bounds.denominator}`;
  if (bounds.maxDenominator !== undefined && denominator > bounds.maxDenominator) return `${name}: denominator ${denominator} exceeds ${bounds.maxDenominator}`;
  if (bounds.maxNumerator === 'denominator' && (numerator < 0 || numerator > denominator)) return `${name}: numerator ${numerator} is outside [0, ${denominator}]`;
  if (replicates !== undefined) {
    const r = replicates as { numerators?: unknown; denominators?: unknown };
    if (!Array.isArray(r.numerators) || !Array.isArray(r.denominators) || r.numerators.length !== r.denominators.length) return `${name}: replicate sums are not two lists of one length`;
  }
  return null;
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

export const HETEROGENEITY_WITHHELD = 'between-node heterogeneity withheld: a per-site row is suppressed (small-n rule), and Q, τ², I² and the prediction interval beside the pooled estimate would let its value be worked out';

/**
 * The hub's last step before a pooled score is stored or shown: for a metric whose per-node table suppresses a row,
 * its heterogeneity is withheld. With two sites both rows are suppressed when one is small, yet the random-effects
 * estimate, its CI, Q and τ² together give both sites' variances exactly and their estimates up to a sign; with more
 * sites they pin down the suppressed ones from the visible rows. The pooled value and CI stay (two equations in the
 * suppressed sites' four unknowns), with the method saying what was withheld.
 */
export function guardSuppressedSites(score: FederatedScore): FederatedScore {
  const heterogeneity: Record<string, Heterogeneity> = {};
  const metrics: Record<string, PooledMetric> = { ...score.metrics };
  for (const [metric, h] of Object.entries(score.heterogeneity)) {
    if (!(score.perNode[metric] ?? []).some((r) => r.suppressed)) {
      heterogeneity[metric] = h;
      continue;
    }
    const m = metrics[metric];
    if (m) metrics[metric] = { ...m, method: `${m.method}; ${HETEROGENEITY_WITHHELD}` };
  }
  return { ...score, metrics, heterogeneity };
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
