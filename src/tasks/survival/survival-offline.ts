import { compareSurvival } from '../../metrics/comparison';
import { largestEventTime, unoTauProblem } from '../../metrics/survival';
import { parseRiskPredictionsJsonl, parseSurvivalTruthCsv } from '../../metrics/survival-predictions';
import { scoreSurvival } from '../../metrics/survival-report';
import { alignOrFail, BadInput, type OfflineScorer, parseBootstrap, readOrFail, type ScoreIo, type ScoreOptions, UsageError } from '../offline-scoring';

function parseTau(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const t = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(t) || t <= 0) throw new UsageError(`--tau must be a positive number, got "${raw}"`);
  return t;
}

function readRisks(options: ScoreOptions, io: ScoreIo, truthIds: readonly string[], path: string): number[] {
  const predictions = parseRiskPredictionsJsonl(readOrFail(io, 'predictions', path));
  if (!predictions.ok) throw new BadInput(`${path}: ${predictions.error.message}`);
  return alignOrFail(truthIds, predictions.value.map((p) => p.caseId), predictions.value.map((p) => p.risk), options.truth, path);
}

/** `assay score --task survival`. */
export const survivalOfflineScorer: OfflineScorer = {
  name: 'survival',
  truthHelp: 'survival case_id,time,event (1 = death, 0 = censored)',
  predictionsHelp: '{"caseId": "...", "risk": r} (survival, higher = worse)',
  options: [{ flags: '--tau <t>', key: 'tau', description: "survival: truncation time τ of Uno's C, pairs with T_i < τ, needs Ĝ(τ) > 0 (default: the largest observed event time, with a note on stderr)" }],
  run(options, io) {
    const tau = parseTau(options['tau']);
    const truth = parseSurvivalTruthCsv(readOrFail(io, 'truth', options.truth));
    if (!truth.ok) throw new BadInput(`${options.truth}: ${truth.error.message}`);
    const ids = truth.value.map((r) => r.caseId);
    const time = truth.value.map((r) => r.time);
    const event = truth.value.map((r) => r.event);
    const risk = readRisks(options, io, ids, options.predictions);
    const bootstrap = parseBootstrap(options);
    if (tau === undefined) {
      const last = largestEventTime({ time, event, risk });
      const atLast = time.filter((t, i) => t === last && event[i] === 1).length;
      io.stderr(
        `note: --tau not given: Uno's C uses τ = ${last}, the largest event time; pairs need T_i < τ, so the ${atLast} death(s) at ` +
          `${last} do not count. Give --tau (a time with censoring survival Ĝ(τ) > 0, e.g. the benchmark's declared τ) to choose.\n`,
      );
    } else {
      const problem = unoTauProblem({ time, event, risk }, tau);
      if (problem !== null) throw new UsageError(`--tau ${tau}: ${problem}`);
    }
    const report = scoreSurvival({ time, event, risk, tau, bootstrap });
    if (options.compare === undefined) return report;
    const riskB = readRisks(options, io, ids, options.compare);
    return { ...report, comparison: compareSurvival({ time, event, riskA: risk, riskB, tau: report.tau, bootstrap }) };
  },
};
