import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuditModule } from '../../src/audit/audit.module';
import { BenchmarksModule } from '../../src/benchmarks/benchmarks.module';
import { BenchmarksService } from '../../src/benchmarks/benchmarks.service';
import { ConfigModule } from '../../src/config/config.module';
import { Database, DatabaseModule } from '../../src/database/database.module';
import { LeaderboardsModule } from '../../src/leaderboards/leaderboards.module';
import { QueueModule } from '../../src/queue/queue.module';
import { EvaluationCoreModule } from '../../src/runs/evaluation-core.module';
import { FailureReason, RunEntity, RunStatus } from '../../src/runs/evaluation.entity';
import { EvaluationRepository } from '../../src/runs/evaluation.repository';
import { EvaluationService } from '../../src/runs/evaluation.service';
import { RunArtifactsGc } from '../../src/runs/run-artifacts';
import { RunRecoveryService } from '../../src/runs/run-recovery.service';
import { SandboxModule } from '../../src/sandbox/sandbox.module';
import { StorageModule } from '../../src/storage/storage.module';
import { StorageService } from '../../src/storage/storage.service';
import { SubmissionEntity } from '../../src/submissions/submissions.entity';
import { SubmissionsModule } from '../../src/submissions/submissions.module';
import { startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(60_000);

@Module({})
class GcTestModule {}

/**
 * The artifact objects of attempts whose predictions were never committed go; those committed predictions reference
 * stay. No Docker needed: runs are put in the states an execution leaves, with objects under the keys it writes, on
 * the real Postgres, Redis and S3 server.
 */
describe('garbage collection of run artifacts', () => {
  let stack: TestStack;
  let ctx: INestApplicationContext;
  let db: Database;
  let storage: StorageService;
  let versionId: string;
  let submissionId: string;
  let inFlight: RunEntity;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_RUN_STALE_MS: '60000' } });
    ctx = await NestFactory.createApplicationContext(
      { module: GcTestModule, imports: [ConfigModule.forRoot(stack.config), DatabaseModule, StorageModule, QueueModule, AuditModule, BenchmarksModule, SubmissionsModule, EvaluationCoreModule, LeaderboardsModule, SandboxModule], providers: [RunRecoveryService] },
      { logger: ['error'] },
    );
    db = ctx.get(Database);
    storage = ctx.get(StorageService);
    versionId = (await ctx.get(BenchmarksService).resolveCurrent('wdbc-malignancy')).version.id;
    const vendor = await stack.vendor('GC Vendor');
    const rows: { id: string }[] = await db.manager().query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       VALUES ($1, $2, $3, 'onnx', 'gc@1', '{}', 'submissions/x/model.onnx', 'abc', 1, 'accepted') RETURNING id`,
      [versionId, vendor.organisationId, vendor.userId],
    );
    submissionId = (rows[0] as { id: string }).id;
  });

  afterAll(async () => {
    await ctx?.close();
    await stack?.close();
  });

  const makeRun = async (patch: Partial<RunEntity>): Promise<RunEntity> => {
    // One run per submission and phase: each run gets a submission of its own.
    const rows: { id: string }[] = await db.manager().query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       SELECT benchmark_version_id, organisation_id, submitted_by, kind, 'gc@' || gen_random_uuid(), manifest, object_key, sha256, size_bytes, 'accepted' FROM submissions WHERE id = $1 RETURNING id`,
      [submissionId],
    );
    const submission = { id: (rows[0] as { id: string }).id, sha256: 'abc' } as SubmissionEntity;
    const version = await ctx.get(BenchmarksService).requireVersion(versionId);
    const run = await ctx.get(EvaluationService).createRunAndCommit({ submission, version, phase: 'sample', actorUserId: null });
    await db.manager().update(RunEntity, { id: run.id }, patch);
    return { ...run, ...patch } as RunEntity;
  };

  /** Objects as RunExecutor's storeFile writes them (content: the key, so a survivor is also unchanged). */
  const store = async (runId: string, segment: string, caseIds: string[]): Promise<string[]> => {
    const keys = caseIds.map((c) => `runs/${runId}/${segment}/${c}/mask.nii.gz`);
    for (const k of keys) await storage.putBuffer('artifacts', k, Buffer.from(k));
    return keys;
  };

  /** Predictions committed with the move to scoring, each naming its stored file. */
  const commitPredictions = async (runId: string, keys: string[]): Promise<void> => {
    const rows = keys.map((k) => ({ runId, caseId: k.split('/')[3] as string, prediction: { probability: 0.5, files: { 'mask.nii.gz': { key: k, sha256: 'x', bytes: k.length } } } }));
    await db.transaction((tx) => ctx.get(EvaluationRepository).insertPredictions(tx, rows));
  };

  const keysOf = async (runId: string): Promise<string[]> => (await storage.list('artifacts', `runs/${runId}/`)).map((o) => o.key).sort();
  const collectedAt = async (runId: string): Promise<Date | null> => (await db.manager().findOneByOrFail(RunEntity, { id: runId })).artifactsCollectedAt;

  it('leaves a succeeded run with only the objects its committed predictions reference, however often it runs', async () => {
    const reportKeys = ['reports/0123abcd/report.html', 'reports/0123abcd/report.pdf'];
    for (const k of reportKeys) await storage.putBuffer('artifacts', k, Buffer.from('report'));
    await storage.putBuffer('reports', 'reports/0123abcd/evidence.json', Buffer.from('{}'));
    // A run in flight on a live worker, with an older attempt's objects and its own.
    inFlight = await makeRun({ status: RunStatus.Running, attempts: 2, workerId: 'busy-worker', heartbeatAt: new Date(), startedAt: new Date() });
    const inFlightKeys = [...(await store(inFlight.id, 'a1', ['c1'])), ...(await store(inFlight.id, 'a2', ['c1']))].sort();

    const run = await makeRun({ status: RunStatus.Scoring, attempts: 2, workerId: 'w', heartbeatAt: new Date(), startedAt: new Date() });
    const first = await store(run.id, 'a1', ['c1', 'c2', 'c3']);
    const committed = await store(run.id, 'a2', ['c1', 'c2', 'c3']);
    await commitPredictions(run.id, committed);
    expect(await keysOf(run.id)).toHaveLength(first.length + committed.length);

    // The transition's follow-up collects.
    expect(await ctx.get(EvaluationService).transition({ runId: run.id, from: [RunStatus.Scoring], to: RunStatus.Succeeded })).not.toBeNull();
    expect(await keysOf(run.id)).toEqual([...committed].sort());
    for (const k of committed) expect((await storage.getBuffer('artifacts', k)).toString()).toBe(k);
    const marked = await collectedAt(run.id);
    expect(marked).toBeInstanceOf(Date);

    // Again, directly and by the sweep: nothing more goes, and the sweep does not pick the run again.
    expect(await ctx.get(RunArtifactsGc).collect(run.id)).toEqual({ removed: 0, bytes: 0 });
    expect((await ctx.get(RunRecoveryService).sweep()).artifacts).toBe(0);
    expect(await keysOf(run.id)).toEqual([...committed].sort());
    expect(await collectedAt(run.id)).toBeInstanceOf(Date);

    expect(await keysOf(inFlight.id)).toEqual(inFlightKeys);
    for (const k of reportKeys) expect(await storage.exists('artifacts', k)).toBe(true);
    expect(await storage.exists('reports', 'reports/0123abcd/evidence.json')).toBe(true);
  });

  it('sweeps finished runs whose follow-up was lost, a bounded number at a time, and never a run in flight', async () => {
    // Failed in scoring (its predictions stay readable through GET /api/runs/:id/cases), and failed in execution.
    const scoredFailed = await makeRun({ status: RunStatus.Failed, failureReason: FailureReason.MissingPredictions, attempts: 3, infraFaults: 1, finishedAt: new Date(Date.now() - 2000) });
    const stale = await store(scoredFailed.id, 'a1', ['c1', 'c2']);
    const kept = await store(scoredFailed.id, 'a3i1', ['c1', 'c2']);
    await commitPredictions(scoredFailed.id, kept);
    const execFailed = await makeRun({ status: RunStatus.Failed, failureReason: FailureReason.ExitNonzero, attempts: 2, finishedAt: new Date(Date.now() - 1000) });
    const lost = [...(await store(execFailed.id, 'a1', ['c1'])), ...(await store(execFailed.id, 'a2', ['c1', 'c2']))];

    // One run per call at most, oldest finished first.
    expect(await ctx.get(RunArtifactsGc).collectFinished(1)).toEqual({ runs: 1, removed: stale.length, bytes: stale.reduce((n, k) => n + k.length, 0) });
    expect(await keysOf(scoredFailed.id)).toEqual([...kept].sort());
    expect(await keysOf(execFailed.id)).toHaveLength(lost.length);
    expect(await collectedAt(execFailed.id)).toBeNull();

    const counts = await ctx.get(RunRecoveryService).sweep();
    expect(counts.artifacts).toBe(lost.length);
    expect(await keysOf(execFailed.id)).toEqual([]);
    expect(await collectedAt(execFailed.id)).toBeInstanceOf(Date);
    expect((await ctx.get(RunRecoveryService).sweep()).artifacts).toBe(0);
    expect(await keysOf(scoredFailed.id)).toEqual([...kept].sort());
    expect((await keysOf(inFlight.id)).map((k) => k.split('/')[2])).toEqual(['a1', 'a2']);
    expect(await collectedAt(inFlight.id)).toBeNull();
  });

  it('takes a run in flight down to its current attempt only when that attempt starts, and no replaced attempt commits', async () => {
    // What RunExecutor does after moving the run to preparing for attempt 2.
    expect(await ctx.get(RunArtifactsGc).collect(inFlight.id)).toMatchObject({ removed: 1 });
    expect(await keysOf(inFlight.id)).toEqual([`runs/${inFlight.id}/a2/c1/mask.nii.gz`]);
    expect(await collectedAt(inFlight.id)).toBeNull();
    // Attempt 1, judged lost and replaced, cannot commit predictions (which would reference the objects just removed).
    const evaluation = ctx.get(EvaluationService);
    expect(await evaluation.transition({ runId: inFlight.id, from: [RunStatus.Running], to: RunStatus.Scoring, attempt: { attempts: 1, infraFaults: 0, drains: 0 } })).toBeNull();
    expect(await evaluation.fail(inFlight.id, [RunStatus.Running], FailureReason.ExitNonzero, 'late', {}, { attempts: 1, infraFaults: 0, drains: 0 })).toBeNull();
    expect((await evaluation.requireRun(inFlight.id)).status).toBe(RunStatus.Running);
    expect(await evaluation.transition({ runId: inFlight.id, from: [RunStatus.Running], to: RunStatus.Scoring, attempt: { attempts: 2, infraFaults: 0, drains: 0 } })).toMatchObject({ status: RunStatus.Scoring });
  });
});
