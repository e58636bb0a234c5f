// The detection report (issue 9): LUNA16 matching per scan, FROC, CPM (interpolated and nearest-point), sensitivity
// and FP/scan at the locked threshold, each with a scan-level bootstrap CI. Everything aggregate is recomputed from
// the stored per-scan rows alone (aggregateDetection), so leaderboards and subgroups need nothing else.
import { type BootstrapSpec, DEFAULT_BOOTSTRAP } from '../binary-classification';
import { PRNG_NAME, forEachReplicate } from '../bootstrap';
import { MetricInputError } from '../metrics.errors';
import { type MetricValue } from '../score-report';
import {
  CPM_FP_RATES,
  CPM_INTERPOLATED_METHOD,
  CPM_NEAREST_METHOD,
  CPM_STAIRCASE_METHOD,
  FROC_METHOD,
  type FrocPoint,
  type ScanScores,
  buildScorePool,
  countBuffers,
  cpmInterpolatedFromCounts,
  cpmMonaiStaircase,
  cpmNearestFromCounts,
  cpmScratch,
  cumulativeCounts,
  frocPoints,
} from './froc';
import { LUNA16_HIT_METHOD, type PointDetection, type ReferenceLesion, matchScanLuna16 } from './matching';

export const DETECTION_METRIC_CODE_VERSION = 'assay-metrics/detection-1.0.0';

export const DETECTION_METRIC_NAMES = ['cpm', 'cpm_nearest', 'sensitivity', 'fp_per_scan'] as const;
export type DetectionMetricName = (typeof DETECTION_METRIC_NAMES)[number];

export interface DetectionScanInput {
  readonly caseId: string;
  readonly lesions: readonly ReferenceLesion[];
  readonly detections: readonly PointDetection[];
}

/** One stored row per scan: the lesion best scores and FP scores are all any aggregate needs. */
export interface DetectionCaseRow extends ScanScores {
  readonly caseId: string;
  readonly lesionIds: readonly string[];
  readonly nLesions: number;
  /** At the locked threshold (score ≥ t). */
  readonly tp: number;
  readonly fn: number;
  readonly fp: number;
  /** Hits beyond the first on a lesion, ignored (LUNA16). */
  readonly extraHits: number;
}

export interface DetectionAggregateOptions {
  /** Locked operating threshold: a detection counts iff score ≥ threshold. */
  readonly threshold: number;
  readonly bootstrap?: BootstrapSpec;
  /** How the rows were matched (printed in the report); LUNA16 by default. */
  readonly hitCriterion?: string;
}

export interface DetectionAggregate {
  readonly task: 'detection';
  readonly metricCodeVersion: string;
  readonly n: number;
  readonly nLesions: number;
  readonly threshold: number;
  readonly hitCriterion: string;
  readonly bootstrap: { readonly B: number; readonly seed: number; readonly unit: 'scan'; readonly degenerate: number };
  readonly metrics: Record<DetectionMetricName, MetricValue>;
  /** Named alternatives that are not leaderboard metrics (no CI). */
  readonly alternatives: { readonly cpm_monai_staircase: MetricValue };
  /** Sensitivity at each CPM rate (1/8 … 8 FP/scan) for each convention; null without lesions. */
  readonly cpmSensitivities: {
    readonly fpRates: readonly number[];
    readonly interpolated: number[] | null;
    readonly nearest: number[] | null;
    readonly monaiStaircase: number[] | null;
  };
  /** One operating point per distinct score, thresholds descending; the origin (threshold +∞) is implicit. */
  readonly froc: FrocPoint[];
  readonly frocMethod: string;
}

export interface DetectionScoreReport extends DetectionAggregate {
  readonly cases: DetectionCaseRow[];
}

export interface ScoreDetectionInput {
  readonly scans: readonly DetectionScanInput[];
  readonly threshold: number;
  readonly bootstrap?: BootstrapSpec;
}

export function detectionBootstrapMethod(spec: BootstrapSpec): string {
  return (
    `scan-level bootstrap (scans resampled with replacement, each drawn scan with all its lesions and detections), ` +
    `B=${spec.replicates}, seed=${spec.seed}, PRNG ${PRNG_NAME}, LUNA16-style percentile 95% CI ` +
    `(sorted replicates v, [v[⌊0.025·B⌋], v[⌊0.975·B⌋]]); replicates without a lesion dropped and counted`
  );
}

