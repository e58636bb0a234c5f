import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { aurocWithDelong, WILSON_METHOD } from '../../metrics/binary-classification';
import { nodeRatioPart, pooledProportion, pooledRatio, type RatioPart, type ScoreDistribution, scoreDistribution } from '../../metrics/pooling';
import { type ConfusionMatrix, DEFAULT_THRESHOLD, METRIC_CODE_VERSION, type MetricValue, scoreBinary } from '../../metrics/score-report';
import { countAtOrAbove, egressAllows, type EgressLevel, type FederatedScore, type Heterogeneity, isCount, metaAnalysed, perNodeTables, type PooledMetric, ratioPartProblem, scoreListProblem, type TaskFederation, varianceFromCi } from '../federation';
import { benchmarkBootstrap, column } from '../scoring-support';

/** What one node returns for a binary-classification run, by its egress level (JSON; signed by the node). */
export interface BinaryNodeSummary {
  readonly egress: EgressLevel;
  readonly n: number;
  /** The node's own metrics on its own cases (aggregates: every level). */
  readonly metrics: Record<string, MetricValue>;
  readonly confusion: ConfusionMatrix;
  /** DeLong variance of the node's AUROC (for the meta-analysis); null when not estimable. */
  readonly aurocVariance: number | null;
  /** Σ (p − y)² over the node's cases, n, and the node's bootstrap replicate sums; null when scores are not probabilities. */
  readonly brier: RatioPart | null;
  /** 'score-distributions' and above: the node's scores by class, sorted, without case identifiers. */
  readonly distribution?: ScoreDistribution;
}

const thresholdOf = (definition: BenchmarkDefinition): { threshold?: number } => (definition.metrics.threshold === undefined ? {} : { threshold: definition.metrics.threshold });

const PROPORTIONS: Record<string, { k: (c: ConfusionMatrix) => number; n: (c: ConfusionMatrix) => number; what: string }> = {
  sensitivity: { k: (c) => c.tp, n: (c) => c.tp + c.fn, what: 'TP / (TP + FN)' },
  specificity: { k: (c) => c.tn, n: (c) => c.tn + c.fp, what: 'TN / (TN + FP)' },
  ppv: { k: (c) => c.tp, n: (c) => c.tp + c.fp, what: 'TP / (TP + FP)' },
  npv: { k: (c) => c.tn, n: (c) => c.tn + c.fn, what: 'TN / (TN + FN)' },
};

const METRICS = ['auroc', 'auprc', 'brier', 'sensitivity', 'specificity', 'balanced_accuracy', 'ppv', 'npv'];

/**
 * Binary classification over nodes. With every node at 'score-distributions' or above the hub scores the union of
 * the nodes' class-conditional scores with the single-site code (scoreBinary): every point value and the DeLong CI
 * equal the single-site ones on the same cases, and the bootstrap CIs are the single-site bootstrap (stratified by
 * class) of those cases. With a node at 'aggregates' only: the four proportions pool exactly from the confusion
 * counts (Wilson CI of the pooled counts), Brier exactly from sums (CI by the within-node bootstrap), balanced
 * accuracy exactly from the pooled sensitivity and specificity (no CI), and AUROC and AUPRC by a DerSimonian–Laird
 * meta-analysis of the nodes' estimates, labelled as such.
 */
