import { CPM_INTERPOLATED_METHOD, CPM_NEAREST_METHOD, CPM_STAIRCASE_METHOD, FROC_METHOD, type FrocPoint } from '../../metrics/detection/froc';
import { LUNA16_HIT_METHOD } from '../../metrics/detection/matching';
import type { Curve } from '../../reports/evidence';
import { namedEstimate, type TaskReport, type TaskReportInput } from '../task-report';

const REFERENCE = 'Assay src/metrics/detection (METRICS.md §3); golden values from the LUNA16 evaluation script and MONAI';

/** Detection: FROC (upper envelope points as stored), CPM under three conventions, sensitivity and FP/scan at the locked threshold. */
export function detectionReport(input: TaskReportInput): TaskReport {
  const { metrics, details, perCase, definition } = input;
  const froc = (details['froc'] as FrocPoint[] | undefined) ?? [];
  const threshold = typeof details['threshold'] === 'number' ? details['threshold'] : (definition.metrics.threshold ?? 0.5);
  const points = froc.filter((p) => p.sensitivity !== null).map((p) => ({ fpPerCase: p.fpPerScan, sensitivity: p.sensitivity as number }));
  const curves: Curve[] = points.length > 0 ? [{ kind: 'froc', points }] : [];
  const cpm = details['cpmSensitivities'] as { fpRates: number[]; interpolated: number[] | null; nearest: number[] | null; monaiStaircase: number[] | null } | undefined;
  const sum = (k: string): number => perCase.reduce((s, r) => s + (typeof r[k] === 'number' ? (r[k] as number) : 0), 0);
  const tables: TaskReport['tables'] = [
    { title: `Lesions and candidates at the locked threshold ${threshold}`, columns: ['', 'n'], rows: [['scans', perCase.length], ['reference lesions', sum('nLesions')], ['detected (TP)', sum('tp')], ['missed (FN)', sum('fn')], ['false positives', sum('fp')]], counts: true },
  ];
  if (cpm) {
    tables.push({
      title: 'Sensitivity at the CPM operating points',
      columns: ['FP/scan', 'interpolated (primary)', 'nearest (DIAG)', 'MONAI staircase'],
      rows: cpm.fpRates.map((rate, i) => [rate, cpm.interpolated?.[i] ?? null, cpm.nearest?.[i] ?? null, cpm.monaiStaircase?.[i] ?? null]),
    });
  }
  const alternatives = details['alternatives'] as { cpm_monai_staircase?: { value: number | null; ci: [number, number] | null; method: string } } | undefined;
  return {
    problemCategory: 'object detection (ObD) of lesions in 3-D images: candidate points with a score',
    ciMethod: 'scan-level percentile bootstrap (each scan with all its lesions and candidates), LUNA16 convention',
    hitCriterion: (details['hitCriterion'] as string | undefined) ?? LUNA16_HIT_METHOD,
    aggregation: 'FROC over all scans including lesion-free ones; CPM on the FROC upper envelope',
    extraEstimates: [],
    curves,
    tables,
    calibration: null,
    sensitivity: [
      { choice: "CPM, DIAG's nearest-point convention", estimate: namedEstimate('cpm_nearest', metrics['cpm_nearest'], 'higher') },
      ...(alternatives?.cpm_monai_staircase ? [{ choice: 'CPM, MONAI staircase convention', estimate: namedEstimate('cpm_monai_staircase', alternatives.cpm_monai_staircase, 'higher') }] : []),
    ],
    metricDefinitions: [
      { metric: 'cpm', definition: CPM_INTERPOLATED_METHOD, reference: `${REFERENCE}: froc.ts cpmInterpolatedFromCounts` },
      { metric: 'cpm_nearest', definition: CPM_NEAREST_METHOD, reference: `${REFERENCE}: froc.ts cpmNearestFromCounts (DIAG LUNA16 getCPM)` },
      { metric: 'cpm_monai_staircase', definition: CPM_STAIRCASE_METHOD, reference: `${REFERENCE}: froc.ts cpmMonaiStaircase (MONAI compute_froc_score)` },
      { metric: 'froc', definition: FROC_METHOD, reference: `${REFERENCE}: froc.ts frocPoints, frocEnvelope` },
      { metric: 'sensitivity', definition: `detected reference lesions / all reference lesions at the locked threshold ${threshold}`, reference: `${REFERENCE}: detection-report.ts countAtThreshold` },
      { metric: 'fp_per_scan', definition: `false-positive candidates / scans at the locked threshold ${threshold}`, reference: `${REFERENCE}: detection-report.ts countAtThreshold` },
      { metric: 'hit_criterion', definition: LUNA16_HIT_METHOD, reference: `${REFERENCE}: matching.ts matchScanLuna16` },
    ],
    caseValue: { metric: 'missed lesions + false positives at the locked threshold', direction: 'lower', of: (r) => (typeof r['fn'] === 'number' && typeof r['fp'] === 'number' ? (r['fn'] as number) + (r['fp'] as number) : null) },
    caseFailure: (r) => (typeof r['nLesions'] === 'number' && r['nLesions'] > 0 && r['tp'] === 0 ? 'no reference lesion of the scan detected at the locked threshold' : null),
    excluded: null,
    perCaseColumns: ['caseId', 'nLesions', 'tp', 'fn', 'fp', 'extraHits'],
    notes: ['FROC without a bootstrap band: the stored result keeps the CPM CI, not a pointwise band', 'sensitivity by lesion size not shown: per-case results store lesion scores, not lesion sizes (the truth is not read by the report)'],
  };
}
