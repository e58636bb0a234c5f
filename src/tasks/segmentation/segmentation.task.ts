import type { BenchmarkDefinition, BenchmarkDefinitionDto } from '../../benchmarks/benchmark-definition';
import type { FieldProblem } from '../../common/domain-error';
import { wilcoxonSignedRank } from '../../metrics/hypothesis-tests';
import { metricDirection, type MetricValue } from '../../metrics/score-report';
import { type BothEmptyPolicy, SEGMENTATION_METRIC_NAMES } from '../../metrics/segmentation/segmentation-metrics';
import { aggregateSegmentation, SEGMENTATION_CODE_VERSION, type SegmentationCaseRow } from '../../metrics/segmentation/segmentation-report';
import { VolumeError } from '../../volumes/volume-error';
import type { Volume } from '../../volumes/volume';
import { benchmarkBootstrap, subgroupTables } from '../scoring-support';
import { type CaseResult, OutputTooLargeError, type TaskDefinition, type TruthSource } from '../task-definition';
import { volumeInterfaceProblems } from '../volume-interface';
import { meanRankingProblem } from '../mean-ranking';
import { meanFederation } from '../mean-federation';
import type { TaskFederation } from '../federation';
import { segmentationOfflineScorer } from './segmentation-offline';
import { segmentationReport } from './segmentation.report';
import { readMask } from './mask-pair';
import { scoreMaskPairs } from './mask-pair-pool';

/** Truth of one split: the reference masks, read one at a time when scoring (never all in memory). */
export interface SegmentationTruth {
  caseIds: string[];
  mask(caseId: string): Promise<Volume>;
  /** The stored (encoded) reference mask, for the scoring threads to decode (without it they are sent mask()'s). */
  maskFile?(caseId: string): Promise<{ name: string; bytes: Buffer }>;
}

/** Where a prediction's mask lives in the sandbox's /output, and the stored artifact's name. */
const MASK_PATH = (caseId: string): string => `masks/${caseId}.nii.gz`;
export const MASK_ARTIFACT = 'mask.nii.gz';
/** A predicted mask may not be larger than this (compressed); the sandbox's output cap bounds the whole batch. */
const MAX_MASK_BYTES = 256 * 1024 * 1024;

function toleranceOf(definition: BenchmarkDefinition): number {
  return definition.metrics.toleranceMm ?? 2;
}
function bothEmptyOf(definition: BenchmarkDefinition): BothEmptyPolicy {
  return definition.metrics.bothEmpty ?? 'exclude';
}

/** A stored per-case row as numbers (nulls for undefined values), plus what the report needs. */
function toCaseResult(row: SegmentationCaseRow, resampled: boolean): CaseResult {
  const lw = row.lesionWise;
  return {
    caseId: row.caseId,
    status: row.status,
    dice: row.dice,
    iou: row.iou,
    hd: row.hd,
    hd95: row.hd95,
    masd: row.masd,
    assd: row.assd,
    nsd: row.nsd,
    resampled: resampled ? 1 : 0,
    ...(lw ? { lesion_tp: lw.tp, lesion_fn: lw.fn, lesion_fp: lw.fp, lesion_dice: lw.dice, lesion_nsd: lw.nsd, lesion_hd95: lw.hd95 } : {}),
  };
}

function fromCaseResult(r: CaseResult): SegmentationCaseRow {
  const n = (k: string): number | null => (typeof r[k] === 'number' ? (r[k] as number) : null);
  const hasLesion = typeof r['lesion_tp'] === 'number';
  return {
    caseId: r.caseId,
    status: r['status'] as SegmentationCaseRow['status'],
    dice: n('dice'),
    iou: n('iou'),
    hd: n('hd'),
    hd95: n('hd95'),
    masd: n('masd'),
    assd: n('assd'),
    nsd: n('nsd'),
    ...(hasLesion ? { lesionWise: { tp: n('lesion_tp') as number, fn: n('lesion_fn') as number, fp: n('lesion_fp') as number, dice: n('lesion_dice'), nsd: n('lesion_nsd'), hd95: n('lesion_hd95') } } : {}),
  };
}

