import { Inject, Injectable, Logger } from '@nestjs/common';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import type { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { Clock } from '../common/clock';
import { CohortsService } from '../cohorts/cohorts.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { LeaderboardsService } from '../leaderboards/leaderboards.service';
import type { RunJobPayload } from '../queue/queue.payloads';
import { BatchManifest, OnnxRunnerService } from '../sandbox/onnx-runner.service';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { classifySandboxOutcome, runVendorBatch } from '../sandbox/container-run';
import { RUN_LOG_BYTES, sandboxFault, sandboxLimitsFor, VendorFault } from './sandbox-faults';
import { admitImageTarball } from '../containers/image-loader';
import { hostArchitecture } from '../containers/image-intake';
import type { ContainerManifest, SubmissionEntity } from '../submissions/submissions.entity';
import { workerIdOf } from '../sandbox/sandbox.module';
import type { SandboxLimits, SandboxResult } from '../sandbox/sandbox.types';
import { LABEL_RUN } from '../sandbox/sandbox-profile';
import { joinRunLogs } from '../sandbox/capped-log';
import { StorageService } from '../storage/storage.service';
import { SubmissionsRepository } from '../submissions/submissions.repository';
import { FailureReason, RunEntity, RunPredictionEntity, RunStatus } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { adapterFor } from './task-scoring';
import type { SplitName } from '../cohorts/cohorts.entity';
import { MAX_INFRA_FAULTS, MAX_RUN_ATTEMPTS } from './run-state-machine';
import type { EntityManager } from 'typeorm';
import type { JobContext } from '../queue/job-registry';
import { ActiveWork } from '../queue/active-work';
import { crashPoint } from '../queue/crash-points';
import { retryDelayMs } from '../queue/queue.constants';
import { isTransientInfraFault } from '../queue/transient-faults';

const HEARTBEAT_MS = 5_000;

@Injectable()
export class RunExecutor {
  private readonly logger = new Logger('RunExecutor');
  private readonly workerId: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly evaluation: EvaluationService,
    private readonly repository: EvaluationRepository,
    private readonly submissions: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly cohorts: CohortsService,
    private readonly storage: StorageService,
    private readonly runner: OnnxRunnerService,
    private readonly leaderboards: LeaderboardsService,
    private readonly clock: Clock,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly active: ActiveWork,
  ) {
    this.workerId = workerIdOf(config);
  }

  /** Where this worker keeps a run's files; one directory per attempt (`<run>-<attempt>`). */
  /**
   * Step 1: prepare inputs, run the model batch by batch in the sandbox, validate and store predictions. Resumable:
   * the run's row says where it is; a run in flight that this process is not executing was lost by it and is handed
   * back, and each attempt starts by removing what an earlier attempt of the same run left on this host.
   */
  async execute(payload: RunJobPayload, opts: { gpus?: { deviceIds: string[] } } = {}): Promise<void> {
    await this.active.exclusive('runs', payload.runId, () => this.executeReserved(payload, opts));
  }

  private async executeReserved(payload: RunJobPayload, opts: { gpus?: { deviceIds: string[] } }): Promise<void> {
    const before = await this.evaluation.requireRun(payload.runId);
    if ((before.status === RunStatus.Preparing || before.status === RunStatus.Running) && before.workerId === this.workerId) {
      // Ours but not running here. Seen before this process started: a previous life was killed (counts as an
      // attempt, as a lost worker does). Seen since: this process could not record the outcome (the database was away).
      const previousLife = (before.heartbeatAt ?? before.queuedAt) < this.active.bootTime;
      await this.handBack(before, new Error(previousLife ? 'the worker executing this attempt was lost' : 'the attempt was lost by this worker before it could record its outcome'), !previousLife);
      return;
    }
    if (before.status !== RunStatus.Queued) return;
    const started = this.clock.now();
    const run = await this.evaluation.transition({
      runId: payload.runId,
      from: [RunStatus.Queued],
      to: RunStatus.Preparing,
      patch: { attempts: before.attempts + 1, workerId: this.workerId, heartbeatAt: started, startedAt: before.startedAt ?? started, timings: { ...before.timings, queueWaitMs: started.getTime() - before.queuedAt.getTime() } },
      auditPayload: { workerId: this.workerId, attempt: before.attempts + 1 },
    });
    if (!run) return;
    crashPoint('execute:preparing');
    let casesDone = 0;
    const heartbeat = setInterval(() => void this.repository.heartbeat(run.id, this.clock.now(), casesDone).catch(() => undefined), HEARTBEAT_MS);
    // A fresh dir per attempt under this worker's work root; what an earlier, killed attempt of this run left goes first.
    let workDir: string | null = null;
    try {
      await this.sandbox.removeWorkDirsNamed(`run-${run.id}-`);
      workDir = await this.sandbox.createWorkDir(`run-${run.id}-${run.attempts}`);
      const t0 = Date.now();
      const submission = await this.submissions.findById(run.submissionId);
      if (!submission) throw new Error(`submission ${run.submissionId} is gone`);
      const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
      const cohortVersion = await this.cohorts.requireVersion(version.cohortVersionId);
      await fs.mkdir(workDir, { recursive: true, mode: 0o700 });
      const modelFile = join(workDir, 'model.onnx');
      if (submission.kind === 'onnx') await this.storage.downloadToFile('submissions', submission.objectKey, modelFile);
      else await this.ensureImageLoaded(submission, workDir);
      const casesFile = this.cohorts.fileOf(cohortVersion, 'inputs', `${run.split}/cases.jsonl`);
      const cases = (await this.storage.getBuffer('inputs', casesFile.key))
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as { caseId: string; inputs: Record<string, unknown> });
      const prepareMs = Date.now() - t0;
      const running = await this.evaluation.transition({ runId: run.id, from: [RunStatus.Preparing], to: RunStatus.Running, patch: { heartbeatAt: this.clock.now(), timings: { ...run.timings, prepareMs } } });
      if (!running) return;
      crashPoint('execute:running');

      const def = version.definition;
      const adapter = adapterFor(def.task);
      const limits = sandboxLimitsFor(version);
      const predictions: RunPredictionEntity[] = [];
      const sandboxTimings = { sandboxCreateMs: 0, sandboxStartMs: 0, sandboxWaitMs: 0, sandboxRemoveMs: 0, sandboxTotalMs: 0 };
      const logs: Buffer[] = [];
      let imageId = '';
      let runtime = '';
      try {
        for (let offset = 0, batch = 1; offset < cases.length; offset += def.limits.resources.batchSize, batch++) {
          const batchCases = cases.slice(offset, offset + def.limits.resources.batchSize);
          const outcome = await this.runBatch({
            submission,
            workDir: join(workDir, `batch-${batch}`),
            modelFile,
            batch: { benchmark: def.slug, task: def.task, interface: def.interface, cases: batchCases },
            batchNumber: batch,
            limits,
            ...(opts.gpus ? { gpus: opts.gpus } : {}),
            runId: run.id,
          });
          imageId = outcome.imageId;
          runtime = outcome.runtime;
          const t = outcome.result.timings;
          sandboxTimings.sandboxCreateMs += t.createMs;
          sandboxTimings.sandboxStartMs += t.startMs;
          sandboxTimings.sandboxWaitMs += t.waitMs;
          sandboxTimings.sandboxRemoveMs += t.removeMs;
          sandboxTimings.sandboxTotalMs += t.totalMs;
          logs.push(outcome.result.logBytes);
          if (outcome.result.exitCode === null && !outcome.result.timedOut) throw new Error('the sandbox container produced no exit code');
          if (outcome.fault) throw outcome.fault;
          // classifySandboxOutcome reports a missing or unreadable predictions file; this is Assay's invariant.
          if (outcome.output === null) throw new Error(`batch ${batch}: no sandbox fault, yet no predictions were read`);
          const parsed = adapter.parsePredictions(outcome.output);
          if (!parsed.ok) {
            const first = parsed.error.issues[0];
            throw new VendorFault(FailureReason.InvalidOutput, `batch ${batch}, ${first ? `line ${first.line}: ${first.message}` : parsed.error.message}`);
          }
          const expected = new Set(batchCases.map((c) => c.caseId));
          const unknown = parsed.value.filter((p) => !expected.has(p.caseId));
          if (unknown.length > 0) {
            throw new VendorFault(FailureReason.InvalidOutput, `batch ${batch}: ${unknown.length} prediction(s) for cases not in this batch (first: '${unknown[0]?.caseId}')`);
          }
          for (const p of parsed.value) predictions.push({ runId: run.id, caseId: p.caseId, prediction: { [adapter.field]: p.value } });
          casesDone = Math.min(cases.length, offset + batchCases.length);
          await this.repository.heartbeat(run.id, this.clock.now(), casesDone);
        }
        const have = new Set(predictions.map((p) => p.caseId));
        const missing = cases.filter((c) => !have.has(c.caseId));
        if (missing.length > 0) {
          throw new VendorFault(FailureReason.MissingPredictions, `${missing.length} of ${cases.length} case(s) have no prediction (first: '${missing[0]?.caseId}'); a case without a prediction is a failure, never dropped`);
        }
      } catch (error) {
        if (error instanceof VendorFault) {
          await this.evaluation.fail(run.id, [RunStatus.Running], error.reason, error.detail, {
            logs: joinRunLogs(logs, RUN_LOG_BYTES),
            runnerImageId: imageId || null,
            sandboxRuntime: runtime || null,
            timings: { ...run.timings, prepareMs, ...sandboxTimings },
          });
          this.logger.log(`run ${run.id} failed: ${error.reason}: ${error.detail}`);
          return;
        }
        throw error;
      }
      const scoring = await this.evaluation.transition(
        {
          runId: run.id,
          from: [RunStatus.Running],
          to: RunStatus.Scoring,
          patch: { casesDone: cases.length, heartbeatAt: this.clock.now(), logs: joinRunLogs(logs, RUN_LOG_BYTES), runnerImageId: imageId, sandboxRuntime: runtime, timings: { ...run.timings, prepareMs, ...sandboxTimings } },
        },
        async (tx) => {
          await this.repository.deletePredictions(tx, run.id);
          await this.repository.insertPredictions(tx, predictions);
        },
      );
      if (!scoring) return;
      crashPoint('execute:scoring-committed');
      // If this enqueue is lost (Redis away, or a kill right here), the sweep finds `scoring` without a job.
      await this.evaluation.enqueueScore(run.id).catch((e: unknown) => this.logger.warn(`run ${run.id}: score job not queued yet (${String(e)}); the sweep will`));
    } catch (error) {
      await this.handBack(run, error, isTransientInfraFault(error));
    } finally {
      clearInterval(heartbeat);
      // Unmounts and removes whatever the attempt left, at any depth; logs (never throws) when it cannot.
      if (workDir) await this.sandbox.removeWorkDir(workDir);
    }
  }

  /** One batch in the sandbox: the facility's ONNX runner, or the vendor's own image, under the same contract. */
  private async runBatch(input: {
    submission: SubmissionEntity;
    workDir: string;
    modelFile: string;
    batch: BatchManifest;
    batchNumber: number;
    limits: SandboxLimits;
    gpus?: { deviceIds: string[] };
    runId: string;
  }): Promise<{ result: SandboxResult; output: string | null; imageId: string; runtime: string; fault: VendorFault | null }> {
    const labels = { [LABEL_RUN]: input.runId };
    if (input.submission.kind === 'onnx') {
      const o = await this.runner.invoke({ mode: 'predict', workDir: input.workDir, modelFile: input.modelFile, modelManifest: input.submission.manifest, batch: input.batch, limits: input.limits, ...(input.gpus ? { gpus: input.gpus } : {}), labels });
      // The runner reads predictions without following links; a missing or unreadable file is invalid output.
      const code = classifySandboxOutcome(o.result, 'file', o.output);
      return { result: o.result, output: o.output, imageId: o.imageId, runtime: o.runtime, fault: code ? sandboxFault(code, { result: o.result, limits: input.limits, batch: input.batchNumber }) : null };
    }
    const image = (input.submission.manifest as ContainerManifest).image;
    if (!image) throw new Error(`container submission ${input.submission.id} has no admitted image`);
    const { runtime } = await this.runner.resolveRuntime();
    const o = await runVendorBatch(this.sandbox, {
      image: { imageId: image.imageId, runAs: image.runAs, workingDir: image.workingDir },
      workDir: input.workDir,
      batch: input.batch,
      limits: input.limits,
      runtime,
      ...(input.gpus ? { gpus: input.gpus } : {}),
      labels,
    });
    const fault = o.failure ? sandboxFault(o.failure, { result: o.result, limits: input.limits, batch: input.batchNumber, predictionsFile: o.predictionsFile }) : null;
    return { result: o.result, output: o.predictions, imageId: image.imageId, runtime, fault };
  }

  /** A worker on another host may not hold the image yet: the stored tarball goes through intake and load again. */
  private async ensureImageLoaded(submission: SubmissionEntity, workDir: string): Promise<void> {
    const image = (submission.manifest as ContainerManifest).image;
    if (!image) throw new Error(`container submission ${submission.id} has no admitted image`);
    if (await this.sandbox.isImageLoaded(image.imageId)) return;
    const tarball = join(workDir, 'image.tar');
    await this.storage.downloadToFile('submissions', submission.objectKey, tarball);
    const admission = await admitImageTarball(this.sandbox, tarball, { maxUnpackedBytes: this.config.limits.maxImageUnpackedBytes, maxLayerCompressionRatio: 100, expectedArchitecture: hostArchitecture() });
    await fs.rm(tarball, { force: true });
    if (!admission.ok || admission.imageId !== image.imageId) throw new Error(`stored image of submission ${submission.id} no longer loads as ${image.imageId}`);
  }

  /**
   * Assay's own fault: the run goes back to the queue with a new job after a backoff, or, past its budget, fails as
   * internal (never counted against the vendor). A transient infrastructure fault (a component restarting) does not
   * use up the run's attempts: it has its own budget, MAX_INFRA_FAULTS, whose backoff sum (about 7 min) outlasts a
   * restart. If even the hand-back cannot be written, the error is thrown and Bull retries this job with backoff;
   * the retry finds the run in flight under this worker but not active here, and hands it back then.
   */
  private async handBack(run: RunEntity, error: unknown, transient: boolean): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(`run ${run.id} attempt ${run.attempts}: ${transient ? 'transient infrastructure' : 'internal'} fault: ${error instanceof Error ? error.stack : message}`);
    const from = [RunStatus.Preparing, RunStatus.Running];
    try {
      const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
      const current = await this.evaluation.requireRun(run.id);
      if (!from.includes(current.status)) return;
      const infraFaults = current.infraFaults + (transient ? 1 : 0);
      if ((transient && infraFaults > MAX_INFRA_FAULTS) || (!transient && current.attempts >= MAX_RUN_ATTEMPTS)) {
        await this.evaluation.fail(run.id, from, FailureReason.Internal, transient
          ? `Assay's infrastructure stayed unreachable through ${infraFaults} tries (not the vendor's fault): ${message.slice(0, 300)}`
          : `Assay could not complete this run after ${current.attempts} attempts (not the vendor's fault)`);
        return;
      }
      const back = await this.evaluation.transition({
        runId: run.id,
        from,
        to: RunStatus.Queued,
        patch: transient ? { attempts: Math.max(0, current.attempts - 1), infraFaults } : {},
        auditPayload: { [transient ? 'transientFault' : 'internalFault']: message.slice(0, 500) },
      });
      if (!back) return;
      await this.evaluation.enqueueExecute(back, version, retryDelayMs(transient ? infraFaults : back.attempts));
    } catch (recordError) {
      this.logger.warn(`run ${run.id}: could not hand the run back (${String(recordError)}); the job is retried`);
      throw error;
    }
  }

  /**
   * Step 2: score against the truth (read here, never mounted anywhere) and commit `succeeded` together with the
   * result and the next phase's run, so a kill after the commit cannot lose the next phase. The follow-ups (queue the
   * next run, rebuild the leaderboard) are idempotent: a score job that finds the run already succeeded does them again.
   */
  async score(payload: RunJobPayload, ctx?: Pick<JobContext, 'attempt' | 'maxAttempts'>): Promise<void> {
    const run = await this.evaluation.requireRun(payload.runId);
    if (run.status === RunStatus.Succeeded) return this.afterSucceeded(run);
    if (run.status !== RunStatus.Scoring) return;
    crashPoint('score:started');
    try {
      await this.scoreOnce(run);
    } catch (error) {
      // A bug (not a restarting component) fails the run as internal once Bull's attempts are used up.
      if (!isTransientInfraFault(error) && ctx && ctx.attempt >= ctx.maxAttempts) {
        this.logger.error(`run ${run.id}: scoring failed ${ctx.attempt} times: ${error instanceof Error ? error.stack : String(error)}`);
        await this.evaluation.fail(run.id, [RunStatus.Scoring], FailureReason.Internal, `Assay could not score this run after ${ctx.attempt} attempts (not the vendor's fault)`);
        return;
      }
      throw error;
    }
  }

  private async scoreOnce(run: RunEntity): Promise<void> {
    const t0 = Date.now();
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    const cohortVersion = await this.cohorts.requireVersion(version.cohortVersionId);
    const truthFile = this.cohorts.fileOf(cohortVersion, 'truth', `${run.split}/labels.csv`);
    const truthText = (await this.storage.getBuffer('truth', truthFile.key)).toString('utf8');
    const adapter = adapterFor(version.definition.task);
    const rows = await this.repository.findPredictions(run.id);
    const predictions = new Map(rows.map((r) => [r.caseId, Number(r.prediction[adapter.field])]));
    const metadata = await this.cohorts.caseMetadata(cohortVersion.id, run.split as SplitName);
    const report = adapter.score({ truthText, predictions, definition: version.definition, metadata });
    if ('missing' in report) {
      await this.evaluation.fail(run.id, [RunStatus.Scoring], FailureReason.MissingPredictions, `${report.missing.length} case(s) have no prediction (first: '${report.missing[0]}')`);
      return;
    }
    const known = new Set(metadata.keys());
    const unknown = rows.filter((r) => !known.has(r.caseId));
    if (unknown.length > 0) {
      await this.evaluation.fail(run.id, [RunStatus.Scoring], FailureReason.InvalidOutput, `${unknown.length} prediction(s) name cases outside this split (first: '${unknown[0]?.caseId}')`);
      return;
    }
    const submission = await this.submissions.findById(run.submissionId);
    const scoringMs = Date.now() - t0;
    const finished = await this.evaluation.transition(
      {
        runId: run.id,
        from: [RunStatus.Scoring],
        to: RunStatus.Succeeded,
        patch: { metricCodeVersion: report.metricCodeVersion, timings: { ...run.timings, scoringMs, totalMs: Date.now() - run.queuedAt.getTime() } },
        auditPayload: { primary: version.definition.metrics.primary, value: report.metrics[version.definition.metrics.primary]?.value ?? null },
      },
      async (tx) => {
        await this.repository.insertResult(tx, {
          runId: run.id,
          n: report.n,
          metrics: report.metrics,
          details: { ...report.details, metricCodeVersion: report.metricCodeVersion, subgroups: report.subgroups },
        });
        if (submission) await this.createNextPhaseRun(tx, run, version, submission);
      },
    );
    if (!finished) return;
    crashPoint('score:succeeded-committed');
    await this.afterSucceeded(finished);
  }

  /** Pre-flight: a submission goes on to the next phase (sample → held-out test) only after passing the one before. */
  private async createNextPhaseRun(tx: EntityManager, run: RunEntity, version: BenchmarkVersionEntity, submission: SubmissionEntity): Promise<RunEntity | null> {
    const next = nextPhaseOf(version, run.phase);
    if (!next) return null;
    return this.evaluation.createRun(tx, { submission, version, phase: next, actorUserId: null });
  }

  /**
   * What follows a success, each part idempotent: the next phase's run exists (created with the commit; created here
   * for a run that succeeded before that was so) and has a live job, and the leaderboard is rebuilt.
   */
  async afterSucceeded(run: RunEntity): Promise<void> {
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    const next = nextPhaseOf(version, run.phase);
    if (next) {
      let nextRun = await this.repository.findRunBySubmissionAndPhase(run.submissionId, next);
      const submission = nextRun ? null : await this.submissions.findById(run.submissionId);
      if (!nextRun && submission) nextRun = await this.evaluation.createRunAndCommit({ submission, version, phase: next, actorUserId: null });
      if (nextRun?.status === RunStatus.Queued) await this.evaluation.ensureExecuteQueued(nextRun, version);
      crashPoint('score:next-phase-queued');
    }
    await this.leaderboards.materialize(version.id, run.phase);
  }
}

/** The phase after `phase` in the benchmark's order, if any. */
export function nextPhaseOf(version: BenchmarkVersionEntity, phase: string): string | null {
  const phases = version.definition.phases;
  return phases[phases.findIndex((p) => p.name === phase) + 1]?.name ?? null;
}

