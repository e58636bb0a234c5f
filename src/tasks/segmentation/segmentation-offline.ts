import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { aggregateSegmentation, SEGMENTATION_CODE_VERSION, segmentationCaseRow, type SegmentationCaseRow } from '../../metrics/segmentation/segmentation-report';
import { SEGMENTATION_METRIC_NAMES } from '../../metrics/segmentation/segmentation-metrics';
import { resampleNearest } from '../../volumes/geometry';
import { readVolume } from '../../volumes/read-volume';
import { VolumeError } from '../../volumes/volume-error';
import type { Volume } from '../../volumes/volume';
import { BadInput, type OfflineScorer, parseBootstrap, UsageError } from '../offline-scoring';

const MASK_FILE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,99})\.nii(\.gz)?$/;

/** caseId → file of a folder of `<caseId>.nii.gz` (or .nii) masks; anything else in the folder is an error. */
function maskFiles(dir: string, what: string): Map<string, string> {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new BadInput(`cannot read ${what} folder ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const out = new Map<string, string>();
  for (const name of names) {
    const m = MASK_FILE.exec(name);
    if (!m) throw new BadInput(`${what} folder ${dir}: '${name}' is not <caseId>.nii.gz`);
    const caseId = m[1] as string;
    if (out.has(caseId)) throw new BadInput(`${what} folder ${dir}: two masks for case '${caseId}'`);
    out.set(caseId, join(dir, name));
  }
  if (out.size === 0) throw new BadInput(`${what} folder ${dir} holds no <caseId>.nii.gz mask`);
  return out;
}

function readMask(path: string): Volume {
  try {
    return readVolume({ name: path, bytes: readFileSync(path) }, undefined, { labels: true }).volume;
  } catch (e) {
    if (e instanceof VolumeError) throw new BadInput(`${e.message}`);
    throw new BadInput(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseTolerance(raw: string | undefined): number {
  if (raw === undefined) return 2;
  const t = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(t) || t < 0) throw new UsageError(`--tolerance-mm must be a number ≥ 0, got "${raw}"`);
  return t;
}

/**
 * `assay score --task segmentation --truth <dir> --predictions <dir> [--tolerance-mm 2]`: both folders hold
 * `<caseId>.nii.gz` label masks (non-zero = lesion). A prediction on another grid is resampled to the reference grid by
 * nearest neighbour (never the reference), and the case row says so. Cases are read one at a time.
 */
export const segmentationOfflineScorer: OfflineScorer = {
  name: 'segmentation',
  truthHelp: 'segmentation: a folder of <caseId>.nii.gz reference masks (non-zero = lesion)',
  predictionsHelp: 'segmentation: a folder of <caseId>.nii.gz predicted masks',
  options: [
    { flags: '--tolerance-mm <mm>', key: 'toleranceMm', description: 'segmentation: NSD tolerance τ in mm (default 2)' },
    { flags: '--both-empty <policy>', key: 'bothEmpty', description: "segmentation: cases with both masks empty: 'exclude' (default) or 'perfect'" },
  ],
  run(options, io) {
    const toleranceMm = parseTolerance(options['toleranceMm']);
    const bothEmpty = options['bothEmpty'] ?? 'exclude';
    if (bothEmpty !== 'exclude' && bothEmpty !== 'perfect') throw new UsageError(`--both-empty must be 'exclude' or 'perfect', got "${bothEmpty}"`);
    const bootstrap = parseBootstrap(options);
    const truth = maskFiles(options.truth, 'truth');
    const predictions = maskFiles(options.predictions, 'predictions');
    const missing = [...truth.keys()].filter((id) => !predictions.has(id));
    const unknown = [...predictions.keys()].filter((id) => !truth.has(id));
    if (missing.length > 0 || unknown.length > 0) {
      const parts = [
        ...(missing.length > 0 ? [`${missing.length} case(s) have no predicted mask (first: '${missing[0]}')`] : []),
        ...(unknown.length > 0 ? [`${unknown.length} predicted mask(s) for cases not in the truth (first: '${unknown[0]}')`] : []),
      ];
      throw new BadInput(`${options.predictions}: ${parts.join('; ')}`);
    }
    const rows: (SegmentationCaseRow & { resampled?: string })[] = [];
    for (const [caseId, truthPath] of truth) {
      const reference = readMask(truthPath);
      const read = readMask(predictions.get(caseId) as string);
      const resampled = resampleNearest(read, reference);
      if (resampled.resampled) io.stderr(`note: ${caseId}: ${resampled.note}\n`);
      const { row } = segmentationCaseRow(caseId, reference, resampled.volume, { toleranceMm });
      rows.push(resampled.resampled ? { ...row, resampled: resampled.note } : row);
    }
    const aggregate = aggregateSegmentation(rows, { toleranceMm, bootstrap, bothEmpty });
    const metrics = Object.fromEntries(SEGMENTATION_METRIC_NAMES.map((name) => [name, aggregate.metrics[name]]));
    return {
      task: 'segmentation',
      metricCodeVersion: SEGMENTATION_CODE_VERSION,
      n: aggregate.n,
      toleranceMm,
      counts: aggregate.counts,
      metrics,
      lesionWise: aggregate.lesionWise,
      cases: rows.map((r) => ({ caseId: r.caseId, status: r.status, dice: r.dice, iou: r.iou, hd: r.hd, hd95: r.hd95, masd: r.masd, assd: r.assd, nsd: r.nsd, ...(r.resampled ? { resampled: r.resampled } : {}) })),
    };
  },
};
