import type { BenchmarkDefinition, BenchmarkDefinitionDto } from '../../benchmarks/benchmark-definition';
import type { FieldProblem } from '../../common/domain-error';
import { type DetectionTruthCase, parseDetectionPredictionsJsonl, parseDetectionTruthCsv } from '../../metrics/detection/detection-io';
import { aggregateDetection, DETECTION_METRIC_CODE_VERSION, DETECTION_METRIC_NAMES, detectionCaseRows } from '../../metrics/detection/detection-report';
import type { ScanScores } from '../../metrics/detection/froc';
import { LUNA16_HIT_METHOD } from '../../metrics/detection/matching';
import { forEachReplicate, percentileInterval } from '../../metrics/bootstrap';
import { metricDirection, type MetricValue } from '../../metrics/score-report';
import { benchmarkBootstrap, missingCases, readCsvTruth, subgroupTables } from '../scoring-support';
import type { CaseResult, TaskDefinition, TruthSource } from '../task-definition';
import { volumeInterfaceProblems } from '../volume-interface';
import { detectionOfflineScorer } from './detection-offline';
import type { RankingProblem } from '../rank-robustness';
import { detectionReport } from './detection.report';
import { DETECTION_FEDERATION } from './detection-federation';
import type { TaskFederation } from '../federation';

/** Truth of one split: each scan's reference lesions (world LPS mm), in the truth file's order. */
export interface DetectionTruth {
  caseIds: string[];
  scans: DetectionTruthCase[];
}

const FIELD = 'detections';
export const DETECTION_TRUTH_FILE = 'lesions.csv';

function thresholdOf(definition: BenchmarkDefinition): number {
  return definition.metrics.threshold ?? 0.5;
}

/** A stored per-scan row back to the scores the aggregates need. */
function scanScoresOf(r: CaseResult): ScanScores {
  return { lesionScores: (r['lesionScores'] ?? []) as (number | null)[], fpScores: (r['fpScores'] ?? []) as number[] };
}

function aggregate(definition: BenchmarkDefinition, rows: readonly (ScanScores & { caseId?: string })[]) {
  return aggregateDetection(rows, { threshold: thresholdOf(definition), bootstrap: benchmarkBootstrap(definition), hitCriterion: LUNA16_HIT_METHOD });
}

/**
 * Lesion detection in 3-D images: the algorithm returns candidate points in world LPS mm with a score. LUNA16 hit
 * criterion, FROC on the upper envelope, CPM interpolated (and DIAG's nearest-point variant), sensitivity and FP/scan
 * at the locked threshold, scan-level bootstrap CIs (METRICS.md §3). CPM is not a mean of per-case values, so the
 * rank bootstrap resamples scans and recomputes it from the stored per-scan scores.
 */