function aggregate(definition: BenchmarkDefinition, rows: readonly SegmentationCaseRow[]): Record<string, MetricValue> {
  return aggregateSegmentation(rows, { toleranceMm: toleranceOf(definition), bootstrap: benchmarkBootstrap(definition), bothEmpty: bothEmptyOf(definition) }).metrics;
}

/** The per-case value of a metric as ranked (both-empty cases under the benchmark's policy; NaN = excluded). */
export function perCaseValue(definition: BenchmarkDefinition, metric: string) {
  const perfect = bothEmptyOf(definition) === 'perfect';
  return (r: CaseResult): number => {
    const v = r[metric];
    if (typeof v === 'number') return v;
    if (r['status'] === 'both_empty' && perfect) return metricDirection(metric) === 'higher' ? 1 : 0;
    return Number.NaN;
  };
}

/**
 * Lesion segmentation of 3-D images: the algorithm writes `/output/masks/<caseId>.nii.gz` on the input's grid. Scored
 * per case with the DeepMind surfel model (METRICS.md §2): Dice, IoU, HD, HD95, MASD, ASSD, NSD at the benchmark's
 * tolerance, the empty-mask rule of §2.5, lesion-wise scores beside; a prediction on another grid is resampled to the
 * reference by nearest neighbour and the case row says so.
 */
