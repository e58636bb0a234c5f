import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { Database } from '../database/database.module';
import { ActiveWork } from '../queue/active-work';
import { crashPoint } from '../queue/crash-points';
import type { JobContext } from '../queue/job-registry';
import type { SubmissionJobPayload } from '../queue/queue.payloads';
import { isTransientInfraFault } from '../queue/transient-faults';
import { isWorkerDraining } from '../queue/worker-draining';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import type { SubmissionEntity } from '../submissions/submissions.entity';
import { SubmissionsRepository } from '../submissions/submissions.repository';
import { BatchExecutors, type CheckVerdict } from './batch-executor';
import { FailureReason } from './evaluation.entity';
import { EvaluationService } from './evaluation.service';
import { sandboxLimitsFor } from './sandbox-faults';

/**
 * How many times a submission's check may start. A check that fails through Assay's fault (or whose worker dies) that
 * often ends visibly: the submission is rejected with a reason that says so, and its first phase's run fails as
 * `internal`, which keeps it out of the vendor's quota. A transient infrastructure fault does not count.
 */
export const MAX_CHECK_ATTEMPTS = 3;

/** A check's verdict; `internal`: Assay could not check the submission (not the vendor's fault). */
type Verdict = CheckVerdict & { internal?: boolean };

/**
 * The first step of the run machinery (job `check-submission`): before any run starts, the submission is checked in
 * the sandbox by its executor (an ONNX model must fit the interface and load in onnxruntime; an image must pass
 * intake and load). On success the submission is accepted and its first phase's run is created and queued; intake
 * (src/submissions) only stores the upload and queues this job.
 */
@Injectable()
export class ModelCheckStep {
  private readonly logger = new Logger('ModelCheckStep');

  constructor(
    private readonly repository: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly executors: BatchExecutors,
    private readonly evaluation: EvaluationService,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly active: ActiveWork,
  ) {}

  /**
   * One attempt of the check, counted in the submission's row before it starts (check_attempts). Idempotent: a
   * submission no longer `validating` is left alone, and each attempt starts by removing what an earlier one left.
   */
  async check(payload: SubmissionJobPayload, ctx?: Pick<JobContext, 'attempt' | 'maxAttempts'>): Promise<void> {
    await this.active.exclusive('checks', payload.submissionId, () => this.checkReserved(payload, ctx));
  }

  private async checkReserved(payload: SubmissionJobPayload, ctx?: Pick<JobContext, 'attempt' | 'maxAttempts'>): Promise<void> {
    const submission = await this.repository.findById(payload.submissionId);
    if (!submission || submission.status !== 'validating') return;
    const version = await this.benchmarks.requireVersion(submission.benchmarkVersionId);
    const attempt = await this.claimAttempt(submission.id);
    if (attempt === null) return;
    if (attempt > MAX_CHECK_ATTEMPTS) {
      await this.settle(submission, version, internalVerdict(submission, attempt - 1, 'its check kept failing'));
      return;
    }
    try {
      crashPoint('check:started');
      await this.checkOnce(submission, version, attempt);
      crashPoint('check:settled');
    } catch (error) {
      // A worker shutting down stopped the check: as a transient fault, not counted, and the job is retried elsewhere.
      const drained = isWorkerDraining(error);
      const transient = drained || isTransientInfraFault(error);
      if (drained) this.logger.warn(`submission ${submission.id}: check attempt ${attempt} handed back uncounted: ${(error as Error).message}`);
      else this.logger.error(`submission ${submission.id}: check attempt ${attempt} failed (${transient ? 'transient' : 'internal'}): ${error instanceof Error ? error.stack : String(error)}`);
      if (transient) {
        // Not counted; Bull retries with backoff (127 s in all), then the sweep queues the check again.
        await this.db.manager().query('UPDATE submissions SET check_attempts = greatest(check_attempts - 1, 0) WHERE id = $1', [submission.id]).catch(() => undefined);
        throw error;
      }
      if (attempt >= MAX_CHECK_ATTEMPTS || (ctx !== undefined && ctx.attempt >= ctx.maxAttempts)) {
        await this.settle(submission, version, internalVerdict(submission, attempt, error instanceof Error ? error.message : String(error)));
        return;
      }
      throw error;
    }
  }

