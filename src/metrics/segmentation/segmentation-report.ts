// The segmentation score report: per-case rows (storable), and aggregates with seeded percentile-bootstrap CIs over
// cases that can be recomputed from stored rows alone (leaderboards and subgroups only keep the rows).
import { type BootstrapOptions, bootstrapCis } from '../bootstrap';
import { MetricInputError } from '../metrics.errors';
import { type MetricValue } from '../score-report';
import { type Volume } from '../../volumes/volume';
import { type LesionWiseCase, LESION_MATCHING_METHOD, lesionWiseCase } from './lesion-wise';
import {
  type BothEmptyPolicy,
  PERCENTILE_METHOD,
  SEGMENTATION_METRIC_NAMES,
  SURFACE_MODEL,
  type SegmentationMetricName,
  type SegmentationStatus,
  emptyCaseValues,
  scoreCase,
} from './segmentation-metrics';

export const SEGMENTATION_CODE_VERSION = 'assay-metrics/segmentation-1.0.0';

export type StatusCounts = Record<SegmentationStatus, number>;

/** One stored row per case (and class). Values of both-empty cases are null: the policy is applied when aggregating. */
export interface SegmentationCaseRow {
  readonly caseId: string;
  readonly status: SegmentationStatus;
  readonly dice: number | null;
  readonly iou: number | null;
  readonly hd: number | null;
  readonly hd95: number | null;
  readonly masd: number | null;
  readonly assd: number | null;
  readonly nsd: number | null;
  /** Per-case lesion-wise means (null when the case has no lesion on either side), with the lesion counts. */
  readonly lesionWise?: { readonly tp: number; readonly fn: number; readonly fp: number; readonly dice: number | null; readonly nsd: number | null; readonly hd95: number | null };
}

export interface SegmentationMetricValue extends MetricValue {
  /** Cases the mean is over, and the status counts next to it (METRICS.md §2.5 rule 4). */
  readonly nIncluded: number;
  readonly statusCounts: StatusCounts;
}

export interface AggregateOptions {
  readonly toleranceMm: number;
  readonly bootstrap: { readonly replicates: number; readonly seed: number };
  readonly bothEmpty?: BothEmptyPolicy;
}

export interface LesionWiseAggregate {
  readonly method: string;
  readonly counts: { readonly tp: number; readonly fn: number; readonly fp: number };
  readonly metrics: { readonly dice: SegmentationMetricValue; readonly nsd: SegmentationMetricValue; readonly hd95: SegmentationMetricValue };
}

export interface SegmentationAggregate {
  readonly n: number;
  readonly counts: StatusCounts;
  readonly metrics: Record<SegmentationMetricName, SegmentationMetricValue>;
  readonly lesionWise: LesionWiseAggregate | null;
}

export interface SegmentationReport extends SegmentationAggregate {
  readonly task: 'segmentation';
  readonly metricCodeVersion: string;
  readonly toleranceMm: number;
  readonly cases: SegmentationCaseRow[];
  /** Per-case lesion lists (not needed for the aggregate, kept for review). */
  readonly lesionCases: { readonly caseId: string; readonly lesionWise: LesionWiseCase }[];
}

export interface ScoreSegmentationInput {
  readonly cases: readonly { readonly caseId: string; readonly reference: Volume; readonly prediction: Volume }[];
  readonly toleranceMm: number;
  readonly bootstrap: { readonly replicates: number; readonly seed: number };
  readonly bothEmpty?: BothEmptyPolicy;
  /** Foreground label (one-vs-rest of a label map); default any non-zero voxel. */
  readonly label?: number;
  /** Lesion-wise scores beside the case-wise ones (default true). */
  readonly lesionWise?: boolean;
}

