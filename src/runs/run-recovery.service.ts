import { Inject, Injectable, Logger } from '@nestjs/common';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { Clock } from '../common/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { LeaderboardsService } from '../leaderboards/leaderboards.service';
import { ActiveWork } from '../queue/active-work';
import { JobName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { workerIdOf } from '../sandbox/sandbox.module';
import { SubmissionsRepository } from '../submissions/submissions.repository';
import { FailureReason, RunEntity, RunStatus } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { FEDERATION_WORKER } from './federated-runs';
import { RunArtifactsGc } from './run-artifacts';
import { MAX_RUN_ATTEMPTS } from './run-state-machine';

export interface SweepCounts {
  /** In-flight runs of a dead worker put back in the queue. */
  requeued: number;
  /** In-flight runs of a dead worker past their attempts, failed as internal. */
  failed: number;
  /** Scoring runs without a live score job, queued for scoring again. */
  rescored: number;
  /** Queued runs and validating submissions without a live job, queued again. */
  reenqueued: number;
  /** Succeeded runs whose next phase's run was missing, created. */
  nextPhases: number;
  /** Leaderboards older than their newest succeeded run, rebuilt. */
  leaderboards: number;
  /** Work directories (and their mounts) of attempts that are over, removed from this host. */
  workDirs: number;
  /** Artifact objects of finished runs that no stored prediction references, removed (their follow-up was lost). */
  artifacts: number;
}

const RUN_DIR = /^run-([0-9a-f-]{36})-(\d+)-/;
const CHECK_DIR = /^check-([0-9a-f-]{36})-(\d+)-/;

/**
 * The run, not the job, is the truth: at start and then every sweep interval (ASSAY_RUN_STALE_MS / 2, at least 5 s)
 * this finds every kind of stranded work from the database and puts it back on its way.
 * - preparing/running of a dead worker: this worker's previous life or this process's lost attempt (at once), any
 *   other worker silent for ASSAY_RUN_STALE_MS → back to the queue, or past its attempts failed as internal;
 * - scoring, queued and validating without a live job (Redis lost it, the enqueue never happened) → queued again;
 * - succeeded without its next phase's run → created and queued; leaderboards older than a success → rebuilt;
 * - finished runs whose artifact objects were never collected → collected (ARTIFACT_RUNS_PER_SWEEP per sweep).
 * Bound: anything stranded is on its way again within ASSAY_RUN_STALE_MS + one sweep interval (90 s by default),
 * plus Bull's lock (ASSAY_QUEUE_LOCK_MS, twice) for a job that a killed worker held.
 */
@Injectable()
export class RunRecoveryService {
  private readonly logger = new Logger('RunRecoveryService');
  private readonly workerId: string;
  private readonly bootTime: Date;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: EvaluationRepository,
    private readonly evaluation: EvaluationService,
    private readonly submissions: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly queue: QueueService,
    private readonly clock: Clock,
    private readonly db: Database,
    private readonly leaderboards: LeaderboardsService,
    private readonly active: ActiveWork,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly artifacts: RunArtifactsGc,
  ) {
    this.workerId = workerIdOf(config);
    this.bootTime = clock.now();
  }

  async sweep(): Promise<SweepCounts> {
    const now = this.clock.now();
    const staleBefore = new Date(now.getTime() - this.config.worker.runStaleMs);
    const counts: SweepCounts = { requeued: 0, failed: 0, rescored: 0, reenqueued: 0, nextPhases: 0, leaderboards: 0, workDirs: 0, artifacts: 0 };
    const inFlight = await this.repository.findAbandonedRuns([RunStatus.Preparing, RunStatus.Running], now);
    for (const run of inFlight) {
      // A federated run in flight is its nodes' jobs, not a worker's: FederatedRuns follows it (and it waits days).
      if (run.workerId === FEDERATION_WORKER) continue;
      const seen = run.heartbeatAt ?? run.queuedAt;
      // Ours and not executing here: a previous life of this worker, or an attempt this process lost track of.
      const mine = run.workerId === this.workerId && !this.active.runs.has(run.id) && (seen < this.bootTime || seen.getTime() < now.getTime() - 10_000);
      const silent = seen < staleBefore;
      if (!mine && !silent) continue;
      await this.recoverExecution(run, counts, mine);
    }
    for (const run of await this.findByStatus(RunStatus.Scoring)) {
      // Predictions are stored with the transition to scoring, so scoring can simply be asked for again.
      if (await this.queue.ensureQueued({ name: JobName.ScoreRun, payload: { runId: run.id }, jobId: `${run.id}:score` })) counts.rescored++;
    }
    for (const run of await this.repository.findQueuedRuns()) {
      const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
      if (await this.evaluation.ensureExecuteQueued(run, version)) counts.reenqueued++;
    }
    for (const s of await this.submissions.findValidating()) {
      if (await this.queue.ensureQueued({ name: JobName.CheckSubmission, payload: { submissionId: s.id }, jobId: `${s.id}:check` })) counts.reenqueued++;
    }
    await this.recoverSucceeded(counts);
    counts.workDirs = await this.sweepWorkDirs();
    // Last and bounded: a store that is away costs this sweep nothing else, and a backlog drains over several sweeps.
    counts.artifacts = await this.artifacts.collectFinished().then(
      (c) => c.removed,
      (e: unknown) => {
        this.logger.warn(`artifact collection: ${String(e)}; the next sweep tries again`);
        return 0;
      },
    );
    if (Object.values(counts).some((n) => n > 0)) this.logger.log(`recovery: ${JSON.stringify(counts)}`);
    return counts;
  }

  private findByStatus(status: RunStatus): Promise<RunEntity[]> {
    return this.db.manager().find(RunEntity, { where: { status } });
  }

  /**
   * Succeeded runs whose next phase's run does not exist (a run that succeeded before the next run was created in
   * the same commit), and leaderboards whose snapshot is older than their newest success: both are made good by
   * asking for scoring again, whose follow-ups are idempotent (RunExecutor.afterSucceeded).
   */
  private async recoverSucceeded(counts: SweepCounts): Promise<void> {
    const missing: { id: string }[] = await this.db.manager().query(
      `SELECT r.id FROM runs r
         JOIN benchmark_versions v ON v.id = r.benchmark_version_id
         CROSS JOIN LATERAL (SELECT ord FROM jsonb_array_elements(v.definition->'phases') WITH ORDINALITY AS p(ph, ord) WHERE p.ph->>'name' = r.phase) cur
         CROSS JOIN LATERAL (SELECT p.ph->>'name' AS name FROM jsonb_array_elements(v.definition->'phases') WITH ORDINALITY AS p(ph, ord) WHERE p.ord = cur.ord + 1) nxt
        WHERE r.status = 'succeeded'
          AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.submission_id = r.submission_id AND n.phase = nxt.name)`,
    );
    const stale: { id: string }[] = await this.db.manager().query(
      `SELECT DISTINCT ON (r.benchmark_version_id, r.phase) r.id FROM runs r
         LEFT JOIN leaderboard_snapshots s ON s.benchmark_version_id = r.benchmark_version_id AND s.phase = r.phase
        WHERE r.status = 'succeeded' AND (s.computed_at IS NULL OR s.computed_at < r.finished_at)
        ORDER BY r.benchmark_version_id, r.phase, r.finished_at DESC`,
    );
    for (const { id } of [...missing, ...stale]) {
      // A fresh job id: a completed `:score` job of the same run must not hide this follow-up.
      if (await this.queue.ensureQueued({ name: JobName.ScoreRun, payload: { runId: id }, jobId: `${id}:after-success` })) {
        if (missing.some((m) => m.id === id)) counts.nextPhases++;
        else counts.leaderboards++;
      }
    }
  }

  /**
   * A killed worker never reaches its `finally`, and a kill after a step's last commit leaves a directory no later
   * attempt of that step will clear. Judged by the persisted state, so workers sharing a data dir keep what is live:
   * a run's directory stays only while that attempt is in preparing/running, a check's while that attempt may run.
   */
  private async sweepWorkDirs(): Promise<number> {
    // Each worker has its own work root (DockerSandboxAdapter), so only this worker's own dirs are judged here.
    const names = await this.sandbox.listWorkDirs();
    let removed = 0;
    for (const name of names) {
      const run = RUN_DIR.exec(name);
      const check = CHECK_DIR.exec(name);
      let over = false;
      if (run) {
        const row = await this.repository.findRun(run[1] as string);
        over = !row || !(row.status === RunStatus.Preparing || row.status === RunStatus.Running) || row.attempts !== Number(run[2]) || (row.workerId === this.workerId && !this.active.runs.has(row.id));
      } else if (check) {
        const row = await this.submissions.findById(check[1] as string);
        over = !row || row.status !== 'validating' || (!this.active.checks.has(row.id) && (await this.checkAttemptOf(row.id)) > Number(check[2]));
      }
      if (!over) continue;
      removed += await this.sandbox.removeWorkDirsNamed(name);
    }
    if (removed > 0) this.logger.log(`removed ${removed} work director${removed === 1 ? 'y' : 'ies'} of attempts that are over`);
    return removed;
  }

  private async checkAttemptOf(submissionId: string): Promise<number> {
    const rows: { n: number }[] = await this.db.manager().query('SELECT check_attempts AS n FROM submissions WHERE id = $1', [submissionId]);
    return rows[0]?.n ?? 0;
  }

  private async recoverExecution(run: RunEntity, counts: SweepCounts, mine: boolean): Promise<void> {
    if (mine) {
      // Same worker id, same host: what the lost attempt left (work directory, output mount) goes now.
      await this.sandbox.removeWorkDirsNamed(`run-${run.id}-`);
    }
    if (run.attempts >= MAX_RUN_ATTEMPTS) {
      const failed = await this.evaluation.fail(run.id, [run.status], FailureReason.Internal, `the worker executing this run was lost ${run.attempts} times (not the vendor's fault)`, {}, run);
      if (failed) counts.failed++;
      return;
    }
    const back = await this.evaluation.transition({ runId: run.id, from: [run.status], to: RunStatus.Queued, attempt: run, auditPayload: { recovered: true, lostWorker: run.workerId } });
    if (!back) return;
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    await this.evaluation.ensureExecuteQueued(back, version);
    counts.requeued++;
  }
}
