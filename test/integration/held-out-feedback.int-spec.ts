// Held-out feedback on the real services: what GET /api/runs/:id and the leaderboard show a vendor, and the Ladder's
// state in Postgres under concurrent rebuilds and across an API restart.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { parse } from 'yaml';
import type { AssayClient } from '../../src/cli/api-client';
import { createDataSource } from '../../src/database/data-source';
import { CohortsService } from '../../src/cohorts/cohorts.service';
import { RANK_INTERVAL_REPLICATES } from '../../src/metrics/stats';
import { LeaderboardsService } from '../../src/leaderboards/leaderboards.service';
import { parseTruthCsv } from '../../src/metrics/predictions';
import { scoreBinary } from '../../src/metrics/score-report';
import { StorageService } from '../../src/storage/storage.service';
import { createTestDatabase } from '../support/test-database';
import { REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(180_000);

interface RunView {
  metrics: Record<string, { value: number | null; ci: [number, number] | null; method: string; counts?: { numerator: number; denominator: number } }> | null;
  feedback: { mechanism: string; state: string; step: number | null; improved: boolean | null };
}

/** A leaderboard page: a metric's method is stated once in `methods` unless a row's differs. */
type Board = { methods: Record<string, string>; rows: { metrics: Record<string, { value: number | null; ci: [number, number] | null; method?: string }> }[] };
const rowMetric = (board: Board, i: number, name: string): Record<string, unknown> | undefined => {
  const m = board.rows[i]?.metrics[name];
  return m && { ...m, method: m.method ?? board.methods[name] };
};

/** Stored metrics as the scorer writes them (counts in their own field). */
function storedMetrics(auroc: number): Record<string, unknown> {
  return {
    auroc: { value: auroc, ci: [auroc - 0.02, Math.min(1, auroc + 0.02)], method: 'Mann–Whitney U; CI: DeLong (Sun & Xu fast algorithm), Wald 95% CI clipped to [0,1]' },
    auprc: { value: 0.912345678, ci: [0.88, 0.94], method: 'average precision; CI: stratified bootstrap' },
    sensitivity: { value: 190 / 205, ci: [0.8853, 0.9548], method: 'TP/(TP+FN), Wilson score 95% CI', counts: { numerator: 190, denominator: 205 } },
    specificity: { value: 320 / 344, ci: [0.9, 0.95], method: 'TN/(TN+FP), Wilson score 95% CI', counts: { numerator: 320, denominator: 344 } },
    balanced_accuracy: { value: 0.93, ci: [0.91, 0.95], method: '(sensitivity + specificity)/2; CI: stratified bootstrap' },
    brier: { value: 0.0412345678, ci: [0.031, 0.052], method: 'mean (p − y)²; CI: stratified bootstrap' },
  };
}

describe('held-out feedback (real Postgres, API, object store)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let stack: TestStack;
  let ds: DataSource;
  let evaluator: AssayClient;
  let vendor: { client: AssayClient; organisationId: string; userId: string };
  let ladderVersionId: string;
  let vendorToken: string;
  let n = 0;
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-feedback-'));

  /** A succeeded held-out run with its result, as the worker leaves it (no sandbox needed to test the feedback path). */
  async function scoredRun(versionId: string, auroc: number, at: Date, result?: { metrics: Record<string, unknown>; predictions: Map<string, number>; labels?: Map<string, number> }, owner: { organisationId: string; userId: string } = vendor): Promise<string> {
    const [sub] = (await ds.query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       VALUES ($1, $2, $3, 'onnx', $4, '{}', 'submissions/x', $5, 1, 'accepted') RETURNING id`,
      [versionId, owner.organisationId, owner.userId, `probe-${++n}`, `${n}`.padStart(64, '0')],
    )) as { id: string }[];
    const [run] = (await ds.query(
      `INSERT INTO runs (submission_id, benchmark_version_id, phase, split, status, cases_total, cases_done, model_sha256, cohort_content_hash, benchmark_content_hash, started_at, finished_at)
       VALUES ($1, $2, 'test', 'test', 'succeeded', 549, 549, 'x', 'x', 'x', $3, $3) RETURNING id`,
      [sub?.id, versionId, at],
    )) as { id: string }[];
    // As the scorer stores them: per-case results in the truth's order (what leaderboards read, never the truth).
    const labels = result?.labels;
    const perCase = result && labels ? [...labels.keys()].map((caseId) => ({ caseId, label: labels.get(caseId), probability: result.predictions.get(caseId) })) : null;
    await ds.query('INSERT INTO evaluation_results (run_id, n, metrics, details, per_case, created_at) VALUES ($1, 549, $2, $3, $4, $5)', [
      run?.id,
      JSON.stringify(result?.metrics ?? storedMetrics(auroc)),
      JSON.stringify({ confusion: { tp: 190, fn: 15, tn: 320, fp: 24 } }),
      perCase === null ? null : JSON.stringify(perCase),
      at,
    ]);
    if (result) {
      const ids = [...result.predictions.keys()];
      await ds.query('INSERT INTO run_predictions (run_id, case_id, prediction) SELECT $1, c, jsonb_build_object(\'probability\', p) FROM unnest($2::text[], $3::float8[]) AS t(c, p)', [run?.id, ids, ids.map((id) => result.predictions.get(id))]);
    }
    return run?.id as string;
  }

  async function start(): Promise<void> {
    // One database and one object-store directory across both API lifetimes.
    stack = await startTestStack({ worker: false, database: { url: database.url, drop: async () => undefined }, env: { ASSAY_DATA_DIR: dataDir } });
    const user = await stack.admin.post<{ id: string }>('/api/users', { email: `evaluator-${Date.now()}@test.local`, displayName: 'evaluator', role: 'evaluator' });
    evaluator = stack.admin.withToken((await stack.admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'test' })).token);
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    await start();
    ds = createDataSource(database.url);
    await ds.initialize();
    vendor = await stack.vendor('Prober Ltd');
    vendorToken = (await stack.admin.post<{ token: string }>(`/api/users/${vendor.userId}/tokens`, { label: 'sse' })).token;
    const def = parse(readFileSync(join(REPO_ROOT, 'benchmarks', 'wdbc-malignancy', 'benchmark.yaml'), 'utf8')) as Record<string, unknown>;
    const created = await evaluator.post<{ versionId?: string; id?: string }>('/api/benchmarks', {
      ...def,
      slug: 'wdbc-ladder',
      phases: [
        { name: 'sample', split: 'sample', leaderboard: 'public' },
        { name: 'test', split: 'test', leaderboard: 'hidden' },
      ],
      feedback: { mechanism: 'ladder', step: 0.01 },
    });
    expect(created).toBeDefined();
    const [row] = (await ds.query("SELECT v.id FROM benchmark_versions v JOIN benchmarks b ON b.id = v.benchmark_id WHERE b.slug = 'wdbc-ladder'")) as { id: string }[];
    ladderVersionId = row?.id as string;
  });

  afterAll(async () => {
    await ds?.destroy();
    await stack?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows a vendor rounded scores without counts or Wilson CIs on a released held-out phase; evaluators see full precision', async () => {
    const [wdbc] = (await ds.query("SELECT v.id FROM benchmark_versions v JOIN benchmarks b ON b.current_version_id = v.id WHERE b.slug = 'wdbc-malignancy'")) as { id: string }[];
    const runId = await scoredRun(wdbc?.id as string, 0.987654321, new Date());
    await stack.api.get(LeaderboardsService).materialize(wdbc?.id as string, 'test');
    const seen = await vendor.client.get<RunView>(`/api/runs/${runId}`);
    expect(seen.metrics?.auroc).toEqual({ value: 0.9877, ci: [0.9676, 1], method: expect.not.stringMatching(/\d+\/\d+/) });
    expect(seen.metrics?.sensitivity).toEqual({ value: 0.9268, ci: null, method: expect.stringMatching(/withheld/) });
    expect(seen.metrics?.brier?.value).toBe(0.0412);
    expect(JSON.stringify(seen)).not.toMatch(/numerator|190\/205|confusion/);
    const full = await evaluator.get<RunView>(`/api/runs/${runId}`);
    expect(full.metrics?.auroc?.value).toBe(0.987654321);
    expect(full.metrics?.sensitivity?.counts).toEqual({ numerator: 190, denominator: 205 });
    // The other routes a vendor reaches carry no held-out scores at all.
    const [sub] = (await ds.query('SELECT submission_id FROM runs WHERE id = $1', [runId])) as { submission_id: string }[];
    const listed = JSON.stringify([await vendor.client.get(`/api/submissions/${sub?.submission_id}`), await vendor.client.get('/api/submissions'), await vendor.client.get('/api/submissions/quota/wdbc-malignancy')]);
    expect(listed).not.toMatch(/auroc|brier|0\.98|numerator/);
    const events = await fetch(`${stack.baseUrl}/api/runs/${runId}/events`, { headers: { Authorization: `Bearer ${vendorToken}` } }).then((r) => r.text());
    expect(events).toMatch(/event: run/);
    expect(events).not.toMatch(/auroc|brier|0\.98/);
    await expect(vendor.client.get(`/api/runs/${runId}/cases`)).rejects.toThrow(/HTTP 403/);
    await expect(vendor.client.get(`/api/runs/${runId}/logs`)).rejects.toThrow(/HTTP 403/);
    await expect(vendor.client.get(`/api/benchmarks/wdbc-malignancy/leaderboard/compare?a=${sub?.submission_id}&b=${sub?.submission_id}`)).rejects.toThrow(/HTTP 403/);
    const board = await vendor.client.get<Board>('/api/benchmarks/wdbc-malignancy/leaderboard?phase=test');
    expect(rowMetric(board, 0, 'sensitivity')).toEqual({ value: 0.9268, ci: null, method: expect.stringMatching(/withheld/) });
    expect(JSON.stringify(board)).not.toMatch(/numerator|\d+\/\d+/);
  });

  it('applies each run to the vendor’s ladder exactly once under concurrent rebuilds, and shows nothing before release', async () => {
    const scores = [0.8, 0.805, 0.8301, 0.835, 0.9, 0.85];
    const t0 = Date.now() - 60_000;
    const runs: string[] = [];
    for (const [i, s] of scores.entries()) runs.push(await scoredRun(ladderVersionId, s, new Date(t0 + i * 1000)));
    const service = stack.api.get(LeaderboardsService);
    await Promise.all(Array.from({ length: 4 }, () => service.materialize(ladderVersionId, 'test')));
    const rows = (await ds.query('SELECT run_id, shown_value, improved FROM held_out_feedback WHERE run_id = ANY($1::uuid[])', [runs])) as { run_id: string; shown_value: number; improved: boolean }[];
    const byRun = new Map(rows.map((r) => [r.run_id, r]));
    expect(runs.map((id) => byRun.get(id)?.shown_value)).toEqual([0.8, 0.8, 0.83, 0.83, 0.9, 0.9]);
    expect(runs.map((id) => byRun.get(id)?.improved)).toEqual([true, false, true, false, true, false]);
    const [state] = (await ds.query('SELECT shown_value, leader_run_id, rounds FROM ladder_states WHERE benchmark_version_id = $1', [ladderVersionId])) as { shown_value: number; leader_run_id: string; rounds: number }[];
    expect(state).toEqual({ shown_value: 0.9, leader_run_id: runs[4], rounds: 6 });

    const hidden = await vendor.client.get<RunView>(`/api/runs/${runs[1]}`);
    expect(hidden).toMatchObject({ metrics: null, feedback: { mechanism: 'ladder', state: 'withheld' } });
    await expect(vendor.client.get('/api/benchmarks/wdbc-ladder/leaderboard?phase=test')).rejects.toThrow(/HTTP 404/);
  });

  it('after release shows the ladder value only, on the run and the leaderboard, and keeps the state across an API restart', async () => {
    await evaluator.json('PATCH', '/api/benchmarks/wdbc-ladder/phases/test', { leaderboard: 'public' });
    const runs = (await ds.query('SELECT r.id FROM runs r JOIN evaluation_results e ON e.run_id = r.id WHERE r.benchmark_version_id = $1 ORDER BY e.created_at', [ladderVersionId])) as { id: string }[];
    const view = await vendor.client.get<RunView>(`/api/runs/${runs[1]?.id}`);
    expect(view).toEqual({ ...view, metrics: { auroc: { value: 0.8, ci: null, method: expect.stringMatching(/Ladder on auroc \(Blum & Hardt/) } }, feedback: { mechanism: 'ladder', state: 'shown', step: 0.01, improved: false } });
    const board = await vendor.client.get<Board & { rows: { rankInterval: unknown }[]; robustness: unknown; feedback: unknown }>('/api/benchmarks/wdbc-ladder/leaderboard?phase=test');
    expect(board.feedback).toEqual({ mechanism: 'ladder', step: 0.01 });
    expect(board.robustness).toBeNull();
    expect(board.rows).toHaveLength(1);
    expect(board.rows[0]?.metrics?.auroc?.value).toBe(0.9);
    expect(rowMetric(board, 0, 'sensitivity')).toEqual({ value: null, ci: null, method: expect.stringMatching(/withheld/) });

    // The API goes away and comes back on the same database: the ladder continues from its persisted state.
    await stack.close();
    await start();
    // Same vendor user, a token minted by the new API (the client's base URL changed).
    vendor = { ...vendor, client: stack.admin.withToken((await stack.admin.post<{ token: string }>(`/api/users/${vendor.userId}/tokens`, { label: 'after restart' })).token) };
    const notEnough = await scoredRun(ladderVersionId, 0.905, new Date());
    const enough = await scoredRun(ladderVersionId, 0.9213, new Date(Date.now() + 1000));
    await stack.api.get(LeaderboardsService).materialize(ladderVersionId, 'test');
    expect((await vendor.client.get<RunView>(`/api/runs/${notEnough}`)).metrics?.auroc?.value).toBe(0.9);
    expect((await vendor.client.get<RunView>(`/api/runs/${enough}`)).metrics?.auroc?.value).toBe(0.92);
    const full = await evaluator.get<{ rows: { metrics: RunView['metrics'] }[]; fullPrecision: boolean }>('/api/benchmarks/wdbc-ladder/leaderboard?phase=test');
    expect(full.fullPrecision).toBe(true);
    expect(full.rows[0]?.metrics?.auroc?.value).toBe(0.9213);
  });

  it('runs the parameter-free Ladder on per-case Brier losses from the stored per-case results', async () => {
    const def = parse(readFileSync(join(REPO_ROOT, 'benchmarks', 'wdbc-malignancy', 'benchmark.yaml'), 'utf8')) as Record<string, unknown>;
    await evaluator.post('/api/benchmarks', { ...def, slug: 'wdbc-free', metrics: { primary: 'brier', secondary: ['auroc'], threshold: 0.5 }, feedback: { mechanism: 'ladder-parameter-free' } });
    const [row] = (await ds.query("SELECT v.id, v.cohort_version_id FROM benchmark_versions v JOIN benchmarks b ON b.id = v.benchmark_id WHERE b.slug = 'wdbc-free'")) as { id: string; cohort_version_id: string }[];
    const cohorts = stack.api.get(CohortsService);
    const file = cohorts.fileOf(await cohorts.requireVersion(row?.cohort_version_id as string), 'truth', 'test/labels.csv');
    const truth = parseTruthCsv((await stack.api.get(StorageService).getBuffer('truth', file.key)).toString('utf8'));
    if (!truth.ok) throw new Error('truth');
    const labels = truth.value.map((t) => t.label);
    const submit = (p: (y: number, i: number) => number, at: number): Promise<string> => {
      const scores = labels.map(p);
      const report = scoreBinary({ labels, scores, threshold: 0.5, bootstrap: { replicates: 200, seed: 1 } });
      return scoredRun(row?.id as string, 0, new Date(Date.now() + at), { metrics: report.metrics, predictions: new Map(truth.value.map((t, i) => [t.caseId, scores[i] as number])), labels: new Map(truth.value.map((t) => [t.caseId, t.label])) });
    };
    const first = await submit((y) => (y ? 0.8 : 0.2), 0); // Brier 0.04
    const tiny = await submit((y, i) => (i === 0 ? 0.5 : y ? 0.8 : 0.2), 1000); // one case worse: no move
    const better = await submit((y) => (y ? 0.9 : 0.1), 2000); // Brier 0.01 on every case
    await stack.api.get(LeaderboardsService).materialize(row?.id as string, 'test');
    const rows = (await ds.query('SELECT run_id, mechanism, shown_value, improved FROM held_out_feedback WHERE run_id = ANY($1::uuid[])', [[first, tiny, better]])) as { run_id: string; mechanism: string; shown_value: number; improved: boolean }[];
    const byRun = new Map(rows.map((r) => [r.run_id, r]));
    expect([first, tiny, better].map((id) => [byRun.get(id)?.mechanism, byRun.get(id)?.shown_value, byRun.get(id)?.improved])).toEqual([
      ['ladder-parameter-free', 0.04, true],
      ['ladder-parameter-free', 0.04, false],
      ['ladder-parameter-free', 0.01, true], // 3 decimals for n = 549
    ]);
  });
  it("re-selects a vendor's best submission inside every rank-bootstrap replicate, with B from the promised precision", async () => {
    const def = parse(readFileSync(join(REPO_ROOT, 'benchmarks', 'wdbc-malignancy', 'benchmark.yaml'), 'utf8')) as Record<string, unknown>;
    await evaluator.post('/api/benchmarks', { ...def, slug: 'wdbc-reselect' });
    const [row] = (await ds.query("SELECT v.id, v.cohort_version_id FROM benchmark_versions v JOIN benchmarks b ON b.id = v.benchmark_id WHERE b.slug = 'wdbc-reselect'")) as { id: string; cohort_version_id: string }[];
    const cohorts = stack.api.get(CohortsService);
    const file = cohorts.fileOf(await cohorts.requireVersion(row?.cohort_version_id as string), 'truth', 'test/labels.csv');
    const truth = parseTruthCsv((await stack.api.get(StorageService).getBuffer('truth', file.key)).toString('utf8'));
    if (!truth.ok) throw new Error('truth');
    const labels = truth.value.map((t) => t.label);
    const other = await stack.vendor('Rival Ltd');
    const submit = (noise: number, seed: number, at: number, owner = vendor): Promise<string> => {
      let x = seed;
      const scores = labels.map((y) => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return Math.min(1, Math.max(0, (y ? 0.6 : 0.4) + noise * (x / 2147483648 - 0.5)));
      });
      const report = scoreBinary({ labels, scores, threshold: 0.5, bootstrap: { replicates: 200, seed: 1 } });
      return scoredRun(row?.id as string, 0, new Date(Date.now() + at), { metrics: report.metrics, predictions: new Map(truth.value.map((t, i) => [t.caseId, scores[i] as number])), labels: new Map(truth.value.map((t) => [t.caseId, t.label])) }, owner);
    };
    await submit(1.2, 1, 0);
    await submit(1.2, 2, 1000);
    await submit(1.2, 3, 2000, other);
    await stack.api.get(LeaderboardsService).materialize(row?.id as string, 'test');
    const board = await evaluator.get<{ rows: { organisation: string }[]; robustness: { method: string; replicates: number } | null }>('/api/benchmarks/wdbc-reselect/leaderboard?phase=test');
    expect(board.rows).toHaveLength(2);
    expect(board.robustness?.replicates).toBe(RANK_INTERVAL_REPLICATES);
    expect(board.robustness?.method).toMatch(/each vendor's best submission re-selected inside every replicate/);
  });
  it('caps live event streams per user (429 past 4) and ends them when the token is revoked', async () => {
    const [sub] = (await ds.query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       VALUES ($1, $2, $3, 'onnx', 'sse@1', '{}', 'submissions/x', $4, 1, 'accepted') RETURNING id`,
      [ladderVersionId, vendor.organisationId, vendor.userId, 'e'.repeat(64)],
    )) as { id: string }[];
    const [run] = (await ds.query(
      `INSERT INTO runs (submission_id, benchmark_version_id, phase, split, status, cases_total, cases_done, model_sha256, cohort_content_hash, benchmark_content_hash)
       VALUES ($1, $2, 'sample', 'sample', 'queued', 20, 0, 'x', 'x', 'x') RETURNING id`,
      [sub?.id, ladderVersionId],
    )) as { id: string }[];
    const minted = await stack.admin.post<{ token: string; tokenId: string }>(`/api/users/${vendor.userId}/tokens`, { label: 'streams' });
    const open = async (): Promise<{ res: Response; abort: AbortController }> => {
      const abort = new AbortController();
      const res = await fetch(`${stack.baseUrl}/api/runs/${run?.id}/events`, { headers: { authorization: `Bearer ${minted.token}` }, signal: abort.signal });
      return { res, abort };
    };
    const streams = [await open(), await open(), await open(), await open()];
    expect(streams.map((x) => x.res.status)).toEqual([200, 200, 200, 200]);
    for (const x of streams) await x.res.body?.getReader().read();
    const fifth = await open();
    expect(fifth.res.status).toBe(429);
    streams[0]?.abort.abort();
    await new Promise((r) => setTimeout(r, 500));
    const again = await open();
    expect(again.res.status).toBe(200);
    // Revoked: every stream of that token ends within the recheck interval (10 s).
    const revoke = await fetch(`${stack.baseUrl}/api/tokens/${minted.tokenId}`, { method: 'DELETE', headers: { authorization: `Bearer ${minted.token}` } });
    expect(revoke.status).toBeLessThan(300);
    const t0 = Date.now();
    const reader = again.res.body?.getReader();
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
    }
    expect(Date.now() - t0).toBeLessThan(15_000);
    for (const x of streams.slice(1)) x.abort.abort();
  }, 60_000);
});
