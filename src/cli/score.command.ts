// `assay score`: offline scoring of a predictions file against a truth file with the facility's own metric code.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { type BootstrapSpec, DEFAULT_BOOTSTRAP } from '../metrics/binary-classification';
import { MetricInputError } from '../metrics/metrics.errors';
import { compareBinary, compareSurvival } from '../metrics/comparison';
import { alignPredictions, parseBinaryPredictionsJsonl, parseTruthCsv } from '../metrics/predictions';
import { DEFAULT_THRESHOLD, scoreBinary } from '../metrics/score-report';
import { parseRiskPredictionsJsonl, parseSurvivalTruthCsv } from '../metrics/survival-predictions';
import { largestEventTime, unoTauProblem } from '../metrics/survival';
import { scoreSurvival } from '../metrics/survival-report';

/**
 * Exit codes of `assay score` (one convention, documented in --help and the README):
 *   0 report printed; 1 internal failure (a bug: report it); 2 usage error (unknown or missing option, unknown task,
 *   a bad option value such as --threshold abc or --bootstrap 0, an option that does not apply to the task);
 *   3 unusable input data (unreadable file, invalid line, cases that do not align, data on which the report cannot
 *   be computed at all).
 */
export const EXIT_USAGE = 2;
export const EXIT_BAD_INPUT = 3;
export const EXIT_CODES_HELP = 'exit codes: 0 report printed, 1 internal failure, 2 usage error (options, task), 3 unusable input data (files, lines, cases)';

export interface ScoreOptions {
  readonly task: string;
  readonly truth: string;
  readonly predictions: string;
  readonly threshold?: string;
  /** Second predictions file (model B) on the same cases: adds a paired comparison A − B. */
  readonly compare?: string;
  /** Survival only: Uno's C truncation time. */
  readonly tau?: string;
  /** Bootstrap replicates B (default 2000). */
  readonly bootstrap?: string;
  readonly seed?: string;
}

export interface ScoreIo {
  readonly readFile: (path: string) => string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

class BadInput extends Error {}
class UsageError extends Error {}

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
  if (raw.trim() === '' || !Number.isFinite(t)) throw new UsageError(`--threshold must be a finite number, got "${raw}"`);
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
  if (options.tau !== undefined) throw new UsageError('--tau applies to --task survival only');
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
};

function parseBootstrap(options: ScoreOptions): BootstrapSpec {
  const int = (raw: string | undefined, name: string, fallback: number, min: number, max: number): number => {
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) throw new UsageError(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
    return v;
  };
  return {
    replicates: int(options.bootstrap, '--bootstrap', DEFAULT_BOOTSTRAP.replicates, 1, 1_000_000),
    seed: int(options.seed, '--seed', DEFAULT_BOOTSTRAP.seed, 0, 2 ** 31 - 1),
  };
}

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

const scoreSurvivalTask: TaskScorer = (options, io) => {
  if (options.threshold !== undefined) throw new UsageError('--threshold applies to --task binary only');
  const tau = parseTau(options.tau);
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
  const scorer = Object.hasOwn(TASK_SCORERS, options.task) ? TASK_SCORERS[options.task] : undefined;
  if (scorer === undefined) {
    const planned = PLANNED_TASKS[options.task];
    io.stderr(
      planned !== undefined
        ? `not supported yet: ${options.task} (planned: ${planned}); supported tasks: ${Object.keys(TASK_SCORERS).join(', ')}\n`
        : `unknown task "${options.task}"; supported tasks: ${Object.keys(TASK_SCORERS).join(', ')}\n`,
    );
    return EXIT_USAGE;
  }
  try {
    io.stdout(`${JSON.stringify(scorer(options, io), null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`usage error: ${e.message}\n`);
      return EXIT_USAGE;
    }
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

export function registerScoreCommand(program: Command, io: ScoreIo = NODE_IO, exit: (code: number) => void = (code) => process.exit(code)): void {
  program
    .command('score')
    // Commander's own usage errors (unknown option, missing --truth, --task not a choice) exit 2 too, not 1.
    .exitOverride((err) => exit(err.exitCode === 0 ? 0 : EXIT_USAGE))
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .description('score a predictions file against a truth file and print the metric report as JSON')
    .addOption(new Option('--task <task>', 'task type').choices([...Object.keys(TASK_SCORERS), ...Object.keys(PLANNED_TASKS)]).makeOptionMandatory())
    .requiredOption('--truth <path>', 'truth CSV: binary case_id,label (1 = positive, 0 = negative); survival case_id,time,event (1 = death, 0 = censored)')
    .requiredOption('--predictions <path>', 'JSONL, one {"caseId": "...", "probability": p} (binary) or {"caseId": "...", "risk": r} (survival, higher = worse) per line')
    .option('--compare <path>', 'second predictions file (model B) on the same cases: adds "comparison" (A − B, paired, Holm-adjusted p)')
    .option('--threshold <t>', `binary: locked operating threshold, positive iff probability ≥ t (default ${DEFAULT_THRESHOLD})`)
    .option('--tau <t>', "survival: truncation time τ of Uno's C, pairs with T_i < τ, needs Ĝ(τ) > 0 (default: the largest observed event time, with a note on stderr)")
    .option('--bootstrap <B>', `bootstrap replicates B for every bootstrap CI and comparison (default ${DEFAULT_BOOTSTRAP.replicates})`)
    .option('--seed <s>', `bootstrap seed (default ${DEFAULT_BOOTSTRAP.seed})`)
    .action((options: ScoreOptions) => {
      process.exitCode = runScore(options, io);
    });
}
