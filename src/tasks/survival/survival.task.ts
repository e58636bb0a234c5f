import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { compareSurvival } from '../../metrics/comparison';
import type { MetricValue } from '../../metrics/score-report';
import { metricDirection } from '../../metrics/score-report';
import { unoTauProblem } from '../../metrics/survival';
import { parseRiskPredictionsJsonl, parseSurvivalTruthCsv } from '../../metrics/survival-predictions';
import { scoreSurvival, SURVIVAL_METRIC_CODE_VERSION } from '../../metrics/survival-report';
import { benchmarkBootstrap, column, jsonlField, missingCases, readCsvTruth, subgroupTables, tabularInterfaceProblems } from '../scoring-support';
import type { ScoreInput, TaskDefinition, TaskScore } from '../task-definition';
import type { TaskFederation } from '../federation';
import { SURVIVAL_FEDERATION } from './survival-federation';
import { survivalRankingProblem } from './ranking';
import { survivalOfflineScorer } from './survival-offline';
import { survivalReport } from './survival.report';

/** Truth of one split: follow-up time and event (1 = death, 0 = censored), in the truth file's case order. */
export interface SurvivalTruth {
  caseIds: string[];
  time: number[];
  event: number[];
}

const FIELD = 'risk';

function tauOf(definition: BenchmarkDefinition): { tau?: number } {
  return definition.metrics.tau === undefined ? {} : { tau: definition.metrics.tau };
}

function reportsUno(definition: { metrics: { primary: string; secondary: string[] } }): boolean {
  return [definition.metrics.primary, ...definition.metrics.secondary].includes('c_index_uno');
}

/** Survival over tabular features: a risk per patient (higher = worse), Harrell's and Uno's C with bootstrap CIs. */
export const SURVIVAL = {
  task: 'survival',
  metrics: ['c_index_harrell', 'c_index_uno'],

  validateDefinition(dto) {
    const problems = tabularInterfaceProblems(dto, FIELD);
    // Uno's C depends on τ materially (METRICS.md §5.2): declared per benchmark, never an implicit default.
    if (reportsUno(dto) && dto.metrics.tau === undefined) {
      problems.push({ field: 'metrics.tau', problem: "c_index_uno needs a declared truncation time τ (cohort time unit) with censoring survival Ĝ(τ) > 0, e.g. the 80th percentile of follow-up" });
    }
    return problems;
  },

  /**
   * METRICS.md §5.2: a declared τ must leave the censoring survival Ĝ > 0 at every event time before it, and some death
   * before it, on every split the benchmark scores; checked once when the benchmark is created, instead of failing runs.
   */
  validateAgainstTruth(definition, truth, split) {
    const tau = definition.metrics.tau;
    if (tau === undefined || !reportsUno(definition)) return [];
    const problem = unoTauProblem({ time: truth.time, event: truth.event, risk: truth.time.map(() => 0) }, tau);
    return problem ? [{ field: 'metrics.tau', problem: `${split} split: ${problem}` }] : [];
  },

  async readTruth(source) {
    const rows = await readCsvTruth(source, parseSurvivalTruthCsv);
    return { caseIds: rows.map((t) => t.caseId), time: rows.map((t) => t.time), event: rows.map((t) => t.event) };
  },
  caseIds: (truth) => truth.caseIds,

  parsePredictions: async ({ text }) => jsonlField(parseRiskPredictionsJsonl(text), FIELD, (p) => p.risk),

  score({ truth, predictions, definition, metadata }: ScoreInput<SurvivalTruth>): TaskScore | { missing: string[] } {
    const missing = missingCases(truth.caseIds, predictions);
    if (missing.length > 0) return { missing };
    const { caseIds, time, event } = truth;
    const risk = caseIds.map((id) => Number(predictions.get(id)?.[FIELD]));
    const bootstrap = benchmarkBootstrap(definition);
    const report = scoreSurvival({ time, event, risk, bootstrap, ...tauOf(definition) });
    const subset = (idx: readonly number[]): Record<string, MetricValue> =>
      scoreSurvival({ time: idx.map((i) => time[i] as number), event: idx.map((i) => event[i] as number), risk: idx.map((i) => risk[i] as number), tau: report.tau, bootstrap }).metrics;
    return {
      n: report.n,
      metrics: report.metrics,
      details: { nEvents: report.nEvents, nCensored: report.nCensored, tau: report.tau, pairs: report.pairs },
      metricCodeVersion: SURVIVAL_METRIC_CODE_VERSION,
      subgroups: subgroupTables(definition, caseIds, metadata, subset),
      perCase: caseIds.map((caseId, i) => ({ caseId, time: time[i] as number, event: event[i] as number, [FIELD]: risk[i] as number })),
    };
  },

  rankingProblem({ definition, entries, alternatives }) {
    const first = entries[0] ?? [];
    return survivalRankingProblem({
      metric: definition.metrics.primary,
      direction: metricDirection(definition.metrics.primary),
      ...tauOf(definition),
      times: column(first, 'time'),
      events: column(first, 'event'),
      predictions: entries.map((e) => column(e, FIELD)),
      ...(alternatives ? { alternatives: alternatives.map((list) => list.map((e) => column(e, FIELD))) } : {}),
    });
  },

  compare({ definition, a, b }) {
    return compareSurvival({ time: column(a, 'time'), event: column(a, 'event'), riskA: column(a, FIELD), riskB: column(b, FIELD), ...tauOf(definition) });
  },

  report: survivalReport,

  federation: SURVIVAL_FEDERATION as TaskFederation,

  offline: survivalOfflineScorer,

  tabular: {
    cohortFormat: 'tabular-survival',
    header: 'case_id,time,event',
    cells: (o) => (o.kind === 'survival' ? [o.time, o.event] : [o.label]),
    stratifiedBy: (d) => d.event?.column ?? 'event',
  },
} satisfies TaskDefinition<SurvivalTruth>;