export const SEGMENTATION: TaskDefinition<SegmentationTruth> = {
  task: 'segmentation',
  metrics: SEGMENTATION_METRIC_NAMES,

  validateDefinition(dto: BenchmarkDefinitionDto): FieldProblem[] {
    const problems = volumeInterfaceProblems(dto, { kind: 'mask', name: 'mask' });
    const t = dto.metrics.toleranceMm;
    if (t === undefined) problems.push({ field: 'metrics.toleranceMm', problem: 'segmentation needs the NSD tolerance τ in mm (set by clinicians per structure, METRICS.md §2.4)' });
    return problems;
  },

  async readTruth(source: TruthSource) {
    const names = (await source.list()).filter((p) => p.startsWith('masks/'));
    const caseIds = names.map((p) => p.slice('masks/'.length).replace(/\.nii\.gz$/, '')).sort();
    if (caseIds.length === 0) throw new Error('truth has no masks/<caseId>.nii.gz: not a segmentation cohort');
    const maskFile = async (caseId: string): Promise<{ name: string; bytes: Buffer }> => ({ name: `truth/${MASK_PATH(caseId)}`, bytes: await source.read(MASK_PATH(caseId)) });
    return {
      caseIds,
      maskFile,
      mask: async (caseId) => {
        const file = await maskFile(caseId);
        return readMask(file.name, file.bytes);
      },
    };
  },
  caseIds: (truth) => truth.caseIds,

  async parsePredictions({ text, caseIds, output }) {
    // predictions.jsonl lines are optional for segmentation; when present they must name the case's mask file.
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        return { ok: false, message: `line ${i + 1}: not valid JSON` };
      }
      const r = record as { caseId?: unknown; mask?: unknown };
      if (typeof r.caseId !== 'string') return { ok: false, message: `line ${i + 1}: caseId must be a string` };
      if (r.mask !== undefined && r.mask !== MASK_PATH(r.caseId)) return { ok: false, message: `line ${i + 1}: mask must be "${MASK_PATH(r.caseId)}"` };
      if (!caseIds.includes(r.caseId)) return { ok: true, value: [{ caseId: r.caseId, prediction: {} }] };
    }
    const value = [];
    for (const caseId of caseIds) {
      let bytes: Buffer | null;
      try {
        bytes = await output(MASK_PATH(caseId), { maxBytes: MAX_MASK_BYTES });
      } catch (e) {
        if (e instanceof OutputTooLargeError) return { ok: false, message: e.message };
        throw e;
      }
      if (bytes === null) continue; // missing: the caller fails the run as missing_predictions, naming the case
      if (bytes.length > MAX_MASK_BYTES) return { ok: false, message: `${MASK_PATH(caseId)}: ${bytes.length} bytes, more than ${MAX_MASK_BYTES}` };
      let mask: Volume;
      try {
        mask = await readMask(MASK_PATH(caseId), bytes);
      } catch (e) {
        if (e instanceof VolumeError) return { ok: false, message: `${MASK_PATH(caseId)}: ${e.code}: ${e.message}` };
        throw e;
      }
      let voxels = 0;
      for (let i = 0; i < mask.data.length; i++) {
        const v = mask.data[i] as number;
        if (v !== 0 && v !== 1) return { ok: false, message: `${MASK_PATH(caseId)}: a lesion mask holds 0 and 1 only (voxel ${i} holds ${v})` };
        voxels += v;
      }
      value.push({ caseId, prediction: { mask: MASK_PATH(caseId), voxels, dims: [...mask.dims] }, files: { [MASK_ARTIFACT]: bytes } });
    }
    return { ok: true, value };
  },

  async score({ truth, predictions, definition, metadata, readArtifact, threads }) {
    const missing = truth.caseIds.filter((id) => !predictions.has(id));
    if (missing.length > 0) return { missing };
    if (!readArtifact) throw new Error('segmentation scoring reads the stored masks: ScoreInput.readArtifact is required');
    const toleranceMm = toleranceOf(definition);
    const rows: SegmentationCaseRow[] = [];
    const perCase: CaseResult[] = [];
    const resampledNotes: string[] = [];
    // A few cases at a time (one per scoring thread): two decoded masks in memory per thread, whatever the cohort's size.
    const outcomes = await scoreMaskPairs(
      truth.caseIds,
      async (caseId) => ({
        caseId,
        reference: truth.maskFile ? await truth.maskFile(caseId) : { volume: await truth.mask(caseId) },
        predicted: { name: `prediction/${MASK_PATH(caseId)}`, bytes: await readArtifact(caseId, MASK_ARTIFACT) },
        toleranceMm,
      }),
      threads !== undefined ? { threads } : {},
    );
    for (const { row, resampled, note } of outcomes) {
      if (resampled) resampledNotes.push(`${row.caseId}: ${note}`);
      rows.push(row);
      perCase.push(toCaseResult(row, resampled));
    }
    const full = aggregateSegmentation(rows, { toleranceMm, bootstrap: benchmarkBootstrap(definition), bothEmpty: bothEmptyOf(definition) });
    return {
      n: full.n,
      metrics: full.metrics,
      details: {
        toleranceMm,
        bothEmpty: bothEmptyOf(definition),
        statusCounts: full.counts,
        lesionWise: full.lesionWise,
        resampled: { cases: resampledNotes.length, notes: resampledNotes.slice(0, 50), rule: 'predictions on another grid are resampled to the reference grid by nearest neighbour; the reference is never resampled' },
      },
      metricCodeVersion: SEGMENTATION_CODE_VERSION,
      subgroups: subgroupTables(definition, truth.caseIds, metadata, (idx) => aggregate(definition, idx.map((i) => rows[i] as SegmentationCaseRow))),
      perCase,
    };
  },

  rankingProblem({ definition, entries, alternatives }) {
    const metric = definition.metrics.primary;
    return meanRankingProblem({ metric, direction: metricDirection(metric), value: perCaseValue(definition, metric), entries, ...(alternatives ? { alternatives } : {}) });
  },

  compare({ definition, a, b }) {
    const out: Record<string, unknown> = {};
    for (const metric of [definition.metrics.primary, ...definition.metrics.secondary]) {
      const value = perCaseValue(definition, metric);
      const pairs = a.map((r, i) => [value(r), value(b[i] as CaseResult)] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      if (pairs.length < 2) {
        out[metric] = { n: pairs.length, method: 'not computed: fewer than 2 cases with the metric defined for both' };
        continue;
      }
      const diff = pairs.reduce((s, [x, y]) => s + (x - y), 0) / pairs.length;
      const w = wilcoxonSignedRank(pairs.map(([x]) => x), pairs.map(([, y]) => y));
      out[metric] = { n: pairs.length, meanDifference: diff, statistic: w.statistic, p: w.pValue, method: `${w.method}; per-case ${metric}, A − B, cases with the metric defined for both` };
    }
    return out;
  },

  perCaseLoss(r) {
    const d = r['dice'];
    return typeof d === 'number' ? 1 - d : 0;
  },

  report: segmentationReport,

  federation: meanFederation({ metrics: SEGMENTATION_METRIC_NAMES, perCaseValue, metricCodeVersion: SEGMENTATION_CODE_VERSION }) as TaskFederation,
  offline: segmentationOfflineScorer,
};

export { fromCaseResult as segmentationRowOf };