/** LUNA16 compute_mean_ci: indices ⌊0.025·B⌋ and ⌊0.975·B⌋ of the sorted defined replicates; null below 2. */
export function luna16PercentileCi(values: Float64Array): [number, number] | null {
  const v = values.filter((x) => !Number.isNaN(x)).sort();
  const B = v.length;
  if (B < 2) return null;
  return [v[Math.floor(0.025 * B)] as number, v[Math.min(B - 1, Math.floor(0.975 * B))] as number];
}

export function countAtThreshold(row: ScanScores, threshold: number): { tp: number; fn: number; fp: number } {
  let tp = 0;
  for (const s of row.lesionScores) if (s !== null && s >= threshold) tp++;
  let fp = 0;
  for (const s of row.fpScores) if (s >= threshold) fp++;
  return { tp, fn: row.lesionScores.length - tp, fp };
}

function checkThreshold(threshold: number): void {
  if (!Number.isFinite(threshold)) throw new MetricInputError('METRIC_BAD_PARAMETER', `threshold must be a finite number, got ${String(threshold)}`);
}

/** Matches every scan (LUNA16 rule) into its stored row. */
export function detectionCaseRows(scans: readonly DetectionScanInput[], threshold: number): DetectionCaseRow[] {
  checkThreshold(threshold);
  return scans.map((scan) => {
    const ids = new Set<string>();
    for (const l of scan.lesions) {
      if (ids.has(l.lesionId)) throw new MetricInputError('METRIC_BAD_PARAMETER', `case "${scan.caseId}": duplicate lesion id "${l.lesionId}"`);
      ids.add(l.lesionId);
    }
    const m = matchScanLuna16(scan.lesions, scan.detections);
    return {
      caseId: scan.caseId,
      lesionIds: scan.lesions.map((l) => l.lesionId),
      nLesions: scan.lesions.length,
      ...countAtThreshold(m, threshold),
      extraHits: m.extraHits,
      lesionScores: m.lesionScores,
      fpScores: m.fpScores,
    };
  });
}

/**
 * Aggregates and CIs from per-scan rows only. One replicate = one multiplicity vector over the scans; the score pool is
 * sorted once and each replicate re-walks it with weights, so B = 2000 over 1000 scans stays well under a second.
 */
