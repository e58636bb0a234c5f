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
import { admitImageTarball } from '../images/image-loader';
import { hostArchitecture } from '../images/image-intake';
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
import { MAX_RUN_ATTEMPTS } from './run-state-machine';

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
  ) {
    this.workerId = workerIdOf(config);
  }

  /** Step 1: prepare inputs, run the model batch by batch in the sandbox, validate and store predictions. */
  async execute(payload: RunJobPayload, opts: { gpus?: { deviceIds: string[] } } = {}): Promise<void> {
    const before = await this.evaluation.requireRun(payload.runId);
    const started = this.clock.now();
    const run = await this.evaluation.transition({
      runId: payload.runId,
      from: [RunStatus.Queued],
      to: RunStatus.Preparing,
      patch: { attempts: before.attempts + 1, workerId: this.workerId, heartbeatAt: started, startedAt: before.startedAt ?? started, timings: { ...before.timings, queueWaitMs: started.getTime() - before.queuedAt.getTime() } },
      auditPayload: { workerId: this.workerId, attempt: before.attempts + 1 },
    });
    if (!run) return;
    let casesDone = 0;
    const heartbeat = setInterval(() => void this.repository.heartbeat(run.id, this.clock.now(), casesDone).catch(() => undefined), HEARTBEAT_MS);
    // A fresh dir per attempt under this worker's work root: a mount a killed attempt left can never be in the way.
    let workDir: string | null = null;
    try {
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
      await this.evaluation.transition({ runId: run.id, from: [RunStatus.Preparing], to: RunStatus.Running, patch: { heartbeatAt: this.clock.now(), timings: { ...run.timings, prepareMs } } });

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
      await this.evaluation.transition(
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
      await this.evaluation.enqueueScore(run.id);
    } catch (error) {
      await this.handleInternalFault(run, error);
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

  /** Assay's own fault: hand the run back to the queue (Bull retries the job) or, past the attempts, fail it as internal. */
  private async handleInternalFault(run: RunEntity, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(`run ${run.id} attempt ${run.attempts}: internal fault: ${error instanceof Error ? error.stack : message}`);
    if (run.attempts < MAX_RUN_ATTEMPTS) {
      const back = await this.evaluation.transition({ runId: run.id, from: [RunStatus.Preparing, RunStatus.Running], to: RunStatus.Queued, auditPayload: { internalFault: message.slice(0, 500) } });
      if (back) throw error;
      return;
    }
    await this.evaluation.fail(run.id, [RunStatus.Preparing, RunStatus.Running, RunStatus.Queued], FailureReason.Internal, `Assay could not complete this run after ${run.attempts} attempts (not the vendor's fault)`);
  }

  /** Step 2: score against the truth (read here, never mounted anywhere), store results, rebuild the leaderboard. */
  async score(payload: RunJobPayload): Promise<void> {
    const run = await this.evaluation.requireRun(payload.runId);
    if (run.status !== RunStatus.Scoring) return;
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
      },
    );
    if (!finished) return;
    await this.leaderboards.materialize(version.id, run.phase);
    await this.startNextPhase(run, version);
  }

  /** Pre-flight: a submission goes on to the next phase (sample → held-out test) only after passing the one before. */
  private async startNextPhase(run: RunEntity, version: BenchmarkVersionEntity): Promise<void> {
    const phases = version.definition.phases;
    const next = phases[phases.findIndex((p) => p.name === run.phase) + 1];
    if (!next) return;
    const submission = await this.submissions.findById(run.submissionId);
    if (!submission) return;
    const nextRun = await this.evaluation.createRunAndCommit({ submission, version, phase: next.name, actorUserId: null });
    await this.evaluation.enqueueExecute(nextRun, version);
  }
}

