import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { CohortVersionEntity } from '../cohorts/cohorts.entity';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import type { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { Clock } from '../common/clock';
import { CohortsService } from '../cohorts/cohorts.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { LeaderboardsService } from '../leaderboards/leaderboards.service';
import { addLogContext } from '../observability/log-context';
import { AssayMetrics } from '../observability/metrics';
import type { RunJobPayload } from '../queue/queue.payloads';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { RUN_LOG_BYTES, sandboxLimitsFor } from './sandbox-faults';
import type { SubmissionEntity } from '../submissions/submissions.entity';
import { workerIdOf } from '../sandbox/sandbox.module';
import { joinRunLogs } from '../sandbox/capped-log';
import { StorageService } from '../storage/storage.service';
import { sha256Hex } from '../common/hashing';
import { SubmissionsRepository } from '../submissions/submissions.repository';
import { taskDefinition } from '../tasks/registry';
import { TruthCache } from '../tasks/truth-cache';
import { FailureReason, RunEntity, RunStatus, type RunDeterminism, type RunTimings } from './evaluation.entity';
import { checkDeterminism } from './determinism-check';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { type BatchExecutor, BatchExecutors } from './batch-executor';
import { type BatchesOutcome, type BatchWork, downloadCaseFiles, type RunCase, runBatches } from './run-batches';
import type { SplitName } from '../cohorts/cohorts.entity';
import { MAX_INFRA_FAULTS, MAX_RUN_ATTEMPTS } from './run-state-machine';
import type { EntityManager } from 'typeorm';
import type { JobContext } from '../queue/job-registry';
import { ActiveWork } from '../queue/active-work';
import { crashPoint } from '../queue/crash-points';
import { retryDelayMs } from '../queue/queue.constants';
import { isTransientInfraFault } from '../queue/transient-faults';
import { isWorkerDraining } from '../queue/worker-draining';
import { ReportsService } from '../reports/reports.service';
import { attemptSegment, RunArtifactsGc, sameAttempt } from './run-artifacts';
import { FederatedRuns, phaseFederation } from './federated-runs';
import { OrganisationEntity } from '../auth/auth.entity';
import { Database } from '../database/database.module';
import type { TaskScore } from '../tasks/task-definition';

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
    private readonly executorsOf: BatchExecutors,
    private readonly leaderboards: LeaderboardsService,
    private readonly clock: Clock,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly active: ActiveWork,
    private readonly truth: TruthCache,
    private readonly reports: ReportsService,
    private readonly artifacts: RunArtifactsGc,
    private readonly federated: FederatedRuns,
    private readonly db: Database,
    @Optional() private readonly metrics?: AssayMetrics,
  ) {
    this.workerId = workerIdOf(config);
  }

  /**
   * Prepare → run batches → collect: inputs and the algorithm made ready, the cases run batch by batch through the
   * submission's executor and parsed by the task, predictions stored. Resumable:
   * the run's row says where it is; a run in flight that this process is not executing was lost by it and is handed
   * back, and each attempt starts by removing what an earlier attempt of the same run left on this host.
   */
  async execute(payload: RunJobPayload, opts: { gpus?: { deviceIds: string[] } } = {}): Promise<void> {
    await this.active.exclusive('runs', payload.runId, () => this.executeReserved(payload, opts));
  }

  private async executeReserved(payload: RunJobPayload, opts: { gpus?: { deviceIds: string[] } }): Promise<void> {
    const before = await this.evaluation.requireRun(payload.runId);
    addLogContext({ submissionId: before.submissionId });
    if ((before.status === RunStatus.Preparing || before.status === RunStatus.Running) && before.workerId === this.workerId) {
      // Ours but not running here. Seen before this process started: a previous life was killed (counts as an
      // attempt, as a lost worker does). Seen since: this process could not record the outcome (the database was away).
      const previousLife = (before.heartbeatAt ?? before.queuedAt) < this.active.bootTime;
      await this.handBack(before, new Error(previousLife ? 'the worker executing this attempt was lost' : 'the attempt was lost by this worker before it could record its outcome'), previousLife ? 'internal' : 'transient');
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
    const pinned = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    if (phaseFederation(pinned, run.phase)) {
      // A federated phase runs on the nodes: this step only fans it out (FederatedRuns follows it from here).
      try {
        const submission = await this.submissions.findById(run.submissionId);
        if (!submission) throw new Error(`submission ${run.submissionId} is gone`);
        const organisation = await this.db.manager().findOneBy(OrganisationEntity, { id: submission.organisationId });
        await this.federated.dispatch(run, pinned, submission, organisation?.name ?? submission.organisationId);
      } catch (error) {
        await this.handBack(run, error, isTransientInfraFault(error) ? 'transient' : 'internal');
      }
      return;
    }
    let casesDone = 0;
    const heartbeat = setInterval(() => void this.repository.heartbeat(run.id, this.clock.now(), casesDone).catch(() => undefined), HEARTBEAT_MS);
    // A fresh dir per attempt under this worker's work root; what an earlier, killed attempt of this run left goes first.
    let workDir: string | null = null;
    try {
      // Earlier attempts of this run can commit nothing now, and nothing reads their objects (when this fails they
      // wait for the collection at the run's end).
      await this.artifacts.collect(run.id).catch((e: unknown) => this.logger.warn(`run ${run.id}: objects of earlier attempts not removed (${String(e)})`));
      await this.sandbox.removeWorkDirsNamed(`run-${run.id}-`);
      workDir = await this.sandbox.createWorkDir(`run-${run.id}-${run.attempts}`);
      const t0 = Date.now();
      const prepared = await this.prepare(run, workDir);
      const prepareMs = Date.now() - t0;
      const running = await this.evaluation.transition({ runId: run.id, from: [RunStatus.Preparing], to: RunStatus.Running, attempt: run, patch: { heartbeatAt: this.clock.now(), timings: { ...run.timings, prepareMs } } });
      if (!running) return;
      crashPoint('execute:running');

      const def = prepared.version.definition;
      const task = taskDefinition(def.task);
      const limits = sandboxLimitsFor(prepared.version);
      const fetchCaseFiles = (batchCases: readonly RunCase[], dir: string) => this.fetchCaseFiles(prepared.cohortVersion, run.split, batchCases, dir);
      const work: BatchWork = { executor: prepared.executor, task, definition: def, runId: run.id, workDir, cases: prepared.cases, limits, ...(opts.gpus ? { gpus: opts.gpus } : {}), fetchCaseFiles };
      const outcome = await runBatches({
        ...work,
        onProgress: async (done) => {
          casesDone = done;
          await this.repository.heartbeat(run.id, this.clock.now(), casesDone);
        },
        // Per attempt, so an earlier attempt's objects are never mistaken for (nor overwrite) this one's.
        storeFile: async (caseId, name, bytes) => {
          const key = `runs/${run.id}/${attemptSegment(run)}/${caseId}/${name}`;
          await this.storage.putBuffer('artifacts', key, bytes, 'application/octet-stream');
          return { key, sha256: sha256Hex(bytes), bytes: bytes.length };
        },
      });
      // Held-out runs whose batches all gave predictions: a seeded sample runs once more (one extra batch). Its
      // outcome is written with the move to `scoring`, so a crash before that repeats the attempt, and with it the
      // same sample; a crash after it finds the check recorded. It never fails the run.
      let determinism: RunDeterminism | null = null;
      let determinismMs: number | undefined;
      if (!outcome.fault && run.split !== 'sample') {
        const checked = await checkDeterminism({ ...work, first: outcome.predictions });
        determinism = checked.determinism;
        determinismMs = checked.ms;
        // The summary names no case and quotes no container output (detail may quote a re-run's last log line).
        this.logger.log(`run ${run.id}: determinism: ${determinism.summary}`);
        crashPoint('execute:determinism-checked');
      }
      const timings = { ...run.timings, prepareMs, ...outcome.timings, ...(determinismMs !== undefined ? { determinismMs } : {}) };
      await this.collect(run, { ...outcome, casesTotal: prepared.cases.length, timings, determinism });
    } catch (error) {
      await this.handBack(run, error, isWorkerDraining(error) ? 'drained' : isTransientInfraFault(error) ? 'transient' : 'internal');
    } finally {
      clearInterval(heartbeat);
      // Unmounts and removes whatever the attempt left, at any depth; logs (never throws) when it cannot.
      if (workDir) await this.sandbox.removeWorkDir(workDir);
    }
  }

  /**
   * Image tasks: the files a batch's cases name as inputs (`cases/<caseId>/<file>`), downloaded from the cohort
   * version's own file list (keys are never built from input) into the batch's directory, one batch at a time.
   */
  private fetchCaseFiles(cohortVersion: CohortVersionEntity, split: string, cases: readonly RunCase[], dir: string): Promise<Record<string, Record<string, string>>> {
    return downloadCaseFiles(this.storage, cohortVersion, split, cases, dir);
  }

  /** Step 1: what the run needs on this worker: its pins, its cases, and its algorithm made runnable by its executor. */
  private async prepare(run: RunEntity, workDir: string): Promise<{ version: BenchmarkVersionEntity; cohortVersion: CohortVersionEntity; cases: RunCase[]; executor: BatchExecutor }> {
    const submission = await this.submissions.findById(run.submissionId);
    if (!submission) throw new Error(`submission ${run.submissionId} is gone`);
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    const cohortVersion = await this.cohorts.requireVersion(version.cohortVersionId);
    await fs.mkdir(workDir, { recursive: true, mode: 0o700 });
    const executor = this.executorsOf.for(submission);
    await executor.prepare(workDir);
    const casesFile = this.cohorts.fileOf(cohortVersion, 'inputs', `${run.split}/cases.jsonl`);
    const cases = (await this.storage.getBuffer('inputs', casesFile.key))
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as RunCase);
    return { version, cohortVersion, cases, executor };
  }

  /**
   * Step 3: a vendor's fault fails the run with the logs so far; otherwise the predictions are stored and the run
   * moves to `scoring` in one transaction, and the score job is queued.
   */
  private async collect(run: RunEntity, outcome: BatchesOutcome & { casesTotal: number; timings: RunTimings; determinism: RunDeterminism | null }): Promise<void> {
    const logs = joinRunLogs(outcome.logs, RUN_LOG_BYTES);
    if (outcome.fault) {
      const failed = await this.evaluation.fail(run.id, [RunStatus.Running], outcome.fault.reason, outcome.fault.detail, {
        logs,
        runnerImageId: outcome.imageId || null,
        sandboxRuntime: outcome.runtime || null,
        timings: outcome.timings,
      }, run);
      // The reason only: the detail may quote the container's last log line, and vendor output stays on the run.
      if (failed) this.logger.log(`run ${run.id} failed: ${outcome.fault.reason} (the detail is on the run)`);
      return;
    }
    const scoring = await this.evaluation.transition(
      {
        runId: run.id,
        from: [RunStatus.Running],
        to: RunStatus.Scoring,
        attempt: run,
        patch: { casesDone: outcome.casesTotal, heartbeatAt: this.clock.now(), logs, runnerImageId: outcome.imageId, sandboxRuntime: outcome.runtime, timings: outcome.timings, determinism: outcome.determinism },
        ...(outcome.determinism ? { auditPayload: { determinism: { checked: outcome.determinism.checked, cases: outcome.determinism.cases, identical: outcome.determinism.identical } } } : {}),
      },
      async (tx) => {
        await this.repository.deletePredictions(tx, run.id);
        await this.repository.insertPredictions(tx, outcome.predictions);
      },
    );
    if (!scoring) return;
    crashPoint('execute:scoring-committed');
    // If this enqueue is lost (Redis away, or a kill right here), the sweep finds `scoring` without a job.
    await this.evaluation.enqueueScore(run.id).catch((e: unknown) => this.logger.warn(`run ${run.id}: score job not queued yet (${String(e)}); the sweep will`));
  }

  /**
   * Assay's own fault: the run goes back to the queue with a new job after a backoff, or, past its budget, fails as
   * internal (never counted against the vendor). A transient infrastructure fault (a component restarting) does not
   * use up the run's attempts: it has its own budget, MAX_INFRA_FAULTS, whose backoff sum (about 7 min) outlasts a
   * restart. A worker shutting down (`drained`) uses up nothing and is queued again at once, for another worker or
   * this one's next life. If even the hand-back cannot be written, the error is thrown and Bull retries this job with
   * backoff; the retry finds the run in flight under this worker but not active here, and hands it back then.
   */
  private async handBack(run: RunEntity, error: unknown, kind: 'internal' | 'transient' | 'drained'): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    if (kind === 'drained') this.logger.warn(`run ${run.id} attempt ${run.attempts}: handed back uncounted: ${message}`);
    else this.logger.error(`run ${run.id} attempt ${run.attempts}: ${kind === 'transient' ? 'transient infrastructure' : 'internal'} fault: ${error instanceof Error ? error.stack : message}`);
    const from = [RunStatus.Preparing, RunStatus.Running];
    try {
      const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
      const current = await this.evaluation.requireRun(run.id);
      // Another attempt has started since (this one was judged lost): it is that one's run now.
      if (!from.includes(current.status) || !sameAttempt(current, run)) return;
      const infraFaults = current.infraFaults + (kind === 'transient' ? 1 : 0);
      if ((kind === 'transient' && infraFaults > MAX_INFRA_FAULTS) || (kind === 'internal' && current.attempts >= MAX_RUN_ATTEMPTS)) {
        await this.evaluation.fail(run.id, from, FailureReason.Internal, kind === 'transient'
          ? `Assay's infrastructure stayed unreachable through ${infraFaults} tries (not the vendor's fault): ${message.slice(0, 300)}`
          : `Assay could not complete this run after ${current.attempts} attempts (not the vendor's fault)`, {}, current);
        return;
      }
      const uncounted = { attempts: Math.max(0, current.attempts - 1) };
      const patch = kind === 'transient' ? { ...uncounted, infraFaults } : kind === 'drained' ? { ...uncounted, drains: current.drains + 1 } : {};
      const back = await this.evaluation.transition({
        runId: run.id,
        from,
        to: RunStatus.Queued,
        attempt: current,
        patch,
        auditPayload: { [kind === 'transient' ? 'transientFault' : kind === 'drained' ? 'drained' : 'internalFault']: message.slice(0, 500) },
      });
      if (!back) return;
      this.metrics?.countHandback(kind);
      await this.evaluation.enqueueExecute(back, version, kind === 'drained' ? undefined : retryDelayMs(kind === 'transient' ? infraFaults : back.attempts));
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
    addLogContext({ submissionId: run.submissionId });
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
    if (phaseFederation(version, run.phase)) return this.finish(run, version, await this.federatedReport(run, version), t0, 0);
    const cohortVersion = await this.cohorts.requireVersion(version.cohortVersionId);
    const task = taskDefinition(version.definition.task);
    // Parsed once per cohort version and split in this process (cohort versions never change).
    const truth = await this.truth.get(task, { task: task.task, cohortVersionId: cohortVersion.id, contentHash: cohortVersion.contentHash, split: run.split }, () => this.cohorts.truthSource(cohortVersion, run.split));
    const rows = await this.repository.findPredictions(run.id);
    const predictions = new Map(rows.map((r) => [r.caseId, r.prediction]));
    const metadata = await this.cohorts.caseMetadata(cohortVersion.id, run.split as SplitName);
    let readMs = 0;
    const readArtifact = async (caseId: string, name: string): Promise<Buffer> => {
      const tRead = Date.now();
      const file = (predictions.get(caseId)?.['files'] as Record<string, { key: string; sha256: string }> | undefined)?.[name];
      if (!file) throw new Error(`run ${run.id}: case ${caseId} has no stored ${name}`);
      const bytes = await this.storage.getBuffer('artifacts', file.key);
      // Stored by this run's collect step; a different hash means the object store lost or changed it (Assay's fault).
      if (sha256Hex(bytes) !== file.sha256) throw new Error(`run ${run.id}: stored ${name} of case ${caseId} does not match its recorded sha256`);
      readMs += Date.now() - tRead;
      return bytes;
    };
    const report = await task.score({ truth, predictions, definition: version.definition, metadata, readArtifact, threads: this.config.worker.scoringThreads });
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
    await this.finish(run, version, report, t0, readMs);
  }

  /** A federated run's result: the nodes' summaries pooled (exact where possible), per-node rows and heterogeneity. */
  private async federatedReport(run: RunEntity, version: BenchmarkVersionEntity): Promise<TaskScore> {
    const pooled = await this.federated.pooled(run, version);
    const { metrics, perNode, heterogeneity, egress, n, nodes, metricCodeVersion, timings } = pooled;
    const perNodeInfo = Object.fromEntries((run.federation?.nodes ?? []).map((x) => [x.node, { cohort: x.cohort, jobId: x.jobId, timings: timings[x.node] ?? {} }]));
    return {
      n,
      metrics,
      // Per-node results are a subgroup table of their own ('node'), suppressed below the benchmark's minimum size.
      subgroups: { node: perNode },
      details: { federation: { nodes, egress, heterogeneity, perNode: perNodeInfo } },
      metricCodeVersion,
      // Nothing per case left the nodes: no per-case rows at the hub (rank robustness needs them, so none is shown).
      perCase: [],
    };
  }

  /** Scoring → succeeded with the result (and the next phase's run) in one transaction; then the follow-ups. */
  private async finish(run: RunEntity, version: BenchmarkVersionEntity, report: TaskScore, t0: number, readMs: number): Promise<void> {
    const submission = await this.submissions.findById(run.submissionId);
    const scoringMs = Date.now() - t0;
    const finished = await this.evaluation.transition(
      {
        runId: run.id,
        from: [RunStatus.Scoring],
        to: RunStatus.Succeeded,
        patch: { metricCodeVersion: report.metricCodeVersion, timings: { ...run.timings, scoringMs, ...(readMs > 0 ? { scoringReadMs: readMs } : {}), totalMs: Date.now() - run.queuedAt.getTime() } },
        auditPayload: { primary: version.definition.metrics.primary, value: report.metrics[version.definition.metrics.primary]?.value ?? null },
      },
      async (tx) => {
        await this.repository.insertResult(tx, {
          runId: run.id,
          n: report.n,
          metrics: report.metrics,
          details: { ...report.details, metricCodeVersion: report.metricCodeVersion, subgroups: report.subgroups },
          perCase: report.perCase,
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
    // After the result is committed and the board rebuilt (the report reads the rank): both forms, job id = report id.
    await this.reports.enqueueForRun(run).catch((e: unknown) => this.logger.warn(`run ${run.id}: report jobs not queued (${String(e)}); POST /api/runs/${run.id}/report queues them`));
  }
}

/** The phase after `phase` in the benchmark's order, if any. */
export function nextPhaseOf(version: BenchmarkVersionEntity, phase: string): string | null {
  const phases = version.definition.phases;
  return phases[phases.findIndex((p) => p.name === phase) + 1]?.name ?? null;
}