const DEFINITIONS: Record<SegmentationMetricName, string> = {
  dice: 'DSC = 2|P∩R|/(|P|+|R|) on voxel counts',
  iou: 'IoU = |P∩R|/|P∪R| on voxel counts',
  hd: `Hausdorff distance (mm), max of both directed maxima; ${SURFACE_MODEL}`,
  hd95: `HD95 (mm), ${PERCENTILE_METHOD}; ${SURFACE_MODEL}`,
  masd: `MASD (mm) = ½(mean_w d(R→P) + mean_w d(P→R)), area-weighted; ${SURFACE_MODEL}`,
  assd: `ASSD (mm) pooled = (Σ w d(R→P) + Σ w d(P→R)) / (Σ w_R + Σ w_P), area-weighted; ${SURFACE_MODEL}`,
  nsd: `NSD at τ (surface Dice, d ≤ τ), area-weighted; ${SURFACE_MODEL}`,
};

function emptyRule(bothEmpty: BothEmptyPolicy): string {
  const both = bothEmpty === 'perfect' ? 'both-empty cases scored as perfect (DSC = IoU = NSD = 1, distances 0)' : 'both-empty cases excluded';
  return `one-empty cases: DSC = IoU = NSD = 0, distances = physical diagonal of the reference grid; ${both}`;
}

export function countStatuses(rows: readonly { readonly status: SegmentationStatus }[]): StatusCounts {
  const counts: StatusCounts = { ok: 0, ref_empty: 0, pred_empty: 0, both_empty: 0 };
  for (const r of rows) counts[r.status]++;
  return counts;
}

/** Per-case values under the both-empty policy: NaN where a case is excluded. */
function valuesUnderPolicy(rows: readonly SegmentationCaseRow[], name: SegmentationMetricName, bothEmpty: BothEmptyPolicy): Float64Array {
  return Float64Array.from(rows, (r) => {
    if (r.status === 'both_empty') return emptyCaseValues('both_empty', 0, bothEmpty)[name] ?? NaN;
    const v = r[name];
    if (v === null || !Number.isFinite(v)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `case ${r.caseId}: ${name} is ${v} with status ${r.status}`);
    return v;
  });
}

/** Weighted mean of the defined values; NaN when no weight falls on a defined value. */
function weightedMean(x: Float64Array, w: Float64Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    if (Number.isNaN(v)) continue;
    s += (w[i] as number) * v;
    n += w[i] as number;
  }
  return n === 0 ? NaN : s / n;
}

function meansWithCis(
  columns: Float64Array[],
  n: number,
  bootstrap: AggregateOptions['bootstrap'],
  describe: (j: number, ciMethod: string) => string,
  statusCounts: StatusCounts,
): SegmentationMetricValue[] {
  const options: BootstrapOptions & { unit: string } = { n, replicates: bootstrap.replicates, seed: bootstrap.seed, unit: 'case' };
  const cis = bootstrapCis(
    columns.length,
    (w, out) => {
      for (let j = 0; j < columns.length; j++) out[j] = weightedMean(columns[j] as Float64Array, w);
    },
    options,
  );
  return cis.map((ci, j) => {
    const col = columns[j] as Float64Array;
    const nIncluded = col.filter((v) => !Number.isNaN(v)).length;
    const value = Number.isNaN(ci.value) ? null : ci.value;
    return { value, ci: value === null ? null : ci.ci, method: describe(j, ci.method), nIncluded, statusCounts };
  });
}

/**
 * Aggregates stored per-case rows: mean over cases of each metric with a seeded percentile-bootstrap 95% CI over
 * cases (src/metrics/bootstrap.ts), status counts beside every aggregate, lesion-wise means when the rows have them.
 */
