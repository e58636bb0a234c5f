import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { compareBinary } from '../../metrics/comparison';
import { wilcoxonSignedRank } from '../../metrics/hypothesis-tests';
import { parseBinaryPredictionsJsonl, parseTruthCsv } from '../../metrics/predictions';
import { METRIC_CODE_VERSION, metricDirection, type MetricValue, scoreBinary } from '../../metrics/score-report';
import { benchmarkBootstrap, column, jsonlField, missingCases, readCsvTruth, subgroupTables, tabularInterfaceProblems } from '../scoring-support';
import type { TaskFederation } from '../federation';
import type { ScoreInput, TaskDefinition, TaskScore } from '../task-definition';
import { binaryOfflineScorer } from './binary-offline';
import { binaryRankingProblem } from './ranking';
import { binaryReport } from './binary-classification.report';
import { BINARY_FEDERATION } from './binary-federation';

/** Truth of one split: labels (1 = positive) in the truth file's case order. */
export interface BinaryTruth {
  caseIds: string[];
  labels: number[];
}

const FIELD = 'probability';
export const BINARY_METRICS = ['auroc', 'auprc', 'brier', 'sensitivity', 'specificity', 'balanced_accuracy', 'ppv', 'npv'] as const;

function thresholdOf(definition: BenchmarkDefinition): { threshold?: number } {
  return definition.metrics.threshold === undefined ? {} : { threshold: definition.metrics.threshold };
}

/** Binary classification over tabular features: a probability per case, AUROC (DeLong) and threshold metrics. */
export const BINARY_CLASSIFICATION = {
  task: 'binary-classification',
  metrics: BINARY_METRICS,

  validateDefinition(dto) {
    const problems = tabularInterfaceProblems(dto, FIELD);
    if (dto.metrics.threshold === undefined) problems.push({ field: 'metrics.threshold', problem: 'binary classification needs a locked operating threshold' });
    return problems;
  },

  async readTruth(source) {
    const rows = await readCsvTruth(source, parseTruthCsv);
    return { caseIds: rows.map((t) => t.caseId), labels: rows.map((t) => t.label) };
  },
  caseIds: (truth) => truth.caseIds,

  parsePredictions: async ({ text }) => jsonlField(parseBinaryPredictionsJsonl(text), FIELD, (p) => p.probability),

  score({ truth, predictions, definition, metadata }: ScoreInput<BinaryTruth>): TaskScore | { missing: string[] } {
    const missing = missingCases(truth.caseIds, predictions);
    if (missing.length > 0) return { missing };
    const { caseIds, labels } = truth;
    const scores = caseIds.map((id) => Number(predictions.get(id)?.[FIELD]));
    const bootstrap = benchmarkBootstrap(definition);
    const report = scoreBinary({ labels, scores, bootstrap, ...thresholdOf(definition) });
    const subset = (idx: readonly number[]): Record<string, MetricValue> =>
      scoreBinary({ labels: idx.map((i) => labels[i] as number), scores: idx.map((i) => scores[i] as number), bootstrap, ...thresholdOf(definition) }).metrics;
    return {
      n: report.n,
      metrics: report.metrics,
      details: { nPositive: report.nPositive, nNegative: report.nNegative, threshold: report.threshold, confusion: report.confusion, ...(report.calibration ? { calibration: report.calibration } : {}) },
      metricCodeVersion: METRIC_CODE_VERSION,
      subgroups: subgroupTables(definition, caseIds, metadata, subset),
      perCase: caseIds.map((caseId, i) => ({ caseId, label: labels[i] as number, [FIELD]: scores[i] as number })),
    };
  },

  rankingProblem({ definition, entries, alternatives }) {
    const first = entries[0] ?? [];
    return binaryRankingProblem({
      metric: definition.metrics.primary,
      direction: metricDirection(definition.metrics.primary),
      ...thresholdOf(definition),
      labels: column(first, 'label'),
      predictions: entries.map((e) => column(e, FIELD)),
      ...(alternatives ? { alternatives: alternatives.map((list) => list.map((e) => column(e, FIELD))) } : {}),
    });
  },

  compare({ definition, a, b }) {
    const labels = column(a, 'label');
    const pa = column(a, FIELD);
    const pb = column(b, FIELD);
    const comparison: Record<string, unknown> = compareBinary({ labels, scoresA: pa, scoresB: pb, threshold: definition.metrics.threshold ?? 0.5 });
    const se = (p: number[]): number[] => p.map((v, i) => (v - (labels[i] as number)) ** 2);
    const w = wilcoxonSignedRank(se(pa), se(pb));
    comparison['per_case_squared_error'] = { statistic: w.statistic, p: w.pValue, method: `${w.method}; per-case squared error (p − y)², A vs B` };
    return comparison;
  },

  // (p − y)², the per-case Brier term: the parameter-free Ladder's loss.
  perCaseLoss: (r) => (Number(r[FIELD]) - Number(r['label'])) ** 2,

  report: binaryReport,

  federation: BINARY_FEDERATION as TaskFederation,
  offline: binaryOfflineScorer,

  tabular: {
    cohortFormat: 'tabular-binary',
    header: 'case_id,label',
    cells: (o) => [o.kind === 'binary' ? o.label : o.event],
    stratifiedBy: (d) => d.label?.column ?? 'label',
  },
} satisfies TaskDefinition<BinaryTruth>;

