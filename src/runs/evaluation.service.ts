import { Injectable, Logger, Optional } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import type { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { Clock } from '../common/clock';
import { notFound } from '../common/domain-error';
import { CohortsService } from '../cohorts/cohorts.service';
import { Database } from '../database/database.module';
import { AssayMetrics } from '../observability/metrics';
import { JobName, QueueName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';
import type { SubmissionEntity } from '../submissions/submissions.entity';
import { EvaluationResultEntity, FailureReason, RunEntity, RunStatus } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { type Attempt, RunArtifactsGc, sameAttempt } from './run-artifacts';
import { observeRunFinished } from './run-metrics';
import { assertTransition, TERMINAL_STATUSES } from './run-state-machine';

export interface TransitionInput {
  runId: string;
  from: readonly RunStatus[];
  to: RunStatus;
  patch?: Partial<RunEntity>;
  actorUserId?: string | null;
  auditPayload?: Record<string, unknown>;
  /**
   * Only while the row still names this attempt: one handed back while it ran on (its worker was judged lost) and
   * replaced by a later one commits nothing, so its objects are never referenced and may go when the next one starts.
   */
  attempt?: Attempt;
}

/**
 * The execution job of a run's current attempt, on the GPU queue when the benchmark needs a GPU. An attempt handed
 * back for a transient fault keeps its number, so the id also names how many such hand-backs there were.
 */
function executeJob(run: RunEntity, version: BenchmarkVersionEntity): { name: JobName.ExecuteRun; payload: { runId: string }; jobId: string; queue: QueueName } {
  return {
    name: JobName.ExecuteRun,
    payload: { runId: run.id },
    // Unique per hand-back: internal faults raise attempts, transient ones infraFaults, shutdowns drains.
    jobId: `${run.id}:execute:${run.attempts}${run.infraFaults ? `:i${run.infraFaults}` : ''}${run.drains ? `:d${run.drains}` : ''}`,
    queue: version.definition.limits.resources.gpus > 0 ? QueueName.SandboxGpu : QueueName.SandboxCpu,
  };
}

@Injectable()
export class EvaluationService {
  private readonly logger = new Logger('EvaluationService');

  constructor(
    private readonly repository: EvaluationRepository,
    private readonly cohorts: CohortsService,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly queue: QueueService,
    private readonly clock: Clock,
    private readonly artifacts: RunArtifactsGc,
    @Optional() private readonly metrics?: AssayMetrics,
  ) {}

  runsOfSubmission(submissionId: string): Promise<RunEntity[]> {
    return this.repository.findRunsBySubmission(submissionId);
  }

  /** Vendors see logs and failure details only for public (sample-split) phases; held-out runs say status and reason code. */
  mayShowDetail(principal: Principal, run: RunEntity): boolean {
    return principal.role !== Role.Vendor || run.split === 'sample';
  }

  /** Creates the run of one phase for a submission (once: unique per submission and phase). */
  async createRun(tx: EntityManager, input: { submission: SubmissionEntity; version: BenchmarkVersionEntity; phase: string; actorUserId: string | null }): Promise<RunEntity> {
    const phase = input.version.definition.phases.find((p) => p.name === input.phase);
    if (!phase) throw new Error(`benchmark version ${input.version.id} has no phase ${input.phase}`);
    const existing = await this.repository.findRunBySubmissionAndPhase(input.submission.id, input.phase, tx);
    if (existing) return existing;
    const cohortVersion = await this.cohorts.requireVersion(input.version.cohortVersionId);
    const casesTotal = cohortVersion.manifest.split.counts[phase.split];
    const run = await this.repository.insertRun(tx, {
      submissionId: input.submission.id,
      benchmarkVersionId: input.version.id,
      phase: phase.name,
      split: phase.split,
      status: RunStatus.Queued,
      failureReason: null,
      failureDetail: null,
      attempts: 0,
      casesTotal: Object.values(casesTotal ?? {}).reduce((a, b) => a + b, 0),
      casesDone: 0,
      modelSha256: input.submission.sha256,
      cohortContentHash: cohortVersion.contentHash,
      benchmarkContentHash: input.version.contentHash,
      timings: {},
    });
    await this.audit.record(tx, { actorUserId: input.actorUserId, action: 'run.queued', entityType: 'run', entityId: run.id, payload: { submissionId: input.submission.id, phase: phase.name, split: phase.split } });
    return run;
  }

  createRunAndCommit(input: { submission: SubmissionEntity; version: BenchmarkVersionEntity; phase: string; actorUserId: string | null }): Promise<RunEntity> {
    return this.db.transaction((tx) => this.createRun(tx, input));
  }

  /** Queues the execution step; benchmarks that need a GPU go to the GPU queue, which only GPU workers consume. */
  async enqueueExecute(run: RunEntity, version: BenchmarkVersionEntity, delayMs?: number): Promise<void> {
    await this.queue.enqueue({ ...executeJob(run, version), ...(delayMs ? { delayMs } : {}) });
  }

  /** Re-queues the execution job of a queued run when Redis has no live job for it (returns whether it did). */
  async ensureExecuteQueued(run: RunEntity, version: BenchmarkVersionEntity, delayMs?: number): Promise<boolean> {
    return this.queue.ensureQueued({ ...executeJob(run, version), ...(delayMs ? { delayMs } : {}) });
  }

  async enqueueScore(runId: string): Promise<void> {
    await this.queue.enqueue({ name: JobName.ScoreRun, payload: { runId }, jobId: `${runId}:score` });
  }

  /**
   * One step of the state machine: lock the row, check the expected prior state, write the next one and its audit
   * entry. Returns null when the run is not in an expected state (another worker moved it on): the caller skips.
   * After a commit to a finished state, the run's artifact objects that no stored prediction references are removed
   * (a follow-up: when it fails or is lost to a crash, the recovery sweep does it).
   */
  async transition(input: TransitionInput, work?: (tx: EntityManager, run: RunEntity) => Promise<void>): Promise<RunEntity | null> {
    const done = await this.db.transaction(async (tx) => {
      const run = await this.repository.lockRunForTransition(tx, input.runId);
      if (!run) throw notFound('run', input.runId);
      if (!input.from.includes(run.status)) return null;
      if (input.attempt && !sameAttempt(run, input.attempt)) return null;
      assertTransition(run.status, input.to);
      if (work) await work(tx, run);
      const patch: Partial<RunEntity> = { ...input.patch, status: input.to };
      if (input.to === RunStatus.Succeeded || input.to === RunStatus.Failed || input.to === RunStatus.Cancelled) patch.finishedAt = this.clock.now();
      await this.repository.updateRun(tx, run.id, patch);
      await this.audit.record(tx, {
        actorUserId: input.actorUserId ?? null,
        action: `run.${input.to}`,
        entityType: 'run',
        entityId: run.id,
        payload: { from: run.status, to: input.to, ...(patch.failureReason ? { reason: patch.failureReason } : {}), ...input.auditPayload },
      });
      return { ...run, ...patch } as RunEntity;
    });
    if (done && TERMINAL_STATUSES.includes(done.status)) {
      // Once per run: only the transaction that moved it to a final state gets here with `done`.
      observeRunFinished(this.metrics, done);
      await this.artifacts.collect(done.id).catch((e: unknown) => this.logger.warn(`run ${done.id}: artifact objects not collected yet (${String(e)}); the sweep will`));
    }
    return done;
  }

  /** Fails a run just created in the same transaction (queued → failed), with its audit entry. */
  async failInTransaction(tx: EntityManager, run: RunEntity, reason: FailureReason, detail: string): Promise<void> {
    assertTransition(run.status, RunStatus.Failed);
    await this.repository.updateRun(tx, run.id, { status: RunStatus.Failed, failureReason: reason, failureDetail: detail.slice(0, 2000), finishedAt: this.clock.now() });
    await this.audit.record(tx, { actorUserId: null, action: 'run.failed', entityType: 'run', entityId: run.id, payload: { from: run.status, to: RunStatus.Failed, reason } });
    // Counted before the caller's commit: a rollback would leave it counted (these are refusals at creation, rare).
    observeRunFinished(this.metrics, { status: RunStatus.Failed, failureReason: reason, timings: {} });
  }

  async fail(runId: string, from: readonly RunStatus[], reason: FailureReason, detail: string, patch: Partial<RunEntity> = {}, attempt?: TransitionInput['attempt']): Promise<RunEntity | null> {
    return this.transition({ runId, from, to: RunStatus.Failed, patch: { ...patch, failureReason: reason, failureDetail: detail.slice(0, 2000) }, ...(attempt ? { attempt } : {}) });
  }

  /** True when the benchmark needs a GPU and no worker with one has shown a sign of life in the last 30 s. */
  async waitingForGpuWorker(version: BenchmarkVersionEntity): Promise<boolean> {
    if (version.definition.limits.resources.gpus === 0) return false;
    return (await this.repository.countLiveGpuWorkers(new Date(this.clock.now().getTime() - 30_000))) === 0;
  }

  async requireRun(id: string): Promise<RunEntity> {
    const run = await this.repository.findRun(id);
    if (!run) throw notFound('run', id);
    return run;
  }

  findResult(runId: string): Promise<EvaluationResultEntity | null> {
    return this.repository.findResult(runId);
  }
}
