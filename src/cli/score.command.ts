// `assay score`: offline scoring of a predictions file against a truth file with the facility's own metric code.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { MetricInputError } from '../metrics/metrics.errors';
import { alignPredictions, parseBinaryPredictionsJsonl, parseTruthCsv } from '../metrics/predictions';
import { DEFAULT_THRESHOLD, scoreBinary } from '../metrics/score-report';

/** Exit code for unusable input (bad file, bad line, misaligned cases), distinct from 1 = internal failure. */
export const EXIT_BAD_INPUT = 2;

export interface ScoreOptions {
  readonly task: string;
  readonly truth: string;
  readonly predictions: string;
  readonly threshold?: string;
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

const scoreBinaryTask: TaskScorer = (options, io) => {
  const threshold = parseThreshold(options.threshold);
  const truth = parseTruthCsv(readOrFail(io, 'truth', options.truth));
  if (!truth.ok) throw new BadInput(`${options.truth}: ${truth.error.message}`);
  const predictions = parseBinaryPredictionsJsonl(readOrFail(io, 'predictions', options.predictions));
  if (!predictions.ok) throw new BadInput(`${options.predictions}: ${predictions.error.message}`);
  const aligned = alignPredictions(
    truth.value.map((r) => r.caseId),
    predictions.value,
  );
  if (!aligned.ok) {
    const parts: string[] = [];
    if (aligned.missing.length > 0) {
      parts.push(`${aligned.missing.length} case(s) in ${options.truth} have no prediction: ${listIds(aligned.missing)}`);
    }
    if (aligned.unknown.length > 0) {
      parts.push(`${aligned.unknown.length} prediction(s) for cases not in ${options.truth}: ${listIds(aligned.unknown)}`);
    }
    throw new BadInput(`${options.predictions}: ${parts.join('; ')}`);
  }
  return scoreBinary({ labels: truth.value.map((r) => r.label), scores: aligned.probabilities, threshold });
};

/** One entry per task; a new task (e.g. survival) is one more scorer here. */
const TASK_SCORERS: Readonly<Record<string, TaskScorer>> = {
  binary: scoreBinaryTask,
};

/** Tasks we know about but have not implemented, with where they are tracked. */
const PLANNED_TASKS: Readonly<Record<string, string>> = {
  survival: 'Harrell/Uno C, METRICS.md §5',
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
    .requiredOption('--truth <path>', 'truth CSV with header case_id,label (1 = positive, 0 = negative)')
    .requiredOption('--predictions <path>', 'JSONL, one {"caseId": "...", "probability": p} per line')
    .option('--threshold <t>', `locked operating threshold, positive iff probability ≥ t (default ${DEFAULT_THRESHOLD})`)
    .action((options: ScoreOptions) => {
      process.exitCode = runScore(options, io);
    });
}
