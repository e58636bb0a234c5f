import { Inject, Injectable, Logger } from '@nestjs/common';
import { join } from 'node:path';
import { AuditService } from '../audit/audit.service';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { sandboxFault, sandboxLimitsFor } from '../runs/sandbox-faults';
import { classifyContainerExit } from '../sandbox/container-run';
import { EvaluationService } from '../runs/evaluation.service';
import type { SubmissionJobPayload } from '../queue/queue.payloads';
import { OnnxRunnerService } from '../sandbox/onnx-runner.service';
import { LABEL_RUN } from '../sandbox/sandbox-profile';
import { StorageService } from '../storage/storage.service';
import { SubmissionsRepository } from './submissions.repository';
import { ContainerImageInfo, OnnxModelManifest, SubmissionEntity, SubmissionManifest } from './submissions.entity';
import { staticOnnxCheck } from './onnx-static-check';
import type { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { FailureReason } from '../runs/evaluation.entity';
import { admitImageTarball } from '../containers/image-loader';
import { hostArchitecture } from '../containers/image-intake';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import type { JobContext } from '../queue/job-registry';
import { ActiveWork } from '../queue/active-work';
import { crashPoint } from '../queue/crash-points';
import { isTransientInfraFault } from '../queue/transient-faults';

/**
 * How many times a submission's check may start. A check that fails through Assay's fault (or whose worker dies) that
 * often ends visibly: the submission is rejected with a reason that says so, and its first phase's run fails as
 * `internal`, which keeps it out of the vendor's quota. A transient infrastructure fault does not count.
 */
export const MAX_CHECK_ATTEMPTS = 3;

type Verdict = { ok: boolean; reason: string | null; report: Record<string, unknown>; manifest?: SubmissionManifest; rejectedImage?: boolean; internal?: boolean };

interface CheckReport {
  ok: boolean;
  problems?: string[];
  model?: unknown;
}

/**
 * Checks a submitted model inside the sandbox (it must load in onnxruntime and fit the interface) before any run
 * starts. On success the submission is accepted and its first phase is queued.
 */
@Injectable()
export class SubmissionChecker {
  private readonly logger = new Logger('SubmissionChecker');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly storage: StorageService,
    private readonly runner: OnnxRunnerService,
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
      const transient = isTransientInfraFault(error);
      this.logger.error(`submission ${submission.id}: check attempt ${attempt} failed (${transient ? 'transient' : 'internal'}): ${error instanceof Error ? error.stack : String(error)}`);
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
    if (submission.kind === 'onnx') {
      // The static signature check (moved here from the upload request): a misfit is rejected before any sandbox.
      const fit = staticOnnxCheck(await this.storage.getBuffer('submissions', submission.objectKey), submission.manifest as OnnxModelManifest, def.interface, def.slug);
      submission.checkReport = { ...submission.checkReport, static: fit.inspection, ...(fit.ok ? {} : { problems: fit.problems }) };
      if (!fit.ok) {
        await this.settle(submission, version, { ok: false, reason: fit.reason, report: submission.checkReport });
        return;
      }
    }
    // A fresh dir per attempt: a tmpfs a killed check left mounted can never block the retry (EBUSY on rmdir),
    // and what earlier attempts left goes first.
    await this.sandbox.removeWorkDirsNamed(`check-${submission.id}-`);
    const workDir = await this.sandbox.createWorkDir(`check-${submission.id}-${attempt}`);
    let verdict: Verdict;
    if (submission.kind === 'container') {
      try {
        verdict = await this.checkContainer(submission, workDir);
      } finally {
        await this.sandbox.removeWorkDir(workDir);
      }
      await this.settle(submission, version, verdict);
      return;
    }
    try {
      const modelFile = join(workDir, 'model.onnx');
      await this.storage.downloadToFile('submissions', submission.objectKey, modelFile);
      const limits = { ...sandboxLimitsFor(version), timeoutMs: Math.min(120_000, def.limits.resources.timeoutSeconds * 1000) };
      const outcome = await this.runner.invoke({
        mode: 'check',
        workDir: join(workDir, 'sandbox'),
        modelFile,
        modelManifest: submission.manifest,
        batch: { benchmark: def.slug, task: def.task, interface: def.interface, cases: [] },
        limits,
        labels: { [LABEL_RUN]: `check-${submission.id}` },
      });
      let report: CheckReport | null = null;
      try {
        report = outcome.output ? (JSON.parse(outcome.output) as CheckReport) : null;
      } catch {
        report = null;
      }
      const exit = classifyContainerExit(outcome.result);
      const fault = exit ? sandboxFault(exit, { result: outcome.result, limits }) : null;
      if (report) {
        verdict = { ok: report.ok === true, reason: report.ok ? null : (report.problems ?? []).join('; ') || 'the model failed its check', report: { ...submission.checkReport, sandbox: report } };
      } else if (fault && fault.reason !== 'exit_nonzero') {
        verdict = { ok: false, reason: `loading the model ${fault.detail}`, report: { ...submission.checkReport } };
      } else if (outcome.result.exitCode === null) {
        throw new Error('the check container produced no exit code');
      } else {
        verdict = { ok: false, reason: `the model could not be checked (${fault?.detail ?? 'no check report'})`, report: { ...submission.checkReport } };
      }
    } finally {
      await this.sandbox.removeWorkDir(workDir);
    }
    await this.settle(submission, version, verdict);
  }

  /**
   * Intake then load: the tarball is inspected as a stream before the engine sees it; an accepted image is loaded
   * once and pinned by its ID. The tarball is downloaded from the object store because workers may run elsewhere.
   */
  private async checkContainer(submission: SubmissionEntity, workDir: string): Promise<{ ok: boolean; reason: string | null; report: Record<string, unknown>; manifest?: SubmissionManifest; rejectedImage?: boolean }> {
    const tarball = join(workDir, 'image.tar');
    await this.storage.downloadToFile('submissions', submission.objectKey, tarball);
    const admission = await admitImageTarball(this.sandbox, tarball, {
      maxUnpackedBytes: this.config.limits.maxImageUnpackedBytes,
      maxLayerCompressionRatio: 100,
      expectedArchitecture: hostArchitecture(),
    });
    if (!admission.ok) {
      return { ok: false, reason: `${admission.code}: ${admission.message}`, report: { intake: { code: admission.code, message: admission.message } }, rejectedImage: true };
    }
    const image: ContainerImageInfo = {
      imageId: admission.imageId,
      tarballSha256: admission.tarballSha256,
      runAs: admission.image.runAs,
      workingDir: admission.image.workingDir,
      architecture: admission.image.architecture,
      unpackedBytes: admission.image.unpackedBytes,
      repoTags: admission.image.repoTags,
    };
    return { ok: true, reason: null, report: { intake: { ...image, entrypoint: admission.image.entrypoint, cmd: admission.image.cmd, layers: admission.image.layers.length, loadMs: admission.loadMs, alreadyLoaded: admission.alreadyLoaded } }, manifest: { ...submission.manifest, image } };
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
