import { metricDirection } from '../../metrics/score-report';
import { SEGMENTATION_METRIC_NAMES } from '../../metrics/segmentation/segmentation-metrics';
import type { Curve, NamedEstimate } from '../../reports/evidence';
import { namedEstimate, type TaskReport, type TaskReportInput } from '../task-report';

const REFERENCE = 'Assay src/metrics/segmentation (METRICS.md §2); golden values from DeepMind surface-distance and MetricsReloaded';
const STATUSES = ['ok', 'ref_empty', 'pred_empty', 'both_empty'] as const;
const DISTRIBUTED = ['dice', 'nsd', 'hd95'] as const;

/** Median and IQR (type-7 quantiles) of the defined per-case values: a description beside the mean and its CI. */
function quartiles(values: readonly number[]): { q25: number; median: number; q75: number } | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number): number => {
    const h = (s.length - 1) * p;
    const lo = Math.floor(h);
    return (s[lo] as number) + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] as number) - (s[lo] as number));
  };
  return { q25: q(0.25), median: q(0.5), q75: q(0.75) };
}

/**
 * Segmentation: per-case distributions of Dice, NSD and HD95 (defined values as stored), the empty-case counts of
 * METRICS.md §2.5, lesion-wise aggregates, and the mean/median/IQR table.
 */
export function segmentationReport(input: TaskReportInput): TaskReport {
  const { metrics, details, perCase, definition } = input;
  const tolerance = typeof details['toleranceMm'] === 'number' ? details['toleranceMm'] : (definition.metrics.toleranceMm ?? 2);
  const bothEmpty = (details['bothEmpty'] as string | undefined) ?? definition.metrics.bothEmpty ?? 'exclude';
  const defined = (metric: string): number[] => perCase.map((r) => r[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const curves: Curve[] = DISTRIBUTED.map((metric) => ({ kind: 'distribution', metric, values: defined(metric) }));
  const counts = Object.fromEntries(STATUSES.map((s) => [s, perCase.filter((r) => r['status'] === s).length])) as Record<(typeof STATUSES)[number], number>;
  const summary = SEGMENTATION_METRIC_NAMES.map((metric) => {
    const q = quartiles(defined(metric));
    const m = metrics[metric];
    return [metric, m?.value ?? null, m?.ci?.[0] ?? null, m?.ci?.[1] ?? null, q?.median ?? null, q?.q25 ?? null, q?.q75 ?? null, defined(metric).length];
  });
  const lesionWise = details['lesionWise'] as { method: string; counts: { tp: number; fn: number; fp: number }; metrics: Record<string, { value: number | null; ci: [number, number] | null; method: string }> } | null | undefined;
  const extraEstimates: NamedEstimate[] = lesionWise ? Object.entries(lesionWise.metrics).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => namedEstimate(`lesion_${k}`, v, metricDirection(k))) : [];
  const tables: TaskReport['tables'] = [
    { title: 'Case status (empty-mask rule, METRICS.md §2.5)', columns: ['status', 'cases'], rows: STATUSES.map((s) => [s, counts[s]]), counts: true },
    { title: 'Per-case distributions: mean (95% CI), median, IQR', columns: ['metric', 'mean', 'ci_lower', 'ci_upper', 'median', 'q25', 'q75', 'n_defined'], rows: summary },
  ];
  if (lesionWise) tables.push({ title: 'Lesion-wise counts', columns: ['', 'lesions'], rows: [['matched (TP)', lesionWise.counts.tp], ['missed (FN)', lesionWise.counts.fn], ['spurious (FP)', lesionWise.counts.fp]], counts: true });
  const primary = definition.metrics.primary;
  const direction = metricDirection(primary);
  const resampled = perCase.filter((r) => r['resampled'] === 1).length;
  return {
    problemCategory: 'semantic segmentation (SemS) of lesions in 3-D images, binary mask per case',
    ciMethod: 'seeded percentile bootstrap over cases of each mean',
    emptyCaseRule: `one-empty cases: DSC = IoU = NSD = 0, distances = the reference grid's physical diagonal; both-empty cases ${bothEmpty === 'perfect' ? 'scored as perfect' : 'excluded'}`,
    aggregation: `mean over cases of the per-case value (NSD at τ = ${tolerance} mm)`,
    extraEstimates,
    curves,
    tables,
    calibration: null,
    sensitivity: [
      { choice: 'MASD (mean of the two directed means) instead of HD95', estimate: namedEstimate('masd', metrics['masd'], 'lower') },
      { choice: 'Hausdorff maximum instead of its 95th percentile', estimate: namedEstimate('hd', metrics['hd'], 'lower') },
    ],
    metricDefinitions: SEGMENTATION_METRIC_NAMES.map((metric) => ({ metric, definition: metrics[metric]?.method ?? 'not computed', reference: `${REFERENCE}: segmentation-report.ts aggregateSegmentation` })),
    caseValue: { metric: primary, direction, of: (r) => (typeof r[primary] === 'number' ? (r[primary] as number) : null) },
    caseFailure: (r) => (r['status'] === 'pred_empty' ? 'empty predicted mask over a reference lesion' : r['status'] === 'ref_empty' ? 'lesion predicted in a case without reference lesion' : null),
    excluded: bothEmpty === 'exclude' && counts.both_empty > 0 ? { count: counts.both_empty, reason: 'both masks empty: excluded from the means by the empty-case rule (counted, never dropped silently)' } : null,
    perCaseColumns: ['caseId', 'status', ...SEGMENTATION_METRIC_NAMES, 'resampled'],
    notes: resampled > 0 ? [`${resampled} prediction(s) on another grid were resampled to the reference grid (nearest neighbour)`] : [],
  };
}
