import { joinDetection, parseDetectionPredictionsJsonl, parseDetectionTruthCsv } from '../../metrics/detection/detection-io';
import { scoreDetection } from '../../metrics/detection/detection-report';
import { BadInput, type OfflineScorer, parseBootstrap, readOrFail, UsageError } from '../offline-scoring';

function parseThreshold(raw: string | undefined): number {
  if (raw === undefined) return 0.5;
  const t = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(t)) throw new UsageError(`--threshold must be a finite number, got "${raw}"`);
  return t;
}

/**
 * `assay score --task detection --truth truth.csv --predictions p.jsonl [--threshold 0.5]`: truth
 * `case_id,lesion_id,x,y,z,diameter_mm` (world mm; a lesion-free case once with empty lesion fields), predictions
 * `{"caseId", "detections": [{"x", "y", "z", "score"}]}`. LUNA16 hit criterion; CPM on the FROC upper envelope
 * (interpolated) and DIAG's nearest-point variant; sensitivity and FP/scan at the locked threshold.
 */
export const detectionOfflineScorer: OfflineScorer = {
  name: 'detection',
  truthHelp: 'detection: case_id,lesion_id,x,y,z,diameter_mm (world mm; a lesion-free case once with empty lesion fields)',
  predictionsHelp: 'detection: {"caseId": "...", "detections": [{"x", "y", "z", "score"}]} (world mm)',
  options: [{ flags: '--threshold <t>', key: 'threshold', description: 'detection: locked operating threshold (default 0.5): a candidate counts iff its score ≥ t' }],
  run(options, io) {
    const threshold = parseThreshold(options['threshold']);
    const bootstrap = parseBootstrap(options);
    const truth = parseDetectionTruthCsv(readOrFail(io, 'truth', options.truth));
    if (!truth.ok) throw new BadInput(`${options.truth}: ${truth.error.message}`);
    const predictions = parseDetectionPredictionsJsonl(readOrFail(io, 'predictions', options.predictions));
    if (!predictions.ok) throw new BadInput(`${options.predictions}: ${predictions.error.message}`);
    const joined = joinDetection(truth.value, predictions.value);
    if (!joined.ok) {
      const parts = [
        ...(joined.missing.length > 0 ? [`${joined.missing.length} case(s) in ${options.truth} have no prediction (first: '${joined.missing[0]}')`] : []),
        ...(joined.unknown.length > 0 ? [`${joined.unknown.length} prediction(s) for cases not in ${options.truth} (first: '${joined.unknown[0]}')`] : []),
      ];
      throw new BadInput(`${options.predictions}: ${parts.join('; ')}`);
    }
    const report = scoreDetection({ scans: joined.scans, threshold, bootstrap });
    return { ...report, froc: report.froc.map((p) => ({ fpPerScan: p.fpPerScan, sensitivity: p.sensitivity, threshold: p.threshold })) };
  },
};
