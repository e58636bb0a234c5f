// `assay score`: offline scoring of a predictions file against a truth file with the facility's own metric code.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { MetricInputError } from '../metrics/metrics.errors';
import { compareBinary, compareSurvival } from '../metrics/comparison';
import { alignPredictions, parseBinaryPredictionsJsonl, parseTruthCsv } from '../metrics/predictions';
import { DEFAULT_THRESHOLD, scoreBinary } from '../metrics/score-report';
import { parseRiskPredictionsJsonl, parseSurvivalTruthCsv } from '../metrics/survival-predictions';
import { scoreSurvival } from '../metrics/survival-report';

/** Exit code for unusable input (bad file, bad line, misaligned cases), distinct from 1 = internal failure. */
export const EXIT_BAD_INPUT = 2;

export interface ScoreOptions {
  readonly task: string;
  readonly truth: string;
  readonly predictions: string;
  readonly threshold?: string;
  /** Second predictions file (model B) on the same cases: adds a paired comparison A − B. */
  readonly compare?: string;
  /** Survival only: Uno's C truncation time. */
  readonly tau?: string;
}

export interface ScoreIo {
  readonly readFile: (path: string) => string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

class BadInput extends Error {}

type TaskScorer = (options: ScoreOptions, io: ScoreIo) => unknown;

function readOrFail(io: ScoreIo, what: string, path: string): string {
  try {
    return io.readFile(path);
  } catch (e) {
    throw new BadInput(`cannot read ${what} file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseThreshold(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_THRESHOLD;
  const t = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(t)) throw new BadInput(`--threshold must be a finite number, got "${raw}"`);
  return t;
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, 10).join(', ');
  return ids.length > 10 ? `${shown}, … (${ids.length} in total)` : shown;
}

function alignOrFail(truthIds: readonly string[], caseIds: readonly string[], values: readonly number[], truthPath: string, predPath: string): number[] {
  const aligned = alignPredictions(
    truthIds,
    caseIds.map((caseId, i) => ({ caseId, probability: values[i] as number })),
  );
  if (!aligned.ok) {
    const parts: string[] = [];
    if (aligned.missing.length > 0) {
      parts.push(`${aligned.missing.length} case(s) in ${truthPath} have no prediction: ${listIds(aligned.missing)}`);
    }
    if (aligned.unknown.length > 0) {
      parts.push(`${aligned.unknown.length} prediction(s) for cases not in ${truthPath}: ${listIds(aligned.unknown)}`);
    }
    throw new BadInput(`${predPath}: ${parts.join('; ')}`);
  }
  return aligned.probabilities;
}

function readBinaryScores(options: ScoreOptions, io: ScoreIo, truthIds: readonly string[], path: string): number[] {
  const predictions = parseBinaryPredictionsJsonl(readOrFail(io, 'predictions', path));
  if (!predictions.ok) throw new BadInput(`${path}: ${predictions.error.message}`);
  return alignOrFail(truthIds, predictions.value.map((p) => p.caseId), predictions.value.map((p) => p.probability), options.truth, path);
}

const scoreBinaryTask: TaskScorer = (options, io) => {
  const threshold = parseThreshold(options.threshold);
  if (options.tau !== undefined) throw new BadInput('--tau applies to --task survival only');
  const truth = parseTruthCsv(readOrFail(io, 'truth', options.truth));
  if (!truth.ok) throw new BadInput(`${options.truth}: ${truth.error.message}`);
  const ids = truth.value.map((r) => r.caseId);
  const labels = truth.value.map((r) => r.label);
  const scores = readBinaryScores(options, io, ids, options.predictions);
  const report = scoreBinary({ labels, scores, threshold });
  if (options.compare === undefined) return report;
  const scoresB = readBinaryScores(options, io, ids, options.compare);
  return { ...report, comparison: compareBinary({ labels, scoresA: scores, scoresB, threshold }) };
};

function parseTau(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const t = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(t) || t <= 0) throw new BadInput(`--tau must be a positive number, got "${raw}"`);
  return t;
}

function readRisks(options: ScoreOptions, io: ScoreIo, truthIds: readonly string[], path: string): number[] {
  const predictions = parseRiskPredictionsJsonl(readOrFail(io, 'predictions', path));
  if (!predictions.ok) throw new BadInput(`${path}: ${predictions.error.message}`);
  return alignOrFail(truthIds, predictions.value.map((p) => p.caseId), predictions.value.map((p) => p.risk), options.truth, path);
}

const scoreSurvivalTask: TaskScorer = (options, io) => {
  if (options.threshold !== undefined) throw new BadInput('--threshold applies to --task binary only');
  const tau = parseTau(options.tau);
  const truth = parseSurvivalTruthCsv(readOrFail(io, 'truth', options.truth));
  if (!truth.ok) throw new BadInput(`${options.truth}: ${truth.error.message}`);
  const ids = truth.value.map((r) => r.caseId);
  const time = truth.value.map((r) => r.time);
  const event = truth.value.map((r) => r.event);
  const risk = readRisks(options, io, ids, options.predictions);
  const report = scoreSurvival({ time, event, risk, tau });
  if (options.compare === undefined) return report;
  const riskB = readRisks(options, io, ids, options.compare);
  return { ...report, comparison: compareSurvival({ time, event, riskA: risk, riskB, tau: report.tau }) };
};

/** One entry per task; a new task (e.g. survival) is one more scorer here. */
const TASK_SCORERS: Readonly<Record<string, TaskScorer>> = {
  binary: scoreBinaryTask,
  survival: scoreSurvivalTask,
};

/** Tasks we know about but have not implemented, with where they are tracked. */
const PLANNED_TASKS: Readonly<Record<string, string>> = {
  segmentation: 'DSC/NSD/HD95, METRICS.md §2',
  detection: 'FROC/CPM, METRICS.md §3',
};

/** Testable core of the command; returns the process exit code. */
export function runScore(options: ScoreOptions, io: ScoreIo): number {
  const scorer = TASK_SCORERS[options.task];
  if (scorer === undefined) {
    const planned = PLANNED_TASKS[options.task];
    io.stderr(
      planned !== undefined
        ? `not supported yet: ${options.task} (planned: ${planned}); supported tasks: ${Object.keys(TASK_SCORERS).join(', ')}\n`
        : `unknown task "${options.task}"; supported tasks: ${Object.keys(TASK_SCORERS).join(', ')}\n`,
    );
    return EXIT_BAD_INPUT;
  }
  try {
    io.stdout(`${JSON.stringify(scorer(options, io), null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof BadInput || e instanceof MetricInputError) {
      io.stderr(`error: ${e.message}\n`);
      return EXIT_BAD_INPUT;
    }
    throw e;
  }
}

const NODE_IO: ScoreIo = {
  readFile: (path) => readFileSync(path, 'utf8'),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export function registerScoreCommand(program: Command, io: ScoreIo = NODE_IO): void {
  program
    .command('score')
    .description('score a predictions file against a truth file and print the metric report as JSON')
    .addOption(new Option('--task <task>', 'task type').choices([...Object.keys(TASK_SCORERS), ...Object.keys(PLANNED_TASKS)]).makeOptionMandatory())
    .requiredOption('--truth <path>', 'truth CSV: binary case_id,label (1 = positive, 0 = negative); survival case_id,time,event (1 = death, 0 = censored)')
    .requiredOption('--predictions <path>', 'JSONL, one {"caseId": "...", "probability": p} (binary) or {"caseId": "...", "risk": r} (survival, higher = worse) per line')
    .option('--compare <path>', 'second predictions file (model B) on the same cases: adds "comparison" (A − B, paired, Holm-adjusted p)')
    .option('--threshold <t>', `binary: locked operating threshold, positive iff probability ≥ t (default ${DEFAULT_THRESHOLD})`)
    .option('--tau <t>', "survival: truncation time τ of Uno's C, pairs with T_i < τ (default: the largest observed event time)")
    .action((options: ScoreOptions) => {
      process.exitCode = runScore(options, io);
    });
}
