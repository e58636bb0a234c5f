import { HARRELL_METHOD, unoMethod } from '../../metrics/survival';
import type { NamedEstimate } from '../../reports/evidence';
import { namedEstimate, type TaskReport, type TaskReportInput } from '../task-report';

const REFERENCE = 'Assay src/metrics/survival.ts (METRICS.md §5); golden values from scikit-survival and R survival';

/**
 * Survival: Harrell's and Uno's C with bootstrap CIs, event and pair counts. A risk score is not a survival
 * probability, so calibration at a horizon is not estimable from what the algorithm returns.
 */
export function survivalReport(input: TaskReportInput): TaskReport {
  const { metrics, details, perCase } = input;
  const tau = typeof details['tau'] === 'number' ? details['tau'] : null;
  const pairs = details['pairs'] as { comparable: number; concordant: number; discordant: number; tiedRisk: number } | undefined;
  const nEvents = typeof details['nEvents'] === 'number' ? details['nEvents'] : perCase.filter((r) => r['event'] === 1).length;
  const nCensored = typeof details['nCensored'] === 'number' ? details['nCensored'] : perCase.length - nEvents;
  const harrell = namedEstimate('c_index_harrell', metrics['c_index_harrell'], 'higher');
  const uno = namedEstimate('c_index_uno', metrics['c_index_uno'], 'higher');
  const extraEstimates: NamedEstimate[] = [harrell, uno];
  const tables: TaskReport['tables'] = [
    { title: 'Events and censoring', columns: ['', 'n'], rows: [['events', nEvents], ['censored', nCensored], ['total', perCase.length]], counts: true },
  ];
  if (pairs) {
    tables.push({ title: "Harrell's C: comparable pairs", columns: ['', 'pairs'], rows: [['comparable', pairs.comparable], ['concordant', pairs.concordant], ['discordant', pairs.discordant], ['tied risk', pairs.tiedRisk]], counts: true });
  }
  return {
    problemCategory: 'survival (time-to-event) prediction: one risk score per patient, higher = shorter survival',
    ciMethod: 'percentile bootstrap over patients (seeded), both C-indices',
    aggregation: 'concordance over all comparable pairs of the split',
    extraEstimates,
    curves: [],
    tables,
    calibration: null,
    sensitivity: [{ choice: `Uno's IPCW C (τ = ${tau ?? 'largest event time'}) instead of Harrell's C`, estimate: uno }],
    metricDefinitions: [
      { metric: 'c_index_harrell', definition: HARRELL_METHOD, reference: `${REFERENCE}: harrellCWithCi (scikit-survival concordance_index_censored)` },
      { metric: 'c_index_uno', definition: unoMethod(tau, 'declared by the benchmark or the largest event time'), reference: `${REFERENCE}: unoCWithCi (scikit-survival concordance_index_ipcw)` },
    ],
    caseValue: null,
    caseFailure: () => null,
    excluded: null,
    perCaseColumns: ['caseId', 'time', 'event', 'risk'],
    notes: ['calibration at a horizon not estimable: the algorithm returns a risk score, not a survival probability', 'no per-case metric: concordance is defined over pairs, so no worst-case list'],
  };
}