export function aggregateDetection(rows: readonly (ScanScores & { readonly caseId?: string })[], options: DetectionAggregateOptions): DetectionAggregate {
  checkThreshold(options.threshold);
  const spec = options.bootstrap ?? DEFAULT_BOOTSTRAP;
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.caseId === undefined) continue;
    if (seen.has(r.caseId)) throw new MetricInputError('METRIC_BAD_PARAMETER', `duplicate case "${r.caseId}" in detection rows`);
    seen.add(r.caseId);
  }
  const pool = buildScorePool(rows);
  const n = pool.nScans;
  const nLesions = pool.nLesions;
  const threshold = options.threshold;

  // Per-scan counts at the locked threshold, for the weighted sensitivity and FP/scan.
  const tpAt = new Float64Array(n);
  const fpAt = new Float64Array(n);
  rows.forEach((r, i) => {
    const c = countAtThreshold(r, threshold);
    tpAt[i] = c.tp;
    fpAt[i] = c.fp;
  });

  const counts = countBuffers(pool);
  const scratch = cpmScratch(pool);
  const sensInterp = new Float64Array(CPM_FP_RATES.length);
  const sensNearest = new Float64Array(CPM_FP_RATES.length);
  // Statistic of one weight vector: [cpm, cpm_nearest, sensitivity, fp_per_scan].
  const statistic = (w: Float64Array | null, out: Float64Array, s7i?: Float64Array, s7n?: Float64Array): void => {
    let lesions = 0;
    let tp = 0;
    let fp = 0;
    let scans = 0;
    for (let i = 0; i < n; i++) {
      const wi = w === null ? 1 : (w[i] as number);
      if (wi === 0) continue;
      scans += wi;
      lesions += wi * (pool.lesionsPerScan[i] as number);
      tp += wi * (tpAt[i] as number);
      fp += wi * (fpAt[i] as number);
    }
    cumulativeCounts(pool, w, counts);
    out[0] = cpmInterpolatedFromCounts(counts, scans, lesions, scratch, s7i);
    out[1] = cpmNearestFromCounts(counts, scans, lesions, scratch, s7n);
    out[2] = lesions > 0 ? tp / lesions : Number.NaN;
    out[3] = fp / scans;
  };

  const full = new Float64Array(4);
  statistic(null, full, sensInterp, sensNearest);
  const reps = [0, 1, 2, 3].map(() => new Float64Array(spec.replicates));
  const out = new Float64Array(4);
  let degenerate = 0;
  forEachReplicate({ n, replicates: spec.replicates, seed: spec.seed }, (w, b) => {
    statistic(w, out);
    if (Number.isNaN(out[2] as number)) degenerate++;
    for (let j = 0; j < 4; j++) (reps[j] as Float64Array)[b] = out[j] as number;
  });

  const ciNote = `CI: ${detectionBootstrapMethod(spec)}`;
  const noLesion = `not estimable: no reference lesion in ${n} scan${n === 1 ? '' : 's'}`;
  const metric = (j: number, method: string, counts?: MetricValue['counts']): MetricValue => {
    const v = full[j] as number;
    if (Number.isNaN(v)) return { value: null, ci: null, method: `${method}; ${noLesion}`, ...(counts ? { counts } : {}) };
    return { value: v, ci: luna16PercentileCi(reps[j] as Float64Array), method: `${method}; ${ciNote}`, ...(counts ? { counts } : {}) };
  };
  let tpTotal = 0;
  let fpTotal = 0;
  for (let i = 0; i < n; i++) {
    tpTotal += tpAt[i] as number;
    fpTotal += fpAt[i] as number;
  }
  const staircase = cpmMonaiStaircase(rows);
  const hasLesions = nLesions > 0;
  return {
    task: 'detection',
    metricCodeVersion: DETECTION_METRIC_CODE_VERSION,
    n,
    nLesions,
    threshold,
    hitCriterion: options.hitCriterion ?? LUNA16_HIT_METHOD,
    bootstrap: { B: spec.replicates, seed: spec.seed, unit: 'scan', degenerate },
    metrics: {
      cpm: metric(0, CPM_INTERPOLATED_METHOD),
      cpm_nearest: metric(1, CPM_NEAREST_METHOD),
      sensitivity: metric(2, `detected lesions / reference lesions at threshold ${threshold} (score ≥ t)`, { numerator: tpTotal, denominator: nLesions }),
      fp_per_scan: metric(3, `false positives / scans at threshold ${threshold} (score ≥ t; all scans)`, { numerator: fpTotal, denominator: n }),
    },
    alternatives: {
      cpm_monai_staircase:
        staircase.value === null
          ? { value: null, ci: null, method: `${CPM_STAIRCASE_METHOD}; ${noLesion}` }
          : { value: staircase.value, ci: null, method: `${CPM_STAIRCASE_METHOD}; no CI (alternative convention, for comparison only)` },
    },
    cpmSensitivities: {
      fpRates: CPM_FP_RATES,
      interpolated: hasLesions ? Array.from(sensInterp) : null,
      nearest: hasLesions ? Array.from(sensNearest) : null,
      monaiStaircase: staircase.sensitivities,
    },
    froc: frocPoints(pool),
    frocMethod: FROC_METHOD,
  };
}

export function scoreDetection(input: ScoreDetectionInput): DetectionScoreReport {
  const seen = new Set<string>();
  for (const s of input.scans) {
    if (seen.has(s.caseId)) throw new MetricInputError('METRIC_BAD_PARAMETER', `duplicate case "${s.caseId}"`);
    seen.add(s.caseId);
  }
  const cases = detectionCaseRows(input.scans, input.threshold);
  const aggregate = aggregateDetection(cases, {
    threshold: input.threshold,
    ...(input.bootstrap ? { bootstrap: input.bootstrap } : {}),
    hitCriterion: LUNA16_HIT_METHOD,
  });
  return { ...aggregate, cases };
}
