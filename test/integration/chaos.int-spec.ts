import Docker from 'dockerode';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { buildReferenceModels, BuildReferenceModelsResult } from '../../scripts/reference-models/build';
import { predictProbability } from '../../scripts/reference-models/logistic-regression';
import { parseCohortCsv } from '../../scripts/reference-models/wdbc-csv';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { createDataSource } from '../../src/database/data-source';
import { LABEL_RUN, LABEL_WORKER } from '../../src/sandbox/sandbox-profile';
import { Restartable, startPrivateObjectStore, startPrivatePostgres, startPrivateRedis } from '../support/private-services';
import { eventually, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';
import { WorkerProcess } from '../support/worker-process';
import { pairCountAuroc } from '../support/oracles';

/**
 * The chaos suite: a real worker process (SIGKILLed at each named step, and from here while its sandbox runs), and
 * private PostgreSQL, Redis and object-store instances restarted mid-run. The machine's own services are never
 * touched. Stated bound: after the last fault, every submission reaches its end within BOUND_MS.
 */
const BOUND_MS = 150_000;
const BENCHMARK = 'wdbc-malignancy';
const WORKER_ID = `chaos-${process.pid}`;
jest.setTimeout(12 * 60_000);

interface Submission {
  id: string;
  status: string;
  rejectionReason: string | null;
  runs: { id: string; phase: string; status: string; failureReason: string | null; failureDetail: string | null; casesTotal: number; casesDone: number }[];
}


const finished = (s: Submission): boolean => s.status === 'rejected' || (s.runs.length === 2 && s.runs.every((r) => ['succeeded', 'failed', 'cancelled'].includes(r.status)));

describe('chaos: killed workers and restarted services lose nothing and double nothing', () => {
  let pg: Restartable;
  let redis: Restartable;
  let s3: Restartable;
  let stack: TestStack;
  let worker: WorkerProcess;
  let models: BuildReferenceModelsResult;
  let db: Client;
  let dbUrl: string;
  let work: string;
  const submissions: string[] = [];

  const upload = (client: AssayClient): Promise<Submission> =>
    client.uploadMultipart<Submission>('/api/submissions', { fields: { benchmark: BENCHMARK, manifest: JSON.stringify(models.logreg.manifest) }, fileField: 'model', filePath: models.logreg.modelPath });
  const read = (client: AssayClient, id: string): Promise<Submission> => client.get<Submission>(`/api/submissions/${id}`);
  const until = (client: AssayClient, id: string, done: (s: Submission) => boolean, ms = BOUND_MS): Promise<Submission> => eventually(() => read(client, id), done, ms);
  const runOf = (s: Submission, phase: string): Submission['runs'][number] | undefined => s.runs.find((r) => r.phase === phase);

  beforeAll(async () => {
    [pg, redis, s3] = await Promise.all([startPrivatePostgres(), startPrivateRedis(), startPrivateObjectStore()]);
    const admin = new Client({ connectionString: `${pg.url}/postgres` });
    await admin.connect();
    await admin.query('CREATE DATABASE assay_chaos');
    await admin.end();
    dbUrl = `${pg.url}/assay_chaos`;
    const ds = createDataSource(dbUrl);
    await ds.initialize();
    await ds.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
    await ds.runMigrations({ transaction: 'each' });
    await ds.destroy();
    // The object store is ours (s3rver on a free port); Assay finds the embedded store's port taken and uses it, as a
    // worker beside the API does, so stopping it here is the API process's store going away.
    const env = { REDIS_URL: redis.url, ASSAY_S3_EMBEDDED_PORT: new URL(s3.url).port, ASSAY_SUBMISSION_CHECK_WAIT_MS: '0', ASSAY_RUN_STALE_MS: '6000', ASSAY_QUEUE_LOCK_MS: '4000' };
    stack = await startTestStack({ worker: false, database: { url: dbUrl, drop: async () => undefined }, env });
    db = new Client({ connectionString: dbUrl });
    db.on('error', () => undefined); // the restart below ends this connection too; it is reopened
    await db.connect();
    work = mkdtempSync(join(tmpdir(), 'assay-chaos-'));
    worker = new WorkerProcess(
      {
        ...env,
        ASSAY_MODE: 'test',
        DATABASE_URL: dbUrl,
        ASSAY_QUEUE_PREFIX: stack.config.redis.queuePrefix,
        ASSAY_DATA_DIR: stack.config.dataDir,
        ASSAY_CATALOGUE_DIR: REPO_ROOT,
        ASSAY_WORKER_ID: WORKER_ID,
        ASSAY_WORKER_GPUS: 'none',
        ASSAY_WORKER_CONCURRENCY: '2',
        ASSAY_LOG_LEVEL: 'log',
      },
      join(work, 'worker.log'),
    );
    const vendor = (await stack.vendor('Chaos Model Builder')).client;
    writeFileSync(join(work, 'sample.csv'), await vendor.get<string>(`/api/benchmarks/${BENCHMARK}/sample-data`));
    models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
  });

  afterAll(async () => {
    await worker?.close();
    await db?.end().catch(() => undefined);
    await stack?.close().catch(() => undefined);
    await Promise.all([pg?.close(), redis?.close(), s3?.close()].map((p) => p?.catch(() => undefined)));
    // Only the worker's log of every life stays in the temp dir, for a failure's post-mortem.
    if (work) {
      rmSync(join(work, 'models'), { recursive: true, force: true });
      process.stdout.write(`chaos worker log: ${join(work, 'worker.log')}\n`);
    }
  });

  it('resumes from the persisted state after a SIGKILL at every step', async () => {
    const vendor = (await stack.vendor('Chaos Vendor Kill')).client;
    const submitted = await upload(vendor);
    submissions.push(submitted.id);
    // The kill points in the order a submission meets them; each life dies at its point and the next one resumes.
    // Not here: 'execute:determinism-checked' (met by the held-out run only). A kill there costs the held-out run one
    // of its MAX_RUN_ATTEMPTS, and with the in-sandbox kill below the run ran out of attempts (tried 2026-12-02).
    const points = ['check:started', 'check:settled', 'execute:preparing', 'execute:running', 'execute:scoring-committed', 'score:started', 'score:succeeded-committed', 'score:next-phase-queued'];
    for (const point of points) {
      worker.start(point);
      expect({ point, exit: await worker.exited(BOUND_MS) }).toEqual({ point, exit: 'SIGKILL' });
    }
    // A clean life runs the held-out phase; it is killed from here while the sandbox container runs.
    worker.start();
    const docker = new Docker();
    const inSandbox = await eventually(
      async () => {
        const s = await read(vendor, submitted.id);
        const test = runOf(s, 'test');
        const containers = test?.status === 'running' ? await docker.listContainers({ filters: { label: [`${LABEL_RUN}=${test.id}`] } }) : [];
        return { status: test?.status ?? null, containers: containers.length };
      },
      (v) => v.containers > 0 || v.status === 'succeeded',
      BOUND_MS,
    );
    expect(inSandbox.containers).toBeGreaterThan(0);
    // The SIGKILLed life's container outlives it until the next life's start-up sweep: not the next life's own.
    const orphans = new Set((await docker.listContainers({ all: true, filters: { label: [`${LABEL_WORKER}=${WORKER_ID}`] } })).map((c) => c.Id));
    await worker.kill();
    // The next life is stopped as a deploy stops it (SIGTERM) while its sandbox runs: it drains. The container is
    // stopped, the run goes back to the queue with nothing counted (not the vendor's, not an infrastructure fault),
    // and the process exits well before the drain limit, without waiting for the run to finish.
    worker.start();
    const draining = await eventually(
      async () => {
        const s = await read(vendor, submitted.id);
        const test = runOf(s, 'test');
        const containers = test?.status === 'running' ? (await docker.listContainers({ filters: { label: [`${LABEL_RUN}=${test.id}`] } })).filter((c) => !orphans.has(c.Id)) : [];
        return { id: test?.id ?? null, status: test?.status ?? null, containers: containers.length };
      },
      (v) => v.containers > 0 || v.status === 'succeeded',
      BOUND_MS,
    );
    expect(draining.containers).toBeGreaterThan(0);
    const before = (await db.query<{ attempts: number; infra_faults: number; drains: number }>('SELECT attempts, infra_faults, drains FROM runs WHERE id = $1', [draining.id])).rows[0];
    const t0 = Date.now();
    // An orderly end (exit 0, or Nest re-raising the SIGTERM once closed), well inside the time the run would need.
    expect(await worker.terminate(60_000)).toMatch(/^(0|SIGTERM)$/);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const after = (await db.query<{ status: string; attempts: number; infra_faults: number; drains: number; failure_reason: string | null }>('SELECT status, attempts, infra_faults, drains, failure_reason FROM runs WHERE id = $1', [draining.id])).rows[0];
    expect(after).toEqual({ status: 'queued', attempts: (before?.attempts ?? 0) - 1, infra_faults: before?.infra_faults, drains: (before?.drains ?? 0) + 1, failure_reason: null });
    const audit = await db.query<{ payload: Record<string, unknown> }>(`SELECT payload FROM audit_log WHERE entity_id = $1 AND payload ? 'drained'`, [draining.id]);
    expect(audit.rows).toHaveLength(1);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABEL_RUN}=${draining.id}`] } })).toEqual([]);
    worker.start();
    const done = await until(vendor, submitted.id, finished);
    expect(done.runs.map((r) => [r.phase, r.status])).toEqual([
      ['sample', 'succeeded'],
      ['test', 'succeeded'],
    ]);
  });

  it('rides out a restart of the object store, Redis and PostgreSQL mid-run', async () => {
    const vendor = (await stack.vendor('Chaos Vendor Restart')).client;
    const before = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM submissions')).rows[0]?.n;
    // Object store down: an upload is refused (5xx) and nothing of it is accepted.
    await s3.stop();
    const refused = await upload(vendor).then(
      () => null,
      (e: unknown) => e,
    );
    await s3.start();
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBeGreaterThanOrEqual(500);
    expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM submissions WHERE status <> 'rejected'`)).rows[0]?.n).toBe(before);

    // The check meets an object store that is away for 8 s.
    const submitted = await upload(vendor);
    submissions.push(submitted.id);
    await s3.stop();
    await new Promise((r) => setTimeout(r, 8_000));
    await s3.start();
    // Redis restarts (losing every job) while the sample run is in flight.
    await until(vendor, submitted.id, (s) => ['running', 'scoring', 'succeeded'].includes(runOf(s, 'sample')?.status ?? ''));
    await redis.stop();
    await new Promise((r) => setTimeout(r, 4_000));
    await redis.start();
    // PostgreSQL restarts while the held-out run is in flight.
    await until(vendor, submitted.id, (s) => ['preparing', 'running', 'scoring', 'succeeded'].includes(runOf(s, 'test')?.status ?? ''));
    await pg.stop();
    await new Promise((r) => setTimeout(r, 6_000));
    await pg.start();
    await db.end().catch(() => undefined);
    db = new Client({ connectionString: dbUrl });
    db.on('error', () => undefined);
    await db.connect();
    const done = await until(vendor, submitted.id, finished);
    expect(done.runs.map((r) => [r.phase, r.status])).toEqual([
      ['sample', 'succeeded'],
      ['test', 'succeeded'],
    ]);
  });

  it("ends a check that keeps failing through Assay's fault visibly, as internal, not counted against the vendor", async () => {
    await worker.kill();
    const vendor = (await stack.vendor('Chaos Vendor Broken Store')).client;
    const submitted = await upload(vendor);
    // The stored model is gone (Assay's fault, and not transient): every check attempt fails the same way.
    await db.query(`UPDATE submissions SET object_key = object_key || '.gone' WHERE id = $1`, [submitted.id]);
    worker.start();
    const done = await until(vendor, submitted.id, (s) => s.status !== 'validating', BOUND_MS);
    expect(done.status).toBe('rejected');
    expect(done.rejectionReason).toMatch(/after 3 attempt\(s\) \(not the vendor's fault; it does not count against the submission limits\)/);
    expect(done.runs.map((r) => [r.phase, r.status, r.failureReason])).toEqual([['sample', 'failed', 'internal']]);
    expect((await db.query<{ n: number }>('SELECT check_attempts AS n FROM submissions WHERE id = $1', [submitted.id])).rows[0]?.n).toBe(3);
  });

  it('ended every run exactly once, with the right result, leaving no container, mount or work directory', async () => {
    expect(submissions).toHaveLength(2);
    const evaluator = await stack.user('evaluator');
    const cohort = new Map(parseCohortCsv(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8')).map((c) => [c.caseId, c]));
    for (const id of submissions) {
      const s = await evaluator.get<Submission>(`/api/submissions/${id}`);
      const test = runOf(s, 'test') as Submission['runs'][number];
      const cases = await evaluator.get<{ caseId: string; prediction: { probability: number } }[]>(`/api/runs/${test.id}/cases`);
      expect(cases).toHaveLength(test.casesTotal);
      const labels = cases.map((c) => cohort.get(c.caseId)?.label as number);
      const ours = cases.map((c) => predictProbability(models.logreg.fit, cohort.get(c.caseId)?.features as number[]));
      const run = await evaluator.get<{ metrics: Record<string, { value: number }> }>(`/api/runs/${test.id}`);
      expect(run.metrics.auroc?.value).toBeCloseTo(pairCountAuroc(labels, ours), 4);
    }
    // Exactly once: one run per phase, one terminal audit entry per run, one result per run, no prediction twice.
    const runs = await db.query<{ id: string; terminal: number; results: number; predictions: number; distinct_cases: number; cases_total: number }>(
      `SELECT r.id,
              (SELECT count(*)::int FROM audit_log a WHERE a.entity_id = r.id::text AND a.action IN ('run.succeeded', 'run.failed', 'run.cancelled')) AS terminal,
              (SELECT count(*)::int FROM evaluation_results e WHERE e.run_id = r.id) AS results,
              (SELECT count(*)::int FROM run_predictions p WHERE p.run_id = r.id) AS predictions,
              (SELECT count(DISTINCT case_id)::int FROM run_predictions p WHERE p.run_id = r.id) AS distinct_cases,
              r.cases_total
         FROM runs r WHERE r.submission_id = ANY($1::uuid[])`,
      [submissions],
    );
    expect(runs.rows).toHaveLength(4);
    for (const r of runs.rows) expect(r).toEqual({ ...r, terminal: 1, results: 1, predictions: r.cases_total, distinct_cases: r.cases_total });
    // The determinism check of each held-out run was recorded once, after every kill, and found the same outputs.
    const determinism = await db.query<{ split: string; determinism: { checked: boolean; cases: number; identical: number; mismatches: string[] } | null }>('SELECT split, determinism FROM runs WHERE submission_id = ANY($1::uuid[])', [submissions]);
    for (const r of determinism.rows) {
      if (r.split === 'sample') expect(r.determinism).toBeNull();
      else expect(r.determinism).toMatchObject({ checked: true, cases: 5, identical: 5, mismatches: [] });
    }
    // The audit chain holds across every kill and restart.
    await expect(stack.admin.get('/api/audit/verify')).resolves.toMatchObject({ ok: true, brokenAt: null });
    // Nothing left on the host: no sandbox container of this worker, no mount or directory under its work dir.
    const containers = await new Docker().listContainers({ all: true, filters: { label: [`${LABEL_WORKER}=${WORKER_ID}`] } });
    expect(containers.map((c) => c.Id)).toEqual([]);
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(stack.config.dataDir));
    expect(mounts).toEqual([]);
    // Each worker has its own root under work/ (worker-<id>); every attempt's directory under it is gone.
    const workDir = join(stack.config.dataDir, 'work');
    const left = (existsSync(workDir) ? readdirSync(workDir) : []).flatMap((root) => readdirSync(join(workDir, root)).map((name) => `${root}/${name}`));
    expect(left).toEqual([]);
  });
});
