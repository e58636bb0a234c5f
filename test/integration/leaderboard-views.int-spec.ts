// The leaderboard's serialized views (src/leaderboards/leaderboard-views.ts) across processes: the API process serves
// a board from memory until a rebuild is committed anywhere; a run scored and materialized by the worker (its own
// process) shows on the API's very next read, in both views, and the gzip and identity encodings carry one document.
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { BenchmarksService } from '../../src/benchmarks/benchmarks.service';
import { CohortsService } from '../../src/cohorts/cohorts.service';
import { createDataSource } from '../../src/database/data-source';
import { expandRankShare } from '../../src/leaderboards/leaderboards.dto';
import { LeaderboardsRepository } from '../../src/leaderboards/leaderboards.repository';
import { LeaderboardsService } from '../../src/leaderboards/leaderboards.service';
import { JobName } from '../../src/queue/queue.constants';
import { QueueService } from '../../src/queue/queue.service';
import { taskDefinition } from '../../src/tasks/registry';
import { eventually, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';
import { WorkerProcess } from '../support/worker-process';

jest.setTimeout(240_000);

const BENCHMARK = 'wdbc-malignancy';
const URL_PATH = `/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`;

interface Board {
  fullPrecision: boolean;
  rows: { submissionId: string; rank: number; metrics: Record<string, { value: number | null }> }[];
}

/** A raw GET (node:http: no automatic Accept-Encoding or decompression), to see the bytes and headers served. */
function rawGet(baseUrl: string, token: string, headers: Record<string, string> = {}, path = URL_PATH): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('leaderboard views across processes (real Postgres, Redis, object store, worker process)', () => {
  let stack: TestStack;
  let ds: DataSource;
  let worker: WorkerProcess;
  let versionId: string;
  let caseIds: string[];
  let labels: number[];
  let vendorToken: string;
  let evaluatorToken: string;
  // One entry per vendor ("best"): each submission here is its own organisation's.
  const owner = async (): Promise<{ organisationId: string; userId: string }> => stack.vendor(`Views ${++n} Ltd`);
  let n = 0;
  const work = mkdtempSync(join(tmpdir(), 'assay-lb-views-'));

  /** A held-out run of a new submission with the given per-case probabilities, in `status` (as the worker leaves it). */
  async function run(probabilities: number[], status: 'succeeded' | 'scoring'): Promise<{ runId: string; submissionId: string }> {
    const by = await owner();
    const [sub] = (await ds.query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       VALUES ($1, $2, $3, 'onnx', $4, '{}', 'submissions/x', $5, 1, 'accepted') RETURNING id`,
      [versionId, by.organisationId, by.userId, `views-${n}`, `${n}`.padStart(64, '0')],
    )) as { id: string }[];
    const [r] = (await ds.query(
      `INSERT INTO runs (submission_id, benchmark_version_id, phase, split, status, cases_total, cases_done, model_sha256, cohort_content_hash, benchmark_content_hash, started_at)
       VALUES ($1, $2, 'test', 'test', $3, $4, $4, 'x', 'x', 'x', now()) RETURNING id`,
      [sub?.id, versionId, status, caseIds.length],
    )) as { id: string }[];
    const runId = r?.id as string;
    await ds.query("INSERT INTO run_predictions (run_id, case_id, prediction) SELECT $1, c, jsonb_build_object('probability', p) FROM unnest($2::text[], $3::float8[]) AS t(c, p)", [runId, caseIds, probabilities]);
    return { runId, submissionId: sub?.id as string };
  }

  /** Scores a succeeded run in this process with the task's scorer (as the worker would have). */
  async function scoreHere(runId: string, probabilities: number[]): Promise<void> {
    const version = await stack.api.get(BenchmarksService).requireVersion(versionId);
    const report = await taskDefinition('binary-classification').score({
      truth: { caseIds, labels },
      predictions: new Map(caseIds.map((c, i) => [c, { probability: probabilities[i] }])),
      definition: version.definition,
      metadata: new Map(),
    });
    if ('missing' in report) throw new Error('missing cases');
    await ds.query('INSERT INTO evaluation_results (run_id, n, metrics, details, per_case) VALUES ($1, $2, $3, $4, $5)', [runId, report.n, JSON.stringify(report.metrics), '{}', JSON.stringify(report.perCase)]);
  }

  const stamp = async (): Promise<string | null> =>
    ((await ds.query("SELECT xmin::text || '/' || computed_at::text AS s FROM leaderboard_snapshots WHERE benchmark_version_id = $1 AND phase = 'test'", [versionId])) as { s: string }[])[0]?.s ?? null;
  const read = async (token: string): Promise<{ etag: string; board: Board }> => {
    const res = await fetch(`${stack.baseUrl}${URL_PATH}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return { etag: res.headers.get('etag') ?? '', board: (await res.json()) as Board };
  };
  // A separation-s model: probability = logistic(s·(y − ½) + deterministic noise).
  const model = (s: number, seed: number): number[] => labels.map((y, i) => Number((1 / (1 + Math.exp(-(s * (y - 0.5) + Math.sin(i * 12.9898 + seed) * 1.7)))).toFixed(6)));

  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_DATA_DIR: join(work, 'data') } });
    ds = createDataSource(stack.config.database.url);
    await ds.initialize();
    const { version } = await stack.api.get(BenchmarksService).resolveCurrent(BENCHMARK);
    versionId = version.id;
    const cohorts = stack.api.get(CohortsService);
    const truth = (await taskDefinition('binary-classification').readTruth(cohorts.truthSource(await cohorts.requireVersion(version.cohortVersionId), 'test'))) as { caseIds: string[]; labels: number[] };
    ({ caseIds, labels } = truth);
    const vendor = await stack.vendor('Views Reader Ltd');
    vendorToken = (await stack.admin.post<{ token: string }>(`/api/users/${vendor.userId}/tokens`, { label: 'views' })).token;
    const evaluator = await stack.admin.post<{ id: string }>('/api/users', { email: 'views-evaluator@test.local', displayName: 'evaluator', role: 'evaluator' });
    evaluatorToken = (await stack.admin.post<{ token: string }>(`/api/users/${evaluator.id}/tokens`, { label: 'views' })).token;
    // The worker as deployed: its own process, the API's database, queue prefix and (embedded) object store.
    worker = new WorkerProcess(
      {
        ASSAY_MODE: 'test',
        DATABASE_URL: stack.config.database.url,
        REDIS_URL: stack.config.redis.url,
        ASSAY_QUEUE_PREFIX: stack.config.redis.queuePrefix,
        ASSAY_S3_EMBEDDED_PORT: String(stack.config.storage.embeddedPort),
        ASSAY_DATA_DIR: stack.config.dataDir,
        ASSAY_CATALOGUE_DIR: REPO_ROOT,
        ASSAY_WORKER_ID: 'views-worker',
        ASSAY_WORKER_GPUS: 'none',
        ASSAY_LOG_LEVEL: 'log',
      },
      join(work, 'worker.log'),
    );
    worker.start();
  });

  afterAll(async () => {
    await worker?.close();
    await ds?.destroy();
    await stack?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves a rebuild committed by the worker process on the next read, in the public and the full view', async () => {
    for (const [i, s] of [1.5, 2.5].entries()) {
      const p = model(s, i);
      const { runId } = await run(p, 'succeeded');
      await scoreHere(runId, p);
    }
    // Never built yet: its (empty) view is read from the database once and then kept, until the first rebuild.
    expect(await stamp()).toBeNull();
    const boardReads = jest.spyOn(stack.api.get(LeaderboardsRepository), 'findBoard');
    const empty = await read(vendorToken);
    expect(empty.board.rows).toHaveLength(0);
    expect(await read(vendorToken)).toEqual(empty);
    expect(boardReads).toHaveBeenCalledTimes(1);
    boardReads.mockRestore();
    await stack.api.get(LeaderboardsService).materialize(versionId, 'test');
    // Both views built and kept; a second read is the same rebuild (same validator, same document).
    const before = { vendor: await read(vendorToken), evaluator: await read(evaluatorToken) };
    expect(before.vendor.board.rows).toHaveLength(2);
    expect(before.evaluator.board.fullPrecision).toBe(true);
    expect(before.vendor.board.fullPrecision).toBe(false);
    expect(await read(vendorToken)).toEqual(before.vendor);
    expect(await read(evaluatorToken)).toEqual(before.evaluator);
    expect(before.vendor.etag).not.toBe(before.evaluator.etag);

    // A third submission's run, in `scoring`: the worker process scores it, commits `succeeded` and rebuilds the board.
    const stampBefore = await stamp();
    const best = model(4, 7);
    const third = await run(best, 'scoring');
    await stack.api.get(QueueService).enqueue({ name: JobName.ScoreRun, payload: { runId: third.runId }, jobId: `${third.runId}:score` });
    // Wait on the database (not on the API) for the worker's rebuild, then read the API once.
    await eventually(stamp, (s) => s !== stampBefore, 180_000);
    const [stored] = (await ds.query('SELECT metrics FROM evaluation_results WHERE run_id = $1', [third.runId])) as { metrics: Record<string, { value: number }> }[];
    const auroc = stored?.metrics.auroc?.value as number;
    const after = { vendor: await read(vendorToken), evaluator: await read(evaluatorToken) };
    for (const view of [after.vendor, after.evaluator]) {
      expect(view.board.rows).toHaveLength(3);
      expect(view.board.rows[0]?.submissionId).toBe(third.submissionId);
    }
    expect(after.evaluator.board.rows[0]?.metrics.auroc?.value).toBe(auroc);
    expect(after.vendor.board.rows[0]?.metrics.auroc?.value).toBe(Math.round(auroc * 1e4) / 1e4);
    expect(after.vendor.etag).not.toBe(before.vendor.etag);
    expect(after.evaluator.etag).not.toBe(before.evaluator.etag);
  });

  it("serves the public view under the version's own rounding when the definition is rewritten in place, without a rebuild", async () => {
    const before = await read(vendorToken);
    const full = (await read(evaluatorToken)).board.rows[0]?.metrics.auroc?.value as number;
    expect(before.board.rows[0]?.metrics.auroc?.value).toBe(Math.round(full * 1e4) / 1e4);
    const [{ precision }] = (await ds.query(`SELECT definition->'precision' AS precision FROM benchmark_versions WHERE id = $1`, [versionId])) as [{ precision: number | null }];
    // An operator lowers the precision in SQL: no new version, no rebuild of the board (its stamp is unchanged).
    const boardStamp = await stamp();
    await ds.query(`UPDATE benchmark_versions SET definition = jsonb_set(definition, '{precision}', '2') WHERE id = $1`, [versionId]);
    try {
      const after = await read(vendorToken);
      expect(await stamp()).toBe(boardStamp);
      expect(after.board.rows[0]?.metrics.auroc?.value).toBe(Math.round(full * 1e2) / 1e2);
      expect(after.etag).not.toBe(before.etag);
    } finally {
      await ds.query(
        precision === null ? `UPDATE benchmark_versions SET definition = definition - 'precision' WHERE id = $1` : `UPDATE benchmark_versions SET definition = jsonb_set(definition, '{precision}', to_jsonb($2::int)) WHERE id = $1`,
        precision === null ? [versionId] : [versionId, precision],
      );
    }
    expect((await read(vendorToken)).board.rows[0]?.metrics.auroc?.value).toBe(Math.round(full * 1e4) / 1e4);
  });

  it('sends one document gzip-encoded to clients that accept it and as plain JSON to those that do not', async () => {
    const plain = await rawGet(stack.baseUrl, vendorToken);
    const zipped = await rawGet(stack.baseUrl, vendorToken, { 'accept-encoding': 'br;q=1, gzip;q=0.8' });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['content-type']).toMatch(/^application\/json/);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/Accept-Encoding/i);
    expect(Number(zipped.headers['content-length'])).toBe(zipped.body.length);
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect((JSON.parse(plain.body.toString()) as Board).rows).toHaveLength(3);
    // Refusals are unchanged: no token is 401, and a missing phase names the field.
    expect((await rawGet(stack.baseUrl, 'not-a-token')).status).toBe(401);
    const missing = await fetch(`${stack.baseUrl}/api/benchmarks/${BENCHMARK}/leaderboard?phase=nope`, { headers: { authorization: `Bearer ${vendorToken}` } });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/phase/);
  });

  it('serves pages in rank order with total, offset and limit, a 304 for a matching ETag, and 400 naming a bad paging field', async () => {
    type Page = Board & { total: number; offset: number; limit: number; methods: Record<string, string>; rows: { rankShare: number[] | null; rankShareFrom: number | null; metrics: Record<string, { method?: string }> }[] };
    const page = async (token: string, query: string): Promise<{ status: number; etag: string; body: Page }> => {
      const res = await fetch(`${stack.baseUrl}${URL_PATH}${query}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, etag: res.headers.get('etag') ?? '', body: (await res.json()) as Page };
    };
    const whole = await page(evaluatorToken, '');
    expect(whole.body).toMatchObject({ total: 3, offset: 0, limit: 100 });
    const slices = [await page(evaluatorToken, '&limit=1'), await page(evaluatorToken, '&limit=1&offset=1'), await page(evaluatorToken, '&offset=2&limit=5'), await page(evaluatorToken, '&offset=3')];
    expect(slices.map((p) => p.body.rows.map((r) => r.submissionId))).toEqual([[whole.body.rows[0]?.submissionId], [whole.body.rows[1]?.submissionId], [whole.body.rows[2]?.submissionId], []]);
    expect(slices.map((p) => [p.body.total, p.body.offset, p.body.limit])).toEqual([[3, 0, 1], [3, 1, 1], [3, 2, 5], [3, 3, 100]]);
    expect(new Set([whole, ...slices].map((p) => p.etag)).size).toBe(5);

    // Nothing lost: the sparse rank shares and the board's methods give back what the entries hold.
    const entries = (await ds.query('SELECT submission_id, rank_share, metrics FROM leaderboard_entries WHERE benchmark_version_id = $1 AND phase = $2', [versionId, 'test'])) as { submission_id: string; rank_share: number[] | null; metrics: Record<string, { method: string }> }[];
    expect(entries).toHaveLength(3);
    for (const row of whole.body.rows) {
      const stored = entries.find((e) => e.submission_id === row.submissionId);
      expect(expandRankShare(row, stored?.rank_share?.length ?? 0)).toEqual(stored?.rank_share);
      if (row.rankShare && row.rankShare.length > 0) expect([row.rankShare[0], row.rankShare[row.rankShare.length - 1]]).not.toContain(0);
      for (const name of Object.keys(row.metrics)) expect(row.metrics[name]?.method ?? whole.body.methods[name]).toBe(stored?.metrics[name]?.method);
      expect(Object.keys(row.metrics).length).toBeGreaterThan(1);
    }
    expect(JSON.stringify(whole.body.rows)).not.toMatch(/"method"/);

    // Conditional GET: the page's own ETag is 304 without a body; another page's is not.
    const first = await rawGet(stack.baseUrl, vendorToken, { 'accept-encoding': 'gzip' });
    const again = await rawGet(stack.baseUrl, vendorToken, { 'if-none-match': String(first.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect((await rawGet(stack.baseUrl, vendorToken, { 'if-none-match': `"other", W/${String(first.headers.etag)}` })).status).toBe(304);
    expect((await rawGet(stack.baseUrl, vendorToken, { 'if-none-match': String(first.headers.etag) }, `${URL_PATH}&limit=2`)).status).toBe(200);
    // A 304 still needs access: no token is 401 whatever the ETag.
    expect((await rawGet(stack.baseUrl, 'not-a-token', { 'if-none-match': String(first.headers.etag) })).status).toBe(401);

    for (const [query, field] of [['&limit=0', 'limit'], ['&limit=1001', 'limit'], ['&limit=abc', 'limit'], ['&limit=1.5', 'limit'], ['&limit=1&limit=2', 'limit'], ['&offset=-1', 'offset'], ['&offset=x', 'offset']] as const) {
      const res = await fetch(`${stack.baseUrl}${URL_PATH}${query}`, { headers: { authorization: `Bearer ${vendorToken}` } });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      const body = (await res.json()) as { message: string; details?: { field: string }[] };
      expect(JSON.stringify(body)).toContain(field);
    }
  });
});
