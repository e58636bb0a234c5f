import { Inject, Injectable, Logger } from '@nestjs/common';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { Clock } from '../common/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { JobName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';
import { workerIdOf } from '../sandbox/sandbox.module';
import { SubmissionsRepository } from '../submissions/submissions.repository';
import { FailureReason, RunEntity, RunStatus } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { MAX_RUN_ATTEMPTS } from './run-state-machine';

/**
 * A worker that dies mid-run must not leave the run stuck: at start and then periodically, runs left in flight by a
 * dead worker (this worker's previous life, or any worker silent for ASSAY_RUN_STALE_MS) go back to the queue or, past
 * their attempts, fail as internal; queued runs and validating submissions whose job vanished are queued again.
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
  ) {
    this.workerId = workerIdOf(config);
    this.bootTime = clock.now();
  }

  async sweep(): Promise<{ requeued: number; failed: number; rescored: number; reenqueued: number }> {
    const now = this.clock.now();
    const staleBefore = new Date(now.getTime() - this.config.worker.runStaleMs);
    const counts = { requeued: 0, failed: 0, rescored: 0, reenqueued: 0 };
    const inFlight = await this.repository.findAbandonedRuns([RunStatus.Preparing, RunStatus.Running, RunStatus.Scoring], now);
    for (const run of inFlight) {
      const mine = run.workerId === this.workerId && (run.heartbeatAt ?? run.queuedAt) < this.bootTime;
      const silent = (run.heartbeatAt ?? run.queuedAt) < staleBefore;
      if (!mine && !silent) continue;
      if (run.status === RunStatus.Scoring) {
        // Predictions are stored with the transition to scoring, so scoring can simply be asked for again.
        await this.queue.ensureQueued({ name: JobName.ScoreRun, payload: { runId: run.id }, jobId: `${run.id}:score` });
        counts.rescored++;
        continue;
      }
      await this.recoverExecution(run, counts);
    }
    for (const run of await this.repository.findQueuedRuns()) {
      const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
      if (await this.evaluation.ensureExecuteQueued(run, version)) counts.reenqueued++;
    }
    for (const s of await this.submissions.findValidating()) {
      if (await this.queue.ensureQueued({ name: JobName.CheckSubmission, payload: { submissionId: s.id }, jobId: `${s.id}:check` })) counts.reenqueued++;
    }
    if (counts.requeued + counts.failed + counts.rescored + counts.reenqueued > 0) this.logger.log(`recovery: ${JSON.stringify(counts)}`);
    return counts;
  }

  private async recoverExecution(run: RunEntity, counts: { requeued: number; failed: number }): Promise<void> {
    if (run.attempts >= MAX_RUN_ATTEMPTS) {
      const failed = await this.evaluation.fail(run.id, [run.status], FailureReason.Internal, `the worker executing this run was lost ${run.attempts} times (not the vendor's fault)`);
      if (failed) counts.failed++;
      return;
    }
    const back = await this.evaluation.transition({ runId: run.id, from: [run.status], to: RunStatus.Queued, auditPayload: { recovered: true, lostWorker: run.workerId } });
    if (!back) return;
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    await this.evaluation.ensureExecuteQueued(back, version);
    counts.requeued++;
  }
}