export const BINARY_FEDERATION: TaskFederation<BinaryNodeSummary> = {
  summarize({ score, definition, egress, seed, seedKey }) {
    const labels = column(score.perCase, 'label');
    const scores = column(score.perCase, 'probability');
    const details = score.details as { confusion: ConfusionMatrix };
    const delong = (() => {
      try {
        return aurocWithDelong({ labels, scores }).variance;
      } catch {
        return null;
      }
    })();
    const probabilities = scores.every((s) => s >= 0 && s <= 1);
    const bootstrap = benchmarkBootstrap(definition);
    return {
      egress,
      n: score.n,
      metrics: score.metrics,
      confusion: details.confusion,
      aurocVariance: delong,
      brier: probabilities ? nodeRatioPart(labels.map((y, i) => ((scores[i] as number) - y) ** 2), { replicates: bootstrap.replicates, seed, ...(seedKey ? { key: seedKey } : {}) }) : null,
      ...(egressAllows(egress, 'score-distributions') ? { distribution: scoreDistribution(labels, scores) } : {}),
    };
  },

  check({ definition, summary }) {
    const s = summary as Partial<BinaryNodeSummary>;
    if (!isCount(s.n)) return `n ${JSON.stringify(s.n)} is not a case count`;
    const c = (s.confusion ?? {}) as Partial<ConfusionMatrix>;
    if (![c.tp, c.fn, c.tn, c.fp].every(isCount)) return 'the confusion counts are not counts';
    const { tp, fn, tn, fp } = c as ConfusionMatrix;
    if (tp + fn + tn + fp !== s.n) return `the confusion counts add up to ${tp + fn + tn + fp}, not the node's ${s.n} cases`;
    if (s.brier) {
      const problem = ratioPartProblem('brier', s.brier, { denominator: s.n });
      if (problem) return problem;
      if (s.brier.numerator < 0 || s.brier.numerator > s.n) return `brier: Σ (p − y)² ${s.brier.numerator} is outside [0, ${s.n}]`;
    }
    const d = s.distribution;
    if (d === undefined) return null;
    const problem = scoreListProblem('positives', d.positives) ?? scoreListProblem('negatives', d.negatives);
    if (problem) return problem;
    if (d.positives.length !== tp + fn || d.negatives.length !== tn + fp) return `the score lists hold ${d.positives.length} positives and ${d.negatives.length} negatives, the confusion counts ${tp + fn} and ${tn + fp}`;
    const t = definition.metrics.threshold ?? DEFAULT_THRESHOLD;
    const tpAt = countAtOrAbove(d.positives, t);
    const fpAt = countAtOrAbove(d.negatives, t);
    if (tpAt !== tp || fpAt !== fp) return `at the locked threshold ${t} the score lists give TP ${tpAt} and FP ${fpAt}, the confusion counts TP ${tp} and FP ${fp}`;
    return null;
  },

  pool({ definition, nodes }): FederatedScore {
    const ordered = [...nodes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const n = ordered.reduce((acc, x) => acc + x.summary.n, 0);
    const egress = Object.fromEntries(ordered.map((x) => [x.node, x.summary.egress]));
    const heterogeneity: Record<string, Heterogeneity> = {};
    const meta: Record<string, PooledMetric> = {};
    for (const name of ['auroc', 'auprc']) {
      const estimates = ordered.flatMap((x) => {
        const m = x.summary.metrics[name];
        const variance = name === 'auroc' ? x.summary.aurocVariance : varianceFromCi(m?.ci ?? null);
        return m?.value !== null && m?.value !== undefined && variance !== null ? [{ node: x.node, estimate: m.value, variance }] : [];
      });
      const r = estimates.length === ordered.length ? metaAnalysed(estimates) : null;
      if (r) {
        heterogeneity[name] = r.heterogeneity;
        meta[name] = { ...r.metric, method: `${name === 'auprc' ? 'per-node variance from the node\'s 95% bootstrap CI; ' : ''}${r.metric.method}` };
      }
    }
    const perNode = perNodeTables(definition, ordered.map((x) => ({ node: x.node, n: x.summary.n, metrics: x.summary.metrics })), METRICS);
    const base = { n, nodes: ordered.length, perNode, heterogeneity, egress, metricCodeVersion: METRIC_CODE_VERSION };

    const distributions = ordered.map((x) => x.summary.distribution);
    if (distributions.every((d): d is ScoreDistribution => d !== undefined)) {
      const labels = distributions.flatMap((d) => [...d.positives.map(() => 1), ...d.negatives.map(() => 0)]);
      const scores = distributions.flatMap((d) => [...d.positives, ...d.negatives]);
      const report = scoreBinary({ labels, scores, bootstrap: benchmarkBootstrap(definition), ...thresholdOf(definition) });
      const note = "computed at the hub on the union of the nodes' class-conditional score lists (no case identifiers): equal to the single-site computation on the same cases";
      const metrics = Object.fromEntries(Object.entries(report.metrics).map(([k, v]) => [k, { ...v, method: `${v.method}; ${note}`, pooling: 'exact' as const }]));
      return { ...base, metrics };
    }

    const metrics: Record<string, PooledMetric> = {};
    for (const [name, p] of Object.entries(PROPORTIONS)) {
      const pooled = pooledProportion(ordered.map((x) => ({ k: p.k(x.summary.confusion), n: p.n(x.summary.confusion) })));
      metrics[name] =
        pooled.value === null
          ? { value: null, ci: null, method: `${p.what} pooled from the nodes' confusion counts; not estimable: denominator is 0`, counts: { numerator: pooled.k, denominator: pooled.n }, pooling: 'exact' }
          : { value: pooled.value, ci: pooled.ci, method: `${p.what} pooled exactly from the nodes' confusion counts, ${WILSON_METHOD}`, counts: { numerator: pooled.k, denominator: pooled.n }, pooling: 'exact' };
    }
    const sens = metrics['sensitivity']?.value;
    const spec = metrics['specificity']?.value;
    metrics['balanced_accuracy'] =
      typeof sens === 'number' && typeof spec === 'number'
        ? { value: (sens + spec) / 2, ci: null, method: '(sensitivity + specificity) / 2 pooled exactly from the confusion counts; no CI when a node lets aggregates only leave', pooling: 'exact' }
        : { value: null, ci: null, method: 'balanced accuracy not estimable: a class is absent over all nodes', pooling: 'exact' };
    const brierParts = ordered.map((x) => x.summary.brier);
    if (brierParts.every((b): b is RatioPart => b !== null)) {
      const b = pooledRatio(brierParts);
      metrics['brier'] = { value: b.value, ci: b.ci, method: `mean (p − y)², ${b.method}`, pooling: 'exact' };
    } else metrics['brier'] = { value: null, ci: null, method: 'Brier not pooled: a node\'s scores are not probabilities in [0, 1]', pooling: 'not-pooled' };
    for (const name of ['auroc', 'auprc']) {
      metrics[name] = meta[name] ?? { value: null, ci: null, method: `${name} not pooled: a node's estimate or its variance is missing, or fewer than 2 nodes (a node lets aggregates only leave, so no exact pooling)`, pooling: 'not-pooled' };
    }
    return { ...base, metrics };
  },
};
