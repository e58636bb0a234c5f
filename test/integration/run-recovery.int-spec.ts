import { Database } from '../../src/database/database.module';
import { EvaluationService } from '../../src/runs/evaluation.service';
import { FailureReason, RunEntity, RunStatus } from '../../src/runs/evaluation.entity';
import { SandboxModule } from '../../src/sandbox/sandbox.module';
import { RunRecoveryService } from '../../src/runs/run-recovery.service';
import { JobName, QueueName } from '../../src/queue/queue.constants';
import { QueueService } from '../../src/queue/queue.service';
import { BenchmarksService } from '../../src/benchmarks/benchmarks.service';
import { SubmissionEntity } from '../../src/submissions/submissions.entity';
import { startTestStack, TestStack } from '../support/test-stack';
import { NestFactory } from '@nestjs/core';
import { Module, INestApplicationContext } from '@nestjs/common';
import { ConfigModule } from '../../src/config/config.module';
import { DatabaseModule } from '../../src/database/database.module';
import { StorageModule } from '../../src/storage/storage.module';
import { QueueModule } from '../../src/queue/queue.module';
import { AuditModule } from '../../src/audit/audit.module';
import { BenchmarksModule } from '../../src/benchmarks/benchmarks.module';
import { SubmissionsModule } from '../../src/submissions/submissions.module';
import { EvaluationCoreModule } from '../../src/runs/evaluation-core.module';
import { LeaderboardsModule } from '../../src/leaderboards/leaderboards.module';

jest.setTimeout(60_000);

@Module({})
class RecoveryTestModule {}

/**
 * A worker that died mid-run must not leave the run stuck. No Docker needed: the runs are put in the state a dead
 * worker leaves behind, then the recovery sweep of a new worker runs against the real Postgres and Redis.
 */
