import { RANK_INTERVAL_REPLICATES } from '../../src/metrics/stats';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { buildReferenceModels, BuildReferenceModelsResult } from '../../scripts/reference-models/build';
import { predictProbability } from '../../scripts/reference-models/logistic-regression';
import { parseCohortCsv } from '../../scripts/reference-models/wdbc-csv';
import { MANIFEST, nanModel, rawScoreModel, wrongWidthModel } from '../support/onnx-models';
import { eventually, startTestStack, TestStack } from '../support/test-stack';
import { verdictOf } from '../support/verdict';
import { pairCountAuroc } from '../support/oracles';

jest.setTimeout(120_000);

const BENCHMARK = 'wdbc-malignancy';
const ROOT = join(__dirname, '..', '..');

interface Submission {
  id: string;
  status: string;
  sha256: string;
  rejectionReason: string | null;
  runs: { id: string; phase: string; status: string; failureReason: string | null; failureDetail: string | null; casesTotal: number; casesDone: number }[];
}


async function expectApiError(promise: Promise<unknown>, status: number, message: RegExp): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    const e = error as ApiError;
    expect({ status: e.status, message: e.message }).toEqual({ status, message: expect.stringMatching(message) });
    return e;
  }
  throw new Error(`expected HTTP ${status}`);
}

