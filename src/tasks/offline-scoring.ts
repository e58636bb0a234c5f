// Shared pieces of the offline scorers (`assay score --task …`); each task's own scorer lives in its folder.
import { type BootstrapSpec, DEFAULT_BOOTSTRAP } from '../metrics/binary-classification';
import { alignPredictions } from '../metrics/predictions';

export interface ScoreOptions {
  readonly task: string;
  readonly truth: string;
  readonly predictions: string;
  /** Second predictions file (model B) on the same cases: adds a paired comparison A − B. */
  readonly compare?: string;
  /** Bootstrap replicates B (default 2000). */
  readonly bootstrap?: string;
  readonly seed?: string;
  /** Task options (declared by each task's OfflineScorer.options), e.g. threshold, tau. */
  readonly [option: string]: string | undefined;
}

export interface ScoreIo {
  readonly readFile: (path: string) => string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** A task's offline scorer: its CLI name, its own options, and the scoring itself (returns the JSON report). */
export interface OfflineScorer {
  /** `--task` value, e.g. 'binary'. */
  readonly name: string;
  readonly truthHelp: string;
  readonly predictionsHelp: string;
  /** Task-specific options: commander flags ('--threshold <t>'), the ScoreOptions key, help text. */
  readonly options: readonly { flags: string; key: string; description: string }[];
  run(options: ScoreOptions, io: ScoreIo): unknown;
}

/** Unusable input data (exit 3). */
export class BadInput extends Error {}
/** A usage error (exit 2). */
export class UsageError extends Error {}

export function readOrFail(io: ScoreIo, what: string, path: string): string {
  try {
    return io.readFile(path);
  } catch (e) {
    throw new BadInput(`cannot read ${what} file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Refuses task options given to a task they do not apply to (e.g. --tau with --task binary). */
export function refuseForeignOptions(options: ScoreOptions, scorer: OfflineScorer, foreign: readonly { key: string; owner: string }[]): void {
  for (const f of foreign) {
    if (options[f.key] !== undefined && !scorer.options.some((o) => o.key === f.key)) throw new UsageError(`--${f.key} applies to --task ${f.owner} only`);
  }
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, 10).join(', ');
  return ids.length > 10 ? `${shown}, … (${ids.length} in total)` : shown;
}

export function alignOrFail(truthIds: readonly string[], caseIds: readonly string[], values: readonly number[], truthPath: string, predPath: string): number[] {
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

export function parseBootstrap(options: ScoreOptions): BootstrapSpec {
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