describe('recovery of runs left in flight by a dead worker', () => {
  let stack: TestStack;
  let ctx: INestApplicationContext;
  let db: Database;
  let submission: SubmissionEntity;
  let versionId: string;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_RUN_STALE_MS: '5000' } });
    ctx = await NestFactory.createApplicationContext(
      { module: RecoveryTestModule, imports: [ConfigModule.forRoot(stack.config), DatabaseModule, StorageModule, QueueModule, AuditModule, BenchmarksModule, SubmissionsModule, EvaluationCoreModule, LeaderboardsModule, SandboxModule], providers: [RunRecoveryService] },
      { logger: ['error'] },
    );
    db = ctx.get(Database);
    const { version } = await ctx.get(BenchmarksService).resolveCurrent('wdbc-malignancy');
    versionId = version.id;
    const vendor = await stack.vendor('Recovery Vendor');
    const rows: SubmissionEntity[] = await db.manager().query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       VALUES ($1, $2, $3, 'onnx', 'm@1', '{}', 'submissions/x/model.onnx', 'abc', 1, 'accepted') RETURNING id`,
      [versionId, vendor.organisationId, vendor.userId],
    );
    submission = { id: (rows[0] as { id: string }).id } as SubmissionEntity;
  });

  afterAll(async () => {
    await ctx?.close();
    await stack?.close();
  });

  const makeRun = async (phase: string, patch: Partial<RunEntity>): Promise<RunEntity> => {
    const evaluation = ctx.get(EvaluationService);
    const version = await ctx.get(BenchmarksService).requireVersion(versionId);
    const run = await evaluation.createRunAndCommit({ submission: { ...submission, sha256: 'abc' } as SubmissionEntity, version, phase, actorUserId: null });
    await db.manager().update(RunEntity, { id: run.id }, patch);
    return { ...run, ...patch } as RunEntity;
  };

  it('puts a run abandoned mid-execution back in the queue, and fails one that has used its attempts', async () => {
    const old = new Date(Date.now() - 60_000);
    // Two submissions' worth of phases: reuse the two phase names on separate submissions.
    const stuck = await makeRun('sample', { status: RunStatus.Running, attempts: 1, workerId: 'dead-worker', heartbeatAt: old, startedAt: old });
    const rows: { id: string }[] = await db.manager().query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       SELECT benchmark_version_id, organisation_id, submitted_by, kind, 'm@2', manifest, object_key, sha256, size_bytes, status FROM submissions WHERE id = $1 RETURNING id`,
      [submission.id],
    );
    submission = { id: (rows[0] as { id: string }).id } as SubmissionEntity;
    const exhausted = await makeRun('sample', { status: RunStatus.Preparing, attempts: 3, workerId: 'dead-worker', heartbeatAt: old, startedAt: old });
    const fresh = await makeRun('test', { status: RunStatus.Running, attempts: 1, workerId: 'busy-worker', heartbeatAt: new Date(), startedAt: new Date() });

    const counts = await ctx.get(RunRecoveryService).sweep();
    expect(counts).toMatchObject({ requeued: 1, failed: 1 });

    const evaluation = ctx.get(EvaluationService);
    expect(await evaluation.requireRun(stuck.id)).toMatchObject({ status: RunStatus.Queued });
    expect(await evaluation.requireRun(exhausted.id)).toMatchObject({ status: RunStatus.Failed, failureReason: FailureReason.Internal, failureDetail: expect.stringMatching(/not the vendor's fault/) });
    expect(await evaluation.requireRun(fresh.id)).toMatchObject({ status: RunStatus.Running });
    const job = await ctx.get(QueueService).queue(QueueName.SandboxCpu).getJob(`${stuck.id}:execute:1`);
    expect(job?.name).toBe(JobName.ExecuteRun);
    expect(job?.data).toEqual({ runId: stuck.id });
  });

  it('re-queues a queued run whose job vanished from Redis, once', async () => {
    const queues = ctx.get(QueueService);
    const queued = await db.manager().findOneByOrFail(RunEntity, { status: RunStatus.Queued });
    const job = await queues.queue(QueueName.SandboxCpu).getJob(`${queued.id}:execute:${queued.attempts}`);
    await job?.remove();
    const first = await ctx.get(RunRecoveryService).sweep();
    expect(first.reenqueued).toBeGreaterThanOrEqual(1);
    expect(await queues.queue(QueueName.SandboxCpu).getJob(`${queued.id}:execute:${queued.attempts}`)).not.toBeNull();
    const second = await ctx.get(RunRecoveryService).sweep();
    expect(second.reenqueued).toBe(0);
  });

  const newSubmission = async (): Promise<void> => {
    const rows: { id: string }[] = await db.manager().query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       SELECT benchmark_version_id, organisation_id, submitted_by, kind, 'm@' || gen_random_uuid(), manifest, object_key, sha256, size_bytes, 'accepted' FROM submissions WHERE id = $1 RETURNING id`,
      [submission.id],
    );
    submission = { id: (rows[0] as { id: string }).id } as SubmissionEntity;
  };

  it('queues scoring again for a run in scoring whose job is gone, without waiting for its heartbeat to go stale', async () => {
    await newSubmission();
    // The worker is alive (fresh heartbeat) but its score job was lost (Redis restarted, or the enqueue never ran).
    const scoring = await makeRun('sample', { status: RunStatus.Scoring, attempts: 1, workerId: 'busy-worker', heartbeatAt: new Date(), startedAt: new Date() });
    const counts = await ctx.get(RunRecoveryService).sweep();
    expect(counts.rescored).toBeGreaterThanOrEqual(1);
    const job = await ctx.get(QueueService).queue(QueueName.Scoring).getJob(`${scoring.id}:score`);
    expect(job?.data).toEqual({ runId: scoring.id });
    expect((await ctx.get(RunRecoveryService).sweep()).rescored).toBe(0);
  });

  it('finds a sample run that succeeded without its held-out run, and a leaderboard older than a success', async () => {
    await newSubmission();
    const done = await makeRun('sample', { status: RunStatus.Succeeded, attempts: 1, workerId: 'dead-worker', heartbeatAt: new Date(), startedAt: new Date(), finishedAt: new Date() });
    const counts = await ctx.get(RunRecoveryService).sweep();
    expect(counts.nextPhases).toBe(1);
    // The follow-up goes through the score step, whose after-success part is idempotent (creates, queues, rebuilds).
    const job = await ctx.get(QueueService).queue(QueueName.Scoring).getJob(`${done.id}:after-success`);
    expect(job?.name).toBe(JobName.ScoreRun);
    expect(job?.data).toEqual({ runId: done.id });
    // A held-out run that exists already is not a missing next phase.
    await newSubmission();
    const sample = await makeRun('sample', { status: RunStatus.Succeeded, attempts: 1, finishedAt: new Date() });
    await makeRun('test', { status: RunStatus.Queued });
    const again = await ctx.get(RunRecoveryService).sweep();
    expect(again.nextPhases).toBe(0);
    // No snapshot has been computed for the sample leaderboard since: its newest success asks for a rebuild.
    expect(again.leaderboards).toBe(1);
    expect((await ctx.get(QueueService).queue(QueueName.Scoring).getJob(`${sample.id}:after-success`))?.data).toEqual({ runId: sample.id });
  });
});
