import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export enum RunStatus {
  Queued = 'queued',
  Preparing = 'preparing',
  Running = 'running',
  Scoring = 'scoring',
  Succeeded = 'succeeded',
  Failed = 'failed',
  Cancelled = 'cancelled',
}

export enum FailureReason {
  Timeout = 'timeout',
  OutOfMemory = 'out_of_memory',
  ExitNonzero = 'exit_nonzero',
  InvalidOutput = 'invalid_output',
  MissingPredictions = 'missing_predictions',
  RejectedImage = 'rejected_image',
  Internal = 'internal',
}

export interface RunTimings {
  queueWaitMs?: number;
  prepareMs?: number;
  sandboxCreateMs?: number;
  sandboxStartMs?: number;
  sandboxWaitMs?: number;
  sandboxRemoveMs?: number;
  sandboxTotalMs?: number;
  /** Image tasks: downloading the batches' case files from the object store (all batches). */
  fetchInputsMs?: number;
  /** Around the container, outside it: writing /input, copying the model, releasing /output (all batches). */
  batchIoMs?: number;
  /** The task reading and checking the batches' output (e.g. decoding every mask). */
  parseOutputMs?: number;
  /** Storing per-case output files (e.g. masks) as run artifacts. */
  storeOutputMs?: number;
  /** The determinism check's re-run batch (held-out runs), included in neither the sandbox sums nor prepareMs. */
  determinismMs?: number;
  scoringMs?: number;
  /** Of scoringMs: reading the stored per-case artifacts back (download + hash check). */
  scoringReadMs?: number;
  totalMs?: number;
}

/**
 * The determinism check of a held-out run (src/runs/determinism-check.ts): `cases` re-run, `identical` of them with
 * the same outputs. `checked: false` means no comparison was made (turned off, or the re-run batch failed; `summary`
 * says why). `mismatches` (case ids) and `detail` are for staff only.
 */
/** Where a federated run stands at each node (src/runs/federated-runs.ts). */
export interface RunFederationState {
  /** The attempt whose node jobs count (a re-dispatched run asks the nodes again under a new attempt). */
  attempt: number;
  deadline: string;
  nodes: {
    node: string;
    nodeId: string;
    cohort: string;
    jobId: string;
    /** queued / running at the node / done / waiting_for_node (the node is offline or disabled). */
    status: 'queued' | 'running' | 'done' | 'waiting_for_node';
    outcome?: 'succeeded' | 'failed' | 'refused-by-policy';
    lastSeen: string | null;
  }[];
  /** The evaluator's decisions while the run waited (extend the deadline, cancel), oldest first. */
  decisions?: { at: string; by: string; decision: 'extend' | 'cancel'; hours?: number; note?: string; deadline: string }[];
}

export interface RunDeterminism {
  checked: boolean;
  cases: number;
  identical: number;
  method: string;
  mismatches: string[];
  /** What was found, or why nothing was compared, naming no case (safe for a vendor's form of the report). */
  summary: string;
  /** The same with particulars (the first differing case, the re-run's fault text): staff only. */
  detail?: string;
}

@Entity('runs')
export class RunEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) submissionId!: string;
  @Column({ type: 'uuid' }) benchmarkVersionId!: string;
  @Column({ type: 'text' }) phase!: string;
  @Column({ type: 'text' }) split!: string;
  @Column({ type: 'text' }) status!: RunStatus;
  @Column({ type: 'text', nullable: true }) failureReason!: FailureReason | null;
  /** Vendor-visible detail of the failure (never internal stack traces). */
  @Column({ type: 'text', nullable: true }) failureDetail!: string | null;
  /** How many times the execution step was started (internal faults are retried). */
  @Column({ type: 'int', default: 0 }) attempts!: number;
  /** Attempts handed back because a component was unreachable; they do not use up `attempts` (bounded apart). */
  @Column({ type: 'int', default: 0 }) infraFaults!: number;
  /** Attempts handed back because their worker shut down mid-run; they use up nothing (see src/queue/worker-draining.ts). */
  @Column({ type: 'int', default: 0 }) drains!: number;
  @Column({ type: 'int' }) casesTotal!: number;
  @Column({ type: 'int', default: 0 }) casesDone!: number;
  /** Pins: what this run used. */
  @Column({ type: 'text' }) modelSha256!: string;
  @Column({ type: 'text' }) cohortContentHash!: string;
  @Column({ type: 'text' }) benchmarkContentHash!: string;
  @Column({ type: 'text', nullable: true }) metricCodeVersion!: string | null;
  @Column({ type: 'text', nullable: true }) runnerImageId!: string | null;
  @Column({ type: 'text', nullable: true }) sandboxRuntime!: string | null;
  @Column({ type: 'text', nullable: true }) workerId!: string | null;
  /** Last sign of life from the worker executing it; stale runs are recovered at worker start. */
  @Column({ type: 'timestamptz', nullable: true }) heartbeatAt!: Date | null;
  @Column({ type: 'jsonb', default: {} }) timings!: RunTimings;
  /** Container logs as written (bytes: NUL and invalid UTF-8 survive), capped; shown to vendors only for public phases. */
  @Column({ type: 'bytea', nullable: true }) logs!: Buffer | null;
  /** The determinism check, written with the move to `scoring`; null when none was made (public phases, older runs). */
  @Column({ type: 'jsonb', nullable: true }) determinism!: RunDeterminism | null;
  @CreateDateColumn({ type: 'timestamptz' }) queuedAt!: Date;
  @Column({ type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
  /** When the objects of this finished run that no stored prediction references were removed (src/runs/run-artifacts.ts). */
  @Column({ type: 'timestamptz', nullable: true }) artifactsCollectedAt!: Date | null;
  /** A federated phase's run: each node's job and status, and the deadline for an offline node; null at the facility. */
  @Column({ type: 'jsonb', nullable: true }) federation!: RunFederationState | null;
}

@Entity('run_predictions')
export class RunPredictionEntity {
  @PrimaryColumn({ type: 'uuid' }) runId!: string;
  @PrimaryColumn({ type: 'text' }) caseId!: string;
  @Column({ type: 'jsonb' }) prediction!: Record<string, unknown>;
}

export type { MetricValue } from '../metrics/score-report';
import type { MetricValue } from '../metrics/score-report';
import type { CaseResult } from '../tasks/task-definition';

@Entity('evaluation_results')
export class EvaluationResultEntity {
  @PrimaryColumn({ type: 'uuid' }) runId!: string;
  @Column({ type: 'int' }) n!: number;
  @Column({ type: 'jsonb' }) metrics!: Record<string, MetricValue>;
  /** Everything else the scorer reported (counts, threshold). */
  @Column({ type: 'jsonb' }) details!: Record<string, unknown>;
  /** Per-case scored records in the truth's order (the task's CaseResult: e.g. label and probability); null before 1764800000000. */
  @Column({ type: 'jsonb', nullable: true }) perCase!: CaseResult[] | null;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
}