describe('WDBC malignancy from token to leaderboard (HTTP API + worker + sandbox)', () => {
  let stack: TestStack;
  let vendorA: AssayClient;
  let vendorB: AssayClient;
  let models: BuildReferenceModelsResult;
  let work: string;

  const upload = (client: AssayClient, file: string, manifest: string, benchmark = BENCHMARK, extra: Record<string, string> = {}): Promise<Submission> =>
    client.uploadMultipart<Submission>('/api/submissions', { fields: { benchmark, manifest, ...extra }, fileField: 'model', filePath: file });
  const INTENDED_USE = { purpose: 'Second opinion on malignancy of breast masses from FNA nuclear features', population: 'adult women referred for fine-needle aspiration', operatingMode: 'second-reader' };
  type Determinism = { checked: boolean; cases: number; identical: number; method?: string; mismatches?: string[]; summary?: string; detail?: string } | null;

  beforeAll(async () => {
    stack = await startTestStack({ worker: true, env: { ASSAY_MAX_MODEL_BYTES: String(2 * 1024 * 1024) } });
    vendorA = (await stack.vendor('Vendor A')).client;
    vendorB = (await stack.vendor('Vendor B')).client;
    work = mkdtempSync(join(tmpdir(), 'assay-e2e-'));
    const sample = await vendorA.get<string>(`/api/benchmarks/${BENCHMARK}/sample-data`);
    writeFileSync(join(work, 'sample.csv'), sample);
    models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('runs a vendor’s ONNX model through pre-flight and the held-out split, and ranks it with the right AUROC', async () => {
    const submitted = await upload(vendorA, models.logreg.modelPath, JSON.stringify(models.logreg.manifest), BENCHMARK, { intendedUse: JSON.stringify(INTENDED_USE) });
    expect(submitted.status).toBe('validating');
    expect(submitted).toMatchObject({ intendedUse: INTENDED_USE });
    await expect(verdictOf(vendorA, submitted.id)).resolves.toMatchObject({ status: 'accepted', rejectionReason: null });
    expect(submitted.sha256).toMatch(/^[0-9a-f]{64}$/);

    const done = await eventually(
      () => vendorA.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)),
    );
    expect(done.runs.map((r) => [r.phase, r.status])).toEqual([
      ['sample', 'succeeded'],
      ['test', 'succeeded'],
    ]);
    const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];
    expect(testRun.casesDone).toBe(testRun.casesTotal);

    // Independent check: our own probabilities from the fitted parameters and the labels from the source CSV.
    const evaluator = await stack.user('evaluator');
    const cases = await evaluator.get<{ caseId: string; prediction: { probability: number } }[]>(`/api/runs/${testRun.id}/cases`);
    const cohort = new Map(parseCohortCsv(readFileSync(join(ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8')).map((c) => [c.caseId, c]));
    expect(cases).toHaveLength(549);
    const labels: number[] = [];
    const ours: number[] = [];
    for (const c of cases) {
      const row = cohort.get(c.caseId);
      if (!row) throw new Error(`unknown case ${c.caseId}`);
      const p = predictProbability(models.logreg.fit, row.features);
      expect(Math.abs(c.prediction.probability - p)).toBeLessThan(1e-5); // float32 inference in the sandbox
      labels.push(row.label);
      ours.push(p);
    }
    const expected = pairCountAuroc(labels, ours);
    const run = await evaluator.get<{ metrics: Record<string, { value: number; ci: [number, number] }>; pins: Record<string, string> }>(`/api/runs/${testRun.id}`);
    expect(run.metrics.auroc?.value).toBeCloseTo(expected, 4);
    expect(run.metrics.auroc?.ci[0]).toBeLessThanOrEqual(run.metrics.auroc?.value as number);
    expect(run.pins).toMatchObject({ modelSha256: submitted.sha256, sandboxRuntime: expect.stringMatching(/^runs?c$/), metricCodeVersion: expect.any(String) });

    // The determinism check: 5 held-out cases re-run in the real sandbox gave the same outputs; the public sample
    // phase is not checked. The declared intended use comes back, unchanged, to the vendor and to staff.
    const determinismOf = async (client: AssayClient, runId: string): Promise<Determinism> => (await client.get<{ determinism: Determinism }>(`/api/runs/${runId}`)).determinism;
    const determinism = await determinismOf(evaluator, testRun.id);
    expect(determinism).toEqual({ checked: true, cases: 5, identical: 5, method: expect.stringContaining('(5 of 549 cases)'), mismatches: [], summary: 'all 5 re-run cases gave identical outputs', detail: 'all 5 re-run cases gave identical outputs' });
    expect(determinism?.identical).toBe(determinism?.cases);
    await expect(determinismOf(evaluator, (done.runs.find((r) => r.phase === 'sample') as Submission['runs'][number]).id)).resolves.toBeNull();
    await expect(determinismOf(vendorA, testRun.id)).resolves.toEqual({ checked: true, cases: 5, identical: 5 });
    for (const reader of [vendorA, evaluator]) await expect(reader.get(`/api/submissions/${submitted.id}`)).resolves.toMatchObject({ intendedUse: INTENDED_USE });

    // The board is rebuilt just after the run's success commits (EvaluationProcessor.afterSucceeded): wait for it.
    const board = await eventually(
      () => vendorB.get<{ rows: { rank: number; organisation: string; submissionId: string; metrics: Record<string, { value: number; ci: [number, number] | null }> }[] }>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`),
      (b) => b.rows.some((r) => r.submissionId === submitted.id),
    );
    expect(board.rows[0]).toMatchObject({ rank: 1, organisation: 'Vendor A' });
    expect(Math.abs((board.rows[0]?.metrics.auroc?.value as number) - expected)).toBeLessThanOrEqual(5e-5); // rounded to 4 places
    for (const name of ['auprc', 'sensitivity', 'specificity', 'balanced_accuracy', 'brier']) expect(board.rows[0]?.metrics[name]?.value).toEqual(expect.any(Number));
  });

  it('ranks a second vendor and shows held-out runs to vendors without logs or per-case feedback', async () => {
    const submitted = await upload(vendorB, models.baseline.modelPath, JSON.stringify(models.baseline.manifest));
    expect(submitted).toMatchObject({ intendedUse: null });
    const done = await eventually(
      () => vendorB.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)),
    );
    const sampleRun = done.runs.find((r) => r.phase === 'sample') as Submission['runs'][number];
    const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];
    expect(testRun.status).toBe('succeeded');
    await expect(vendorB.get(`/api/runs/${sampleRun.id}/cases`)).resolves.toHaveLength(20);
    await expectApiError(vendorB.get(`/api/runs/${testRun.id}/cases`), 403, /no per-case feedback on held-out cases/);
    await expectApiError(vendorB.get(`/api/runs/${testRun.id}/logs`), 403, /held-out/);
    // Vendor A cannot see vendor B's submission or runs, and learns nothing about their existence.
    await expectApiError(vendorA.get(`/api/submissions/${submitted.id}`), 404, /not found/);
    await expectApiError(vendorA.get(`/api/runs/${testRun.id}`), 404, /not found/);

    const board = await eventually(
      () => vendorA.get<{ rows: { rank: number; organisation: string; submissionId: string }[] }>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`),
      (b) => b.rows.some((r) => r.submissionId === submitted.id),
    );
    expect(board.rows.map((r) => [r.rank, r.organisation])).toEqual([
      [1, 'Vendor A'],
      [2, 'Vendor B'],
    ]);
  });

  it('compares two entries paired on the same held-out cases for a regulator, and refuses vendors', async () => {
    const regulator = await stack.user('regulator');
    // Regulators read what they were granted (issue 7): this one is granted the benchmark.
    await stack.admin.post('/api/grants', { regulatorEmail: (await regulator.get<{ email: string }>('/api/me')).email, benchmark: BENCHMARK });
    const board = await regulator.get<{ rows: { submissionId: string; organisation: string }[] }>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`);
    const a = board.rows.find((r) => r.organisation === 'Vendor A')?.submissionId as string;
    const b = board.rows.find((r) => r.organisation === 'Vendor B')?.submissionId as string;
    const result = await regulator.get<{ n: number; comparison: Record<string, { difference: number; ci: [number, number] | null; p: number | null; p_holm?: number | null; method: string }> }>(
      `/api/benchmarks/${BENCHMARK}/leaderboard/compare?phase=test&a=${a}&b=${b}`,
    );
    expect(result.n).toBe(549);
    const auroc = result.comparison.auroc as { difference: number; ci: [number, number]; p: number; p_holm: number; method: string };
    expect(auroc.method).toMatch(/DeLong/);
    expect(auroc.ci[0]).toBeLessThanOrEqual(auroc.difference);
    expect(auroc.ci[1]).toBeGreaterThanOrEqual(auroc.difference);
    expect(auroc.p_holm).toBeGreaterThanOrEqual(auroc.p);
    expect(result.comparison.per_case_squared_error?.method).toMatch(/Wilcoxon signed-rank/);
    await expectApiError(vendorA.get(`/api/benchmarks/${BENCHMARK}/leaderboard/compare?a=${a}&b=${b}`), 403, /role 'vendor' may not/);
    await expectApiError(regulator.get(`/api/benchmarks/${BENCHMARK}/leaderboard/compare?a=${a}&b=${a}`), 400, /same as a/);
  });

  it('puts a bootstrap rank interval next to each rank, and lets an evaluator hide and release the leaderboard', async () => {
    interface Board {
      rows: { rank: number; rankInterval: [number, number] | null; rankShare: number[] | null }[];
      robustness: { kendallTau: { median: number } | null; replicates: number } | null;
    }
    const board = await vendorA.get<Board>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`);
    expect(board.robustness?.replicates).toBe(RANK_INTERVAL_REPLICATES);
    expect(board.robustness?.kendallTau?.median).toBeGreaterThan(0);
    for (const row of board.rows) {
      const [lo, hi] = row.rankInterval as [number, number];
      expect(lo).toBeLessThanOrEqual(row.rank);
      expect(hi).toBeGreaterThanOrEqual(row.rank);
      expect((row.rankShare as number[]).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    }

    const evaluator = await stack.user('evaluator');
    await expectApiError(vendorA.json('PATCH', `/api/benchmarks/${BENCHMARK}/phases/test`, { leaderboard: 'hidden' }), 403, /role 'vendor' may not/);
    await expectApiError(evaluator.json('PATCH', `/api/benchmarks/${BENCHMARK}/phases/test`, { leaderboard: 'secret' }), 400, /leaderboard must be one of/);
    await evaluator.json('PATCH', `/api/benchmarks/${BENCHMARK}/phases/test`, { leaderboard: 'hidden' });
    await expectApiError(vendorA.get(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`), 404, /not found/);
    await expect(evaluator.get<Board>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`)).resolves.toMatchObject({ rows: expect.any(Array) });
    await evaluator.json('PATCH', `/api/benchmarks/${BENCHMARK}/phases/test`, { leaderboard: 'public' });
    await expect(vendorA.get<Board>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`)).resolves.toMatchObject({ rows: expect.any(Array) });
  });

  it('streams run progress as server-sent events until the run ends', async () => {
    const mine = await vendorA.get<Submission[]>('/api/submissions');
    const run = mine[0]?.runs[0];
    if (!run) throw new Error('no run');
    const events: string[] = [];
    const last = await vendorA.followRun(run.id, (e) => events.push(e.status));
    expect(last.status).toBe('succeeded');
    expect(events.length).toBeGreaterThan(0);
  });

  it('fails a run whose predictions are outside [0, 1], naming the first bad line, and does not go on to the held-out split', async () => {
    const file = join(work, 'raw.onnx');
    writeFileSync(file, rawScoreModel());
    const submitted = await upload(vendorA, file, MANIFEST('raw-scores'));
    const done = await eventually(
      () => vendorA.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => ['succeeded', 'failed'].includes(r.status)),
    );
    expect(done.runs).toHaveLength(1);
    expect(done.runs[0]).toMatchObject({ phase: 'sample', status: 'failed', failureReason: 'invalid_output', failureDetail: expect.stringMatching(/line 1: .*outside \[0, 1\]/) });
  });

  it('fails a run whose predictions are NaN as invalid output', async () => {
    const file = join(work, 'nan.onnx');
    writeFileSync(file, nanModel());
    const submitted = await upload(vendorA, file, MANIFEST('nan-scores'));
    const done = await eventually(
      () => vendorA.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => ['succeeded', 'failed'].includes(r.status)),
    );
    expect(done.runs[0]).toMatchObject({ status: 'failed', failureReason: 'invalid_output', failureDetail: expect.stringMatching(/line 1:/) });
  });

  describe('bad requests get a 4xx naming the field and the problem, and leave nothing behind', () => {
    it('refuses a missing or unknown token', async () => {
      await expectApiError(new AssayClient(stack.baseUrl).get('/api/submissions'), 401, /missing Authorization header/);
      await expectApiError(new AssayClient(stack.baseUrl, 'assay_not-a-real-token').get('/api/submissions'), 401, /unknown, expired or revoked/);
    });

    it('refuses the wrong role', async () => {
      const regulator = await stack.user('regulator');
      await expectApiError(upload(regulator, models.logreg.modelPath, JSON.stringify(models.logreg.manifest)), 403, /role 'regulator' may not/);
      await expectApiError(vendorA.post('/api/organisations', { name: 'x' }), 403, /role 'vendor' may not/);
    });

    /** The upload is answered 202 validating; the worker's static check rejects it with the reason, and no run starts. */
    const expectRejected = async (submitted: Submission, reason: RegExp): Promise<void> => {
      expect(submitted.status).toBe('validating');
      const settled = await verdictOf<Submission>(vendorA, submitted.id);
      expect({ status: settled.status, rejectionReason: settled.rejectionReason, runs: settled.runs }).toEqual({ status: 'rejected', rejectionReason: expect.stringMatching(reason), runs: [] });
    };

    it('rejects a file that is not an ONNX model (in the worker\'s check, shown on the submission)', async () => {
      const file = join(work, 'not-a-model.onnx');
      writeFileSync(file, 'this is plain text, not a protobuf');
      await expectRejected(await upload(vendorA, file, MANIFEST('text')), /^model: not an ONNX model/);
    });

    it('rejects wrong tensor names and shapes, naming them', async () => {
      await expectRejected(await upload(vendorA, models.logreg.modelPath, MANIFEST('bad-name', { input: 'x' })), /manifest\.inputs\.features: the model has no input 'x'/);
      await expectRejected(await upload(vendorA, models.logreg.modelPath, MANIFEST('bad-out', { output: 'logits' })), /no output 'logits'/);
      const file = join(work, 'wide.onnx');
      writeFileSync(file, wrongWidthModel(31));
      await expectRejected(await upload(vendorA, file, MANIFEST('wide')), /input 'input': last dimension 31, expected 30/);
    });

    it('rejects an oversized upload', async () => {
      const file = join(work, 'big.onnx');
      writeFileSync(file, Buffer.alloc(3 * 1024 * 1024, 1));
      await expectApiError(upload(vendorA, file, MANIFEST('big')), 413, /model exceeds the upload limit/);
    });

    it('rejects an unknown benchmark and a malformed manifest', async () => {
      await expectApiError(upload(vendorA, models.logreg.modelPath, JSON.stringify(models.logreg.manifest), 'no-such-benchmark'), 404, /unknown benchmark 'no-such-benchmark'/);
      await expectApiError(upload(vendorA, models.logreg.modelPath, '{"name": '), 400, /manifest: is not valid JSON/);
      await expectApiError(upload(vendorA, models.logreg.modelPath, JSON.stringify({ name: 'x' })), 400, /manifest\.version/);
    });

    it('rejects a request that is not multipart', async () => {
      await expectApiError(vendorA.post('/api/submissions', { model: 'x' }), 415, /multipart\/form-data/);
    });

    it('left no staged upload and no submission row behind for any refused request (models the check rejected are kept, rejected)', async () => {
      const evaluator = await stack.user('evaluator');
      const all = await evaluator.get<{ name: string; status: string }[]>('/api/submissions');
      expect(all.map((s) => `${s.name} ${s.status}`).sort()).toEqual([
        'bad-name@1.0.0 rejected',
        'bad-out@1.0.0 rejected',
        'nan-scores@1.0.0 accepted',
        'raw-scores@1.0.0 accepted',
        'text@1.0.0 rejected',
        'wdbc-baseline@1.0.0 accepted',
        'wdbc-logreg@1.0.0 accepted',
        'wide@1.0.0 rejected',
      ]);
      const storage = stack.api.get((await import('../../src/storage/storage.service')).StorageService);
      const client = await storage.connect();
      const staged: string[] = [];
      for await (const item of client.listObjectsV2(storage.bucketName('submissions'), 'staging/', true)) staged.push((item as { name: string }).name);
      expect(staged).toEqual([]);
    });
  });

  it('lets an evaluator create a benchmark through the API, rejecting a bad definition field by field', async () => {
    const evaluator = await stack.user('evaluator');
    const shipped = (await evaluator.get<{ definition: Record<string, unknown> }>(`/api/benchmarks/${BENCHMARK}`)).definition;
    const { cohort, ...rest } = shipped as { cohort: { slug: string } } & Record<string, unknown>;
    const gpuDefinition = {
      ...rest,
      cohort: { slug: cohort.slug },
      slug: 'wdbc-gpu',
      title: 'WDBC on a GPU worker',
      limits: { ...(rest.limits as Record<string, unknown>), resources: { ...((rest.limits as Record<string, unknown>).resources as Record<string, unknown>), gpus: 1 } },
    };
    const bad = await expectApiError(evaluator.post('/api/benchmarks', { ...gpuDefinition, task: 'astrology', metrics: { primary: 'auroc', secondary: [], threshold: 7 } }), 400, /task: .*metrics\.threshold/);
    expect((bad.body as { problems: { field: string }[] }).problems.map((p) => p.field)).toEqual(expect.arrayContaining(['task', 'metrics.threshold']));
    await expectApiError(vendorA.post('/api/benchmarks', gpuDefinition), 403, /role 'vendor' may not/);
    const created = await evaluator.post<{ slug: string; version: number; created: boolean }>('/api/benchmarks', gpuDefinition);
    expect(created).toMatchObject({ slug: 'wdbc-gpu', version: 1, created: true });
    await expect(evaluator.post('/api/benchmarks', gpuDefinition)).resolves.toMatchObject({ version: 1, created: false });

    // No worker here has a GPU: the run waits, visibly, instead of failing or running on the CPU.
    const submitted = await upload(vendorB, models.logreg.modelPath, JSON.stringify(models.logreg.manifest), 'wdbc-gpu');
    await expect(verdictOf(vendorB, submitted.id)).resolves.toMatchObject({ status: 'accepted' });
    const waiting = await eventually(
      () => vendorB.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.length > 0,
    );
    expect(waiting.runs[0]?.status).toBe('waiting_for_gpu_worker');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await vendorB.get<Submission>(`/api/submissions/${submitted.id}`)).runs[0]?.status).toBe('waiting_for_gpu_worker');
  });

  it('shows a vendor its standing against the submission limits', async () => {
    const quota = await vendorA.get<{ limits: { perDay: number; total: number }; total: { counted: number; assayFaults: number }; last24h: { counted: number } }>(`/api/submissions/quota/${BENCHMARK}`);
    expect(quota.limits).toEqual({ perDay: 10, total: 100 });
    // logreg, raw-scores, nan-scores and the four models the check rejected (the vendor's fault: they count).
    expect(quota.total).toEqual({ counted: 7, assayFaults: 0 });
    expect(quota.last24h.counted).toBe(7);
  });

  it('keeps an audit chain over every change, which verifies', async () => {
    const regulator = await stack.user('regulator');
    const verification = await regulator.get<{ ok: boolean; entries: number }>('/api/audit/verify');
    expect(verification.ok).toBe(true);
    expect(verification.entries).toBeGreaterThan(20);
  });
});
