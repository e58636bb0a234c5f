import { forEachReplicate } from '../../metrics/bootstrap';
import { pooledRatio, type RatioPart, replicateTagOf } from '../../metrics/pooling';
import type { MetricValue } from '../../metrics/score-report';
import { SURVIVAL_METRIC_CODE_VERSION } from '../../metrics/survival-report';
import { harrellC, survivalOrder, weightedHarrellSums } from '../../metrics/survival';
import { type EgressLevel, type FederatedScore, type Heterogeneity, isCount, metaAnalysedFromCis, perNodeTables, type PooledMetric, ratioPartProblem, type TaskFederation } from '../federation';
import { benchmarkBootstrap, column } from '../scoring-support';

/** One node's summary of a survival run (aggregates only: times and events are outcomes and never leave a node). */
export interface SurvivalNodeSummary {
  readonly egress: EgressLevel;
  readonly n: number;
  readonly metrics: Record<string, MetricValue>;
  /** Harrell's pair sums within this node (Σ concordant + ½ tied, Σ comparable) and their bootstrap replicates. */
  readonly harrell: RatioPart | null;
}

export const STRATIFIED_HARRELL_METHOD =
  "Harrell's C stratified by node: comparable pairs within each node only, summed over nodes (as R survival::concordance with strata(node)); it is not the C of the union of the cases, which would also compare patients across nodes (their times and events never leave the nodes)";

const METRICS = ['c_index_harrell', 'c_index_uno'];

/**
 * Survival over nodes. A patient's time and event are outcomes: at no egress level do they leave a node, so the C of
 * the union of the cases cannot be formed at the hub. What pools exactly is Harrell's C stratified by node (each node
 * sends its pair sums, and B replicate sums of a bootstrap over its own patients for the CI); Harrell's and Uno's C
 * of the union are estimated by a DerSimonian–Laird meta-analysis of the nodes' estimates, labelled as such.
 */
export const SURVIVAL_FEDERATION: TaskFederation<SurvivalNodeSummary> = {
  summarize({ score, definition, egress, seed, seedKey }) {
    const input = { time: column(score.perCase, 'time'), event: column(score.perCase, 'event'), risk: column(score.perCase, 'risk') };
    let harrell: RatioPart | null = null;
    try {
      const c = harrellC(input);
      const order = survivalOrder(input);
      const numerators: number[] = [];
      const denominators: number[] = [];
      const bootstrap = { seed, ...(seedKey ? { key: seedKey } : {}) };
      forEachReplicate({ n: input.time.length, replicates: benchmarkBootstrap(definition).replicates, ...bootstrap }, (w) => {
        const s = weightedHarrellSums(input, order, w);
        numerators.push(s.num);
        denominators.push(s.den);
      });
      harrell = { numerator: c.concordant + 0.5 * c.tiedRisk, denominator: c.comparable, replicates: { numerators, denominators, seedTag: replicateTagOf(bootstrap) } };
    } catch {
      harrell = null; // no comparable pair at this node: it adds nothing to the stratified C
    }
    return { egress, n: score.n, metrics: Object.fromEntries(METRICS.filter((m) => score.metrics[m]).map((m) => [m, score.metrics[m] as MetricValue])), harrell };
  },

  check({ summary }) {
    const s = summary as Partial<SurvivalNodeSummary>;
    if (!isCount(s.n)) return `n ${JSON.stringify(s.n)} is not a patient count`;
    if (s.harrell === null || s.harrell === undefined) return null;
    // Comparable pairs are pairs of the node's patients: at most n(n − 1)/2; concordant + ½ tied is at most that.
    const problem = ratioPartProblem('harrell', s.harrell, { maxDenominator: (s.n * (s.n - 1)) / 2, maxNumerator: 'denominator' });
    if (problem) return problem;
    if (!isCount(s.harrell.denominator) || !Number.isInteger(2 * s.harrell.numerator)) return `harrell: ${s.harrell.numerator} / ${s.harrell.denominator} are not pair counts (concordant + ½ tied over comparable)`;
    return null;
  },

  pool({ definition, nodes }): FederatedScore {
    const ordered = [...nodes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const metrics: Record<string, PooledMetric> = {};
    const heterogeneity: Record<string, Heterogeneity> = {};
    for (const name of METRICS) {
      const meta = metaAnalysedFromCis(ordered, name, 'bootstrap CI');
      if (meta) {
        heterogeneity[name] = meta.heterogeneity;
        metrics[name] = meta.metric;
      } else if (ordered.some((x) => x.summary.metrics[name])) {
        metrics[name] = { value: null, ci: null, method: `${name} not pooled: a node's estimate or its CI is missing, or fewer than 2 nodes`, pooling: 'not-pooled' };
      }
    }
    const parts = ordered.map((x) => x.summary.harrell).filter((h): h is RatioPart => h !== null);
    if (parts.length > 0) {
      const s = pooledRatio(parts);
      metrics['c_index_harrell_stratified'] = { value: s.value, ci: s.ci, method: `${STRATIFIED_HARRELL_METHOD}; ${s.method}`, pooling: 'exact' };
    }
    return {
      n: ordered.reduce((a, x) => a + x.summary.n, 0),
      nodes: ordered.length,
      metrics,
      perNode: perNodeTables(definition, ordered.map((x) => ({ node: x.node, n: x.summary.n, metrics: x.summary.metrics })), METRICS),
      heterogeneity,
      egress: Object.fromEntries(ordered.map((x) => [x.node, x.summary.egress])),
      metricCodeVersion: SURVIVAL_METRIC_CODE_VERSION,
    };
  },
};
