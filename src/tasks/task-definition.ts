import type { BenchmarkDefinition, BenchmarkDefinitionDto } from '../benchmarks/benchmark-definition';
import type { FieldProblem } from '../common/domain-error';
import type { MetricValue } from '../metrics/score-report';
import type { SubgroupResult } from '../metrics/subgroups';
import type { RankingProblem } from './rank-robustness';
import type { TaskFederation } from './federation';
import type { OfflineScorer } from './offline-scoring';
import type { TaskReport, TaskReportInput } from './task-report';

/**
 * One task type (DESIGN.md "Tasks, runs and nodes"): everything that differs between binary classification, survival
 * and the image tasks, behind one interface. The worker, leaderboards, cohorts, benchmarks and the CLI reach a task
 * only through `taskDefinition(task)` (registry.ts); a new task is one folder here plus one line in the registry.
 */
export interface TaskDefinition<Truth = unknown> {
  /** The benchmark.yaml `task` value, e.g. 'binary-classification'. */
  readonly task: string;
  /** Metric names a benchmark of this task may declare. */
  readonly metrics: readonly string[];
  /** Field rules of a benchmark definition that depend on the task (threshold, τ, interface outputs…). */
  validateDefinition(dto: BenchmarkDefinitionDto): FieldProblem[];
  /** Checks of a definition against the cohort's truth of one split (e.g. Uno's τ), run once when a benchmark is created. */
  validateAgainstTruth?(definition: BenchmarkDefinition, truth: Truth, split: string): FieldProblem[];

  /** Reads and parses the truth of one cohort version's split (one CSV, or one object per case). Cached by the caller. */
  readTruth(source: TruthSource): Promise<Truth>;
  /** Case ids of the truth, in its order (the order per-case results are stored in). */
  caseIds(truth: Truth): readonly string[];

  /**
   * Parses one batch's output into per-case predictions as stored (run_predictions.prediction): fields of
   * predictions.jsonl and/or files the algorithm wrote under /output (read through `output`).
   */
  parsePredictions(input: PredictionOutput): Promise<ParsedPredictions>;

  /**
   * Scores a run: per-case results (stored, in the truth's order; all later reads use them, never the truth),
   * aggregate metrics with CIs, and subgroup tables. `missing` when a truth case has no prediction.
   */
  score(input: ScoreInput<Truth>): TaskScore | { missing: string[] } | Promise<TaskScore | { missing: string[] }>;

  /** What the rank bootstrap resamples, from stored per-case results of each entry (same cases, same order). */
  rankingProblem(input: RankingInput): RankingProblem;
  /** Paired comparison of two entries on the same cases (stored per-case results, aligned). */
  compare(input: { definition: BenchmarkDefinition; a: readonly CaseResult[]; b: readonly CaseResult[] }): Record<string, unknown>;
  /** A per-case loss (lower is better) where the task has one (parameter-free Ladder, per-case ranking); else absent. */
  perCaseLoss?(result: CaseResult): number;

  /** What this task adds to the validation report, from the stored result (curves, tables, metric definitions). */
  report?(input: TaskReportInput): TaskReport;

  /** Runs over federated nodes (issue 11): what a node's summary holds and how the hub pools them; absent = single-site only. */
  readonly federation?: TaskFederation;

  /** `assay score --task <name>`: the offline scorer (same metric code as the worker). */
  readonly offline: OfflineScorer;
  /** Tabular cohorts of this task: how the ingest writes its truth (absent for tasks without tabular cohorts). */
  readonly tabular?: TabularTruthWriter;
}

/** The objects under one cohort version's truth prefix for one split (the truth bucket; never mounted in a sandbox). */
export interface TruthSource {
  /** Paths relative to the split's truth prefix, e.g. ['labels.csv'] or ['CASE-1.nii.gz', …]. */
  list(): Promise<string[]>;
  read(relativePath: string): Promise<Buffer>;
}

/**
 * A file the algorithm wrote under /output, by path relative to /output; null when absent or not a plain file. A file
 * larger than `maxBytes` (default MAX_OUTPUT_FILE_BYTES) is not read: OutputTooLargeError, which the task reports as
 * the vendor's invalid output (the size is known from the file's metadata, before any byte is read into memory).
 */
export type OutputReader = (relativePath: string, options?: { maxBytes?: number }) => Promise<Buffer | null>;

/** The most of one output file a task reads into memory unless it asks for less. */
export const MAX_OUTPUT_FILE_BYTES = 512 * 1024 * 1024;

export class OutputTooLargeError extends Error {
  constructor(
    readonly path: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`${path}: ${bytes} bytes, more than ${maxBytes}`);
  }
}

export interface PredictionOutput {
  /** Text of /output/predictions.jsonl. */
  text: string;
  /** The cases of this batch. */
  caseIds: readonly string[];
  output: OutputReader;
}

export type ParsedPredictions =
  /**
   * `files`: per-case output files the task keeps (e.g. a segmentation mask), stored by the run machinery as the run's
   * artifacts and read back at scoring with ScoreInput.readArtifact.
   */
  | { ok: true; value: { caseId: string; prediction: Record<string, unknown>; files?: Record<string, Buffer> }[] }
  /** message names the first offending line where there is one ("line 3: …"). */
  | { ok: false; message: string };

export interface ScoreInput<Truth> {
  truth: Truth;
  /** case id → stored prediction. */
  predictions: ReadonlyMap<string, Record<string, unknown>>;
  definition: BenchmarkDefinition;
  /** case id → subgroup metadata. */
  metadata: ReadonlyMap<string, Record<string, string>>;
  /** A file kept with a case's prediction (ParsedPredictions `files`), by case and name. */
  readArtifact?(caseId: string, name: string): Promise<Buffer>;
  /** CPU threads the scorer may use for per-case work (tasks with heavy per-case scoring, e.g. segmentation);
   * default: the task's own choice. */
  threads?: number;
}

/** One case's scored record as stored with the result: what ranking, comparisons and the Ladder need, nothing more. */
export type CaseResult = { caseId: string } & Record<string, number | string | null | readonly (number | null)[] | readonly string[]>;

export interface TaskScore {
  n: number;
  metrics: Record<string, MetricValue>;
  details: Record<string, unknown>;
  metricCodeVersion: string;
  /** attribute → metric → one row per subgroup (suppressed below the benchmark's minimum size). */
  subgroups: Record<string, Record<string, SubgroupResult[]>>;
  /** In the truth's case order. */
  perCase: CaseResult[];
}

export interface RankingInput {
  definition: BenchmarkDefinition;
  /** entries[s]: entry s's per-case results, aligned to one case order. */
  entries: readonly (readonly CaseResult[])[];
  /** perVendor "best": entry s's vendor's other submissions, same alignment. */
  alternatives?: readonly (readonly (readonly CaseResult[])[])[];
}

export interface TabularTruthWriter {
  /** The cohort descriptor format this task ingests, e.g. 'tabular-binary'. */
  readonly cohortFormat: string;
  /** Header of truth labels.csv and of the sample CSV's outcome columns. */
  readonly header: string;
  /** The outcome cells of one case, in header order. */
  cells(outcome: TabularOutcome): (string | number)[];
  /** The descriptor column the split is stratified by. */
  stratifiedBy(descriptor: { label?: { column: string }; event?: { column: string } }): string;
}

export type TabularOutcome = { kind: 'binary'; label: 0 | 1 } | { kind: 'survival'; time: number; event: 0 | 1 };
