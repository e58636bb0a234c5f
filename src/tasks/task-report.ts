import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import type { Curve, NamedEstimate } from '../reports/evidence';
import type { MetricValue } from '../metrics/score-report';
import type { CaseResult } from './task-definition';

/**
 * What a task adds to the validation report (src/reports/evidence-builder.ts), computed from what the scorer stored
 * (aggregate metrics, details and per-case rows), never from the truth. Deterministic: same input, same output.
 */
export interface TaskReportInput {
  definition: BenchmarkDefinition;
  metrics: Readonly<Record<string, MetricValue>>;
  details: Readonly<Record<string, unknown>>;
  /** In the truth's order, as stored. */
  perCase: readonly CaseResult[];
}

export interface ReportTable {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
  /** The table shows counts of cases (a held-out vendor form leaves such tables out: counts identify labels). */
  counts?: boolean;
}

export interface TaskReport {
  /** Metrics Reloaded problem category, e.g. 'image-level classification (ImLC), binary'. */
  problemCategory: string;
  /** How the CIs of this task's metrics are computed (one line). */
  ciMethod: string;
  hitCriterion?: string;
  emptyCaseRule?: string;
  /** How per-case values are aggregated into the reported metric. */
  aggregation: string;
  /** Estimates beyond the benchmark's declared metrics (e.g. sensitivity with its Wilson CI at the locked threshold). */
  extraEstimates: NamedEstimate[];
  curves: Curve[];
  tables: ReportTable[];
  /** null when the task outputs no probabilities. */
  calibration: { estimates: NamedEstimate[]; curves: Curve[] } | null;
  /** Sensitivity of the result to implementation choices (e.g. CPM conventions). */
  sensitivity: { choice: string; estimate: NamedEstimate }[];
  metricDefinitions: { metric: string; definition: string; reference: string }[];
  /** The per-case value failure analysis sorts by (worst first by `direction`); null when the task has none per case. */
  caseValue: { metric: string; direction: 'higher' | 'lower'; of(row: CaseResult): number | null } | null;
  /** Why a case counts as failed by the algorithm (e.g. an empty predicted mask over a lesion); null = not failed. */
  caseFailure(row: CaseResult): string | null;
  /** Cases scored but left out of the aggregates by a pre-specified rule (e.g. both-empty cases); null = none. */
  excluded: { count: number; reason: string } | null;
  /** Columns of the per-case annex, in order (caseId first). */
  perCaseColumns: string[];
  /** Notes on what the task cannot show from stored results (e.g. no lesion sizes stored). */
  notes: string[];
}

/** A MetricValue as a named estimate of the report. */
export function namedEstimate(metric: string, m: MetricValue | undefined, direction?: 'higher' | 'lower'): NamedEstimate {
  return {
    metric,
    value: m?.value ?? null,
    ci: m?.ci ? [m.ci[0], m.ci[1]] : null,
    method: m?.method ?? 'not computed',
    ...(m?.counts ? { counts: { numerator: m.counts.numerator, denominator: m.counts.denominator } } : {}),
    ...(direction ? { direction } : {}),
  };
}

/** A per-case cell as the annex shows it: numbers and strings as stored, lists joined, anything else null. */
export function cell(value: unknown): string | number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v) => (v === null ? 'null' : String(v))).join(' ');
  return null;
}