export const DETECTION = {
  task: 'detection',
  metrics: DETECTION_METRIC_NAMES,

  validateDefinition(dto: BenchmarkDefinitionDto): FieldProblem[] {
    const problems = volumeInterfaceProblems(dto, { kind: 'detections', name: FIELD });
    if (dto.metrics.threshold === undefined) problems.push({ field: 'metrics.threshold', problem: 'detection needs a locked operating threshold (sensitivity and FP/scan are reported there)' });
    return problems;
  },

  async readTruth(source: TruthSource): Promise<DetectionTruth> {
    const scans = await readCsvTruth(source, parseDetectionTruthCsv, DETECTION_TRUTH_FILE);
    return { caseIds: scans.map((s) => s.caseId), scans };
  },
  caseIds: (truth: DetectionTruth) => truth.caseIds,

  async parsePredictions({ text }) {
    const parsed = parseDetectionPredictionsJsonl(text);
    if (!parsed.ok) {
      const first = parsed.error.issues[0];
      return { ok: false, message: first ? `line ${first.line}: ${first.message}` : parsed.error.message };
    }
    return { ok: true, value: parsed.value.map((p) => ({ caseId: p.caseId, prediction: { [FIELD]: p.detections } })) };
  },

  score({ truth, predictions, definition, metadata }) {
    const missing = missingCases(truth.caseIds, predictions);
    if (missing.length > 0) return { missing };
    const scans = truth.scans.map((t) => ({ caseId: t.caseId, lesions: t.lesions, detections: (predictions.get(t.caseId)?.[FIELD] ?? []) as { x: number; y: number; z: number; score: number }[] }));
    const rows = detectionCaseRows(scans, thresholdOf(definition));
    const full = aggregate(definition, rows);
    return {
      n: full.n,
      metrics: full.metrics,
      details: {
        nLesions: full.nLesions,
        threshold: full.threshold,
        hitCriterion: full.hitCriterion,
        bootstrap: full.bootstrap,
        alternatives: full.alternatives,
        cpmSensitivities: full.cpmSensitivities,
        froc: full.froc,
        frocMethod: full.frocMethod,
      },
      metricCodeVersion: DETECTION_METRIC_CODE_VERSION,
      subgroups: subgroupTables(definition, truth.caseIds, metadata, (idx) => aggregate(definition, idx.map((i) => rows[i] as ScanScores)).metrics as Record<string, MetricValue>),
      perCase: rows.map((r) => ({ caseId: r.caseId, nLesions: r.nLesions, tp: r.tp, fn: r.fn, fp: r.fp, extraHits: r.extraHits, lesionIds: r.lesionIds, lesionScores: r.lesionScores, fpScores: r.fpScores })),
    };
  },

  rankingProblem({ definition, entries, alternatives }): RankingProblem {
    // Rows hold each entry's index (a constant per row), so that the statistic can find that entry's per-scan
    // scores: CPM of a replicate is computed from the resampled scans' lesion and FP scores, not from one number a scan.
    const metric = definition.metrics.primary;
    const pools: ScanScores[][] = [];
    const rowOf = (entry: readonly CaseResult[]): number[] => {
      pools.push(entry.map(scanScoresOf));
      return entry.map(() => pools.length - 1);
    };
    const rows = entries.map(rowOf);
    const alt = alternatives?.map((list) => list.map(rowOf));
    return {
      metric,
      direction: metricDirection(metric),
      n: rows[0]?.length ?? 0,
      scheme: 'bootstrap over scans (plain, each scan with all its lesions and candidates, as the CPM CIs)',
      rows,
      ...(alt ? { alternatives: alt } : {}),
      statistic(row, idx) {
        const pool = pools[row[0] as number] as ScanScores[];
        const picked = idx.map((i) => pool[i] as ScanScores);
        // Only the point value is used here: one bootstrap replicate (the least aggregateDetection takes), its CI unread.
        const value = aggregateDetection(picked, { threshold: thresholdOf(definition), bootstrap: { replicates: 1, seed: 0 } }).metrics[metric as (typeof DETECTION_METRIC_NAMES)[number]]?.value;
        return typeof value === 'number' ? value : Number.NaN;
      },
    };
  },

  compare({ definition, a, b }) {
    // Paired by scan: A − B of each metric, with a scan-level paired bootstrap CI (the same resampled scans for both).
    const ra = a.map(scanScoresOf);
    const rb = b.map(scanScoresOf);
    const threshold = thresholdOf(definition);
    const names = [definition.metrics.primary, ...definition.metrics.secondary] as (typeof DETECTION_METRIC_NAMES)[number][];
    const valueOf = (rows: readonly ScanScores[], m: (typeof DETECTION_METRIC_NAMES)[number]): number => {
      const v = aggregateDetection(rows, { threshold, bootstrap: { replicates: 1, seed: 0 } }).metrics[m]?.value;
      return typeof v === 'number' ? v : Number.NaN;
    };
    const spec = { ...benchmarkBootstrap(definition), replicates: Math.min(1000, benchmarkBootstrap(definition).replicates) };
    const reps = names.map(() => new Float64Array(spec.replicates));
    forEachReplicate({ n: ra.length, replicates: spec.replicates, seed: spec.seed }, (w, r) => {
      const pa: ScanScores[] = [];
      const pb: ScanScores[] = [];
      w.forEach((k, i) => {
        for (let j = 0; j < k; j++) {
          pa.push(ra[i] as ScanScores);
          pb.push(rb[i] as ScanScores);
        }
      });
      names.forEach((m, j) => ((reps[j] as Float64Array)[r] = valueOf(pa, m) - valueOf(pb, m)));
    });
    const out: Record<string, unknown> = {};
    names.forEach((m, j) => {
      const va = valueOf(ra, m);
      const vb = valueOf(rb, m);
      out[m] = {
        a: Number.isFinite(va) ? va : null,
        b: Number.isFinite(vb) ? vb : null,
        difference: Number.isFinite(va - vb) ? va - vb : null,
        ci: percentileInterval(reps[j] as Float64Array),
        method: `A − B on the same scans; 95% CI: paired scan-level percentile bootstrap, B=${spec.replicates}, seed=${spec.seed}`,
      };
    });
    return out;
  },

  report: detectionReport,

  offline: detectionOfflineScorer,

  federation: DETECTION_FEDERATION as TaskFederation,
} satisfies TaskDefinition<DetectionTruth>;
