import { compareBinary } from '../../metrics/comparison';
import { parseBinaryPredictionsJsonl, parseTruthCsv } from '../../metrics/predictions';
import { DEFAULT_THRESHOLD, scoreBinary } from '../../metrics/score-report';
import { alignOrFail, BadInput, type OfflineScorer, parseBootstrap, readOrFail, type ScoreIo, type ScoreOptions, UsageError } from '../offline-scoring';

function parseThreshold(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_THRESHOLD;
  const t = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(t)) throw new UsageError(`--threshold must be a finite number, got "${raw}"`);
  return t;
}

function readBinaryScores(options: ScoreOptions, io: ScoreIo, truthIds: readonly string[], path: string): number[] {
  const predictions = parseBinaryPredictionsJsonl(readOrFail(io, 'predictions', path));
  if (!predictions.ok) throw new BadInput(`${path}: ${predictions.error.message}`);
  return alignOrFail(truthIds, predictions.value.map((p) => p.caseId), predictions.value.map((p) => p.probability), options.truth, path);
}

/** `assay score --task binary`. */
export const binaryOfflineScorer: OfflineScorer = {
  name: 'binary',
  truthHelp: 'binary case_id,label (1 = positive, 0 = negative)',
  predictionsHelp: '{"caseId": "...", "probability": p} (binary)',
  options: [{ flags: '--threshold <t>', key: 'threshold', description: `binary: locked operating threshold, positive iff probability ≥ t (default ${DEFAULT_THRESHOLD})` }],
  run(options, io) {
    const threshold = parseThreshold(options['threshold']);
    const truth = parseTruthCsv(readOrFail(io, 'truth', options.truth));
    if (!truth.ok) throw new BadInput(`${options.truth}: ${truth.error.message}`);
    const ids = truth.value.map((r) => r.caseId);
    const labels = truth.value.map((r) => r.label);
    const scores = readBinaryScores(options, io, ids, options.predictions);
    const bootstrap = parseBootstrap(options);
    const started = Date.now();
    const onProgress = (done: number, total: number): void => io.stderr(`progress: bootstrap ${done}/${total} replicates (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    const report = scoreBinary({ labels, scores, threshold, bootstrap, onProgress });
    if (options.compare === undefined) return report;
    const scoresB = readBinaryScores(options, io, ids, options.compare);
    return { ...report, comparison: compareBinary({ labels, scoresA: scores, scoresB, threshold, bootstrap }) };
  },
};