  /** Counts one more start of the check, under the row lock; null when the submission is no longer validating. */
  private async claimAttempt(submissionId: string): Promise<number | null> {
    const rows: { check_attempts: number }[] = await this.db.manager().query(
      // As a SELECT (TypeORM answers an UPDATE … RETURNING with [rows, count]).
      `WITH claimed AS (UPDATE submissions SET check_attempts = check_attempts + 1 WHERE id = $1 AND status = 'validating' RETURNING check_attempts) SELECT check_attempts FROM claimed`,
      [submissionId],
    );
    return rows[0]?.check_attempts ?? null;
  }

  private async checkOnce(submission: SubmissionEntity, version: BenchmarkVersionEntity, attempt: number): Promise<void> {
    const def = version.definition;
    // A fresh dir per attempt: a tmpfs a killed check left mounted can never block the retry (EBUSY on rmdir),
    // and what earlier attempts left goes first.
    await this.sandbox.removeWorkDirsNamed(`check-${submission.id}-`);
    const workDir = await this.sandbox.createWorkDir(`check-${submission.id}-${attempt}`);
    let verdict: Verdict;
    try {
      verdict = await this.executors.for(submission).check({
        workDir,
        definition: def,
        limits: { ...sandboxLimitsFor(version), timeoutMs: Math.min(120_000, def.limits.resources.timeoutSeconds * 1000) },
        label: `check-${submission.id}`,
      });
    } finally {
      await this.sandbox.removeWorkDir(workDir);
    }
    await this.settle(submission, version, verdict);
  }

  /** Records the verdict; an accepted submission gets its first phase queued, a rejected image a failed run saying why. */
  private async settle(
    submission: SubmissionEntity,
    version: BenchmarkVersionEntity,
    verdict: Verdict,
  ): Promise<void> {
    const def = version.definition;
    const firstPhase = def.phases[0];
    const run = await this.db.transaction(async (tx) => {
      const locked = await this.repository.lockForUpdate(tx, submission.id);
      if (!locked || locked.status !== 'validating') return null;
      await this.repository.update(tx, submission.id, { status: verdict.ok ? 'accepted' : 'rejected', rejectionReason: verdict.reason, checkReport: verdict.report, ...(verdict.manifest ? { manifest: verdict.manifest } : {}) });
      await this.audit.record(tx, {
        actorUserId: null,
        action: verdict.ok ? 'submission.accepted' : 'submission.rejected',
        entityType: 'submission',
        entityId: submission.id,
        payload: verdict.ok ? {} : { reason: verdict.reason, ...(verdict.internal ? { internal: true } : {}) },
      });
      if (!firstPhase) return null;
      if (!verdict.ok) {
        if (verdict.internal) {
          // Assay's fault, said so on the submission and on its first run; an internal run keeps it out of the quota.
          const failed = await this.evaluation.createRun(tx, { submission, version, phase: firstPhase.name, actorUserId: null });
          await this.evaluation.failInTransaction(tx, failed, FailureReason.Internal, verdict.reason ?? 'Assay could not check this submission');
        } else if (verdict.rejectedImage) {
          // The failure taxonomy names rejected images: the first phase's run records it for the vendor.
          const failed = await this.evaluation.createRun(tx, { submission, version, phase: firstPhase.name, actorUserId: null });
          await this.evaluation.failInTransaction(tx, failed, FailureReason.RejectedImage, verdict.reason ?? 'the image was rejected');
        }
        return null;
      }
      return this.evaluation.createRun(tx, { submission, version, phase: firstPhase.name, actorUserId: null });
    });
    this.logger.log(`submission ${submission.id}: ${verdict.ok ? 'accepted' : `rejected (${verdict.reason})`}`);
    if (run) await this.evaluation.enqueueExecute(run, version);
  }
}

function internalVerdict(submission: SubmissionEntity, attempts: number, why: string): Verdict {
  return {
    ok: false,
    internal: true,
    reason: `Assay could not check this submission after ${attempts} attempt(s) (not the vendor's fault; it does not count against the submission limits): ${why.slice(0, 300)}`,
    report: { ...submission.checkReport, internal: { attempts } },
  };
}