export function aggregateSegmentation(rows: readonly SegmentationCaseRow[], options: AggregateOptions): SegmentationAggregate {
  if (rows.length === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases to aggregate');
  const bothEmpty = options.bothEmpty ?? 'exclude';
  const counts = countStatuses(rows);
  const columns = SEGMENTATION_METRIC_NAMES.map((name) => valuesUnderPolicy(rows, name, bothEmpty));
  const values = meansWithCis(
    columns,
    rows.length,
    options.bootstrap,
    (j, ci) => {
      const name = SEGMENTATION_METRIC_NAMES[j] as SegmentationMetricName;
      const tau = name === 'nsd' ? `, τ = ${options.toleranceMm} mm` : '';
      return `mean over cases of ${DEFINITIONS[name]}${tau}; ${emptyRule(bothEmpty)}; CI: ${ci}`;
    },
    counts,
  );
  const metrics = Object.fromEntries(SEGMENTATION_METRIC_NAMES.map((name, j) => [name, values[j]])) as Record<SegmentationMetricName, SegmentationMetricValue>;

  let lesionWise: LesionWiseAggregate | null = null;
  if (rows.every((r) => r.lesionWise !== undefined)) {
    const lw = rows.map((r) => r.lesionWise as NonNullable<SegmentationCaseRow['lesionWise']>);
    const perfect = bothEmpty === 'perfect';
    // A case with no lesion on either side is both-empty at lesion level: excluded, or perfect under that policy.
    const col = (k: 'dice' | 'nsd' | 'hd95'): Float64Array => Float64Array.from(lw, (l) => (l[k] === null ? (perfect ? (k === 'hd95' ? 0 : 1) : NaN) : l[k]));
    const names = ['dice', 'nsd', 'hd95'] as const;
    const lv = meansWithCis(
      names.map(col),
      rows.length,
      options.bootstrap,
      (j, ci) => `mean over cases of the per-case lesion-wise mean ${names[j]} (over matched, FN and FP lesions); ${LESION_MATCHING_METHOD}; CI: ${ci}`,
      counts,
    );
    lesionWise = {
      method: LESION_MATCHING_METHOD,
      counts: { tp: lw.reduce((a, l) => a + l.tp, 0), fn: lw.reduce((a, l) => a + l.fn, 0), fp: lw.reduce((a, l) => a + l.fp, 0) },
      metrics: { dice: lv[0] as SegmentationMetricValue, nsd: lv[1] as SegmentationMetricValue, hd95: lv[2] as SegmentationMetricValue },
    };
  }
  return { n: rows.length, counts, metrics, lesionWise };
}

/** One case's stored row (and its lesion list). Both-empty values stay null whatever the policy, so a stored row can
 * be re-aggregated under either. */
export function segmentationCaseRow(
  caseId: string,
  reference: Volume,
  prediction: Volume,
  options: { readonly toleranceMm: number; readonly label?: number; readonly lesionWise?: boolean },
): { row: SegmentationCaseRow; lesionWise: LesionWiseCase | null } {
  const label = options.label !== undefined ? { label: options.label } : {};
  const s = scoreCase(reference, prediction, { toleranceMm: options.toleranceMm, bothEmpty: 'exclude', ...label });
  const lw = (options.lesionWise ?? true) ? lesionWiseCase(reference, prediction, { toleranceMm: options.toleranceMm, ...label }) : null;
  const row: SegmentationCaseRow = {
    caseId,
    status: s.status,
    dice: s.dice,
    iou: s.iou,
    hd: s.hd,
    hd95: s.hd95,
    masd: s.masd,
    assd: s.assd,
    nsd: s.nsd,
    ...(lw ? { lesionWise: { tp: lw.tp, fn: lw.fn, fp: lw.fp, dice: lw.meanDice, nsd: lw.meanNsd, hd95: lw.meanHd95 } } : {}),
  };
  return { row, lesionWise: lw };
}

/** Scores every case, then aggregates the rows exactly as aggregateSegmentation would from storage. */
export function scoreSegmentation(input: ScoreSegmentationInput): SegmentationReport {
  if (input.cases.length === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases to score');
  const bothEmpty = input.bothEmpty ?? 'exclude';
  const rows: SegmentationCaseRow[] = [];
  const lesionCases: SegmentationReport['lesionCases'] = [];
  for (const c of input.cases) {
    const { row, lesionWise } = segmentationCaseRow(c.caseId, c.reference, c.prediction, {
      toleranceMm: input.toleranceMm,
      lesionWise: input.lesionWise ?? true,
      ...(input.label !== undefined ? { label: input.label } : {}),
    });
    rows.push(row);
    if (lesionWise) lesionCases.push({ caseId: c.caseId, lesionWise });
  }
  const aggregate = aggregateSegmentation(rows, { toleranceMm: input.toleranceMm, bootstrap: input.bootstrap, bothEmpty });
  return { task: 'segmentation', metricCodeVersion: SEGMENTATION_CODE_VERSION, toleranceMm: input.toleranceMm, ...aggregate, cases: rows, lesionCases };
}
