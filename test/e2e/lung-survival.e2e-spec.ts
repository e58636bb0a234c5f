import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { parse as parseYaml } from 'yaml';
import { AssayClient } from '../../src/cli/api-client';
import { linearRiskModel, RISK_MANIFEST } from '../support/onnx-models';
import { verdictOf } from '../support/verdict';
import { eventually, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(180_000);

interface Submission {
  id: string;
  status: string;
  runs: { id: string; phase: string; status: string; failureReason: string | null; failureDetail: string | null }[];
}

/**
 * Independent Harrell's C (O(n²)) in scikit-survival's concordance_index_censored convention, which the benchmark
 * names: (i, j) is comparable when i died and T_i < T_j, or T_i = T_j and j was censored; tied risks count ½.
 */
function harrell(time: number[], event: number[], risk: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < time.length; i++) {
    if (event[i] !== 1) continue;
    for (let j = 0; j < time.length; j++) {
      const ti = time[i] as number;
      const tj = time[j] as number;
      if (!(ti < tj || (ti === tj && event[j] === 0 && i !== j))) continue;
      den++;
      num += (risk[i] as number) > (risk[j] as number) ? 1 : risk[i] === risk[j] ? 0.5 : 0;
    }
  }
  return num / den;
}

describe('lung-survival: a risk model with missing inputs, Harrell and Uno C, subgroups, hidden held-out leaderboard', () => {
  let stack: TestStack;
  let vendor: AssayClient;
  let work: string;
  // Risk rises with age and ECOG score, falls with Karnofsky (physician): a plausible prognostic score.
  const weights = [0.02, -0.3, 0.5, -0.01, -0.005, 0, 0];

  beforeAll(async () => {
    stack = await startTestStack({ worker: true });
    vendor = (await stack.vendor('Survival Vendor')).client;
    work = mkdtempSync(join(tmpdir(), 'assay-lung-'));
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('scores the held-out split with C-indices that match an independent computation, and keeps the leaderboard hidden until released', async () => {
    const file = join(work, 'risk.onnx');
    writeFileSync(file, linearRiskModel(weights));
    const submitted = await vendor.uploadMultipart<Submission>('/api/submissions', { fields: { benchmark: 'lung-survival', manifest: RISK_MANIFEST('linear-risk') }, fileField: 'model', filePath: file });
    expect(submitted.status).toBe('validating');
    await expect(verdictOf(vendor, submitted.id)).resolves.toMatchObject({ status: 'accepted' });
    const done = await eventually(
      () => vendor.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)),
    );
    expect(done.runs.map((r) => [r.phase, r.status])).toEqual([
      ['sample', 'succeeded'],
      ['test', 'succeeded'],
    ]);
    const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];

    const evaluator = await stack.user('evaluator');
    const cases = await evaluator.get<{ caseId: string; prediction: { risk: number } }[]>(`/api/runs/${testRun.id}/cases`);
    expect(cases).toHaveLength(208);
    // Independent: the same linear score from the source CSV (NA → 0), and Harrell's C by pair counting.
    const rows = parse(readFileSync(join(REPO_ROOT, 'cohorts/ncctg-lung/ncctg_lung.csv')), { columns: true }) as Record<string, string>[];
    const cols = ['age', 'sex', 'ph.ecog', 'ph.karno', 'pat.karno', 'meal.cal', 'wt.loss'];
    const byId = new Map(rows.map((r, i) => [`LUNG-${String(i + 1).padStart(4, '0')}`, r]));
    const time: number[] = [];
    const event: number[] = [];
    const risk: number[] = [];
    for (const c of cases) {
      const r = byId.get(c.caseId) as Record<string, string>;
      const ours = cols.reduce((acc, col, k) => acc + (r[col] === 'NA' ? 0 : Number(r[col])) * (weights[k] as number), 0);
      expect(Math.abs(c.prediction.risk - ours)).toBeLessThan(1e-3); // float32 in the sandbox
      time.push(Number(r.time));
      event.push(r.status === '2' ? 1 : 0);
      risk.push(c.prediction.risk);
    }
    const run = await evaluator.get<{ metrics: Record<string, { value: number; ci: [number, number]; method: string }>; details: { subgroups: Record<string, Record<string, { group: string; suppressed: boolean; n: number | string; value?: number | null }[]>> } }>(`/api/runs/${testRun.id}`);
    expect(run.metrics.c_index_harrell?.value).toBeCloseTo(harrell(time, event, risk), 9);
    expect(run.metrics.c_index_uno?.method).toMatch(/Uno/);
    expect(run.metrics.c_index_harrell?.ci[0]).toBeLessThanOrEqual(run.metrics.c_index_harrell?.value as number);

    // Subgroups: every metric per sex, age band and site, with n; small sites suppressed as "n < 10".
    const sex = run.details.subgroups.sex?.c_index_harrell ?? [];
    expect(sex.map((g) => g.group)).toEqual(['female', 'male']);
    expect(sex.every((g) => !g.suppressed && typeof g.n === 'number')).toBe(true);
    const sites = run.details.subgroups.site?.c_index_harrell ?? [];
    const suppressed = sites.filter((g) => g.suppressed);
    expect(suppressed.length).toBeGreaterThan(0);
    // Below 10: "< 10"; if only one site were, the next-smallest would be withheld with it (complementary suppression).
    for (const g of suppressed) expect([{ group: g.group, suppressed: true, n: '< 10' }, { group: g.group, suppressed: true, n: 'withheld (complementary suppression)' }]).toContainEqual(g);
    expect(suppressed.filter((g) => g.n === '< 10').length).toBeGreaterThan(0);
    expect(suppressed.length).not.toBe(1);

    // The held-out leaderboard is hidden until an evaluator releases it; the sample one is public.
    await expect(vendor.get('/api/benchmarks/lung-survival/leaderboard?phase=test')).rejects.toThrow(/HTTP 404/);
    await expect(vendor.get('/api/benchmarks/lung-survival/leaderboard?phase=sample')).resolves.toMatchObject({ rows: [{ rank: 1 }] });
    await evaluator.json('PATCH', '/api/benchmarks/lung-survival/phases/test', { leaderboard: 'public' });
    // The board is rebuilt just after the run's success commits (EvaluationProcessor.afterSucceeded): wait for it.
    const board = await eventually(
      () => vendor.get<{ rows: { rank: number; metrics: Record<string, { value: number }> }[]; precision: number }>('/api/benchmarks/lung-survival/leaderboard?phase=test'),
      (b) => b.rows.length > 0,
    );
    expect(board.precision).toBe(3);
    expect(board.rows[0]?.metrics.c_index_harrell?.value).toBeCloseTo(run.metrics.c_index_harrell?.value as number, 3);
  });
  it("refuses a benchmark whose Uno τ leaves no death before it on a scored split, naming metrics.tau", async () => {
    const evaluator = await stack.user('evaluator');
    const def = parseYaml(readFileSync(join(REPO_ROOT, 'benchmarks', 'lung-survival', 'benchmark.yaml'), 'utf8')) as { metrics: Record<string, unknown> };
    const refused = await evaluator.post('/api/benchmarks', { ...def, slug: 'lung-tau-check', metrics: { ...def.metrics, tau: 1 } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400, body: { problems: expect.arrayContaining([{ field: 'metrics.tau', problem: expect.stringMatching(/^test split: no death with T_i < τ/) }]) } });
    await expect(evaluator.get('/api/benchmarks/lung-tau-check')).rejects.toMatchObject({ status: 404 });
  });
});
