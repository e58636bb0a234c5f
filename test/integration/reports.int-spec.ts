// Validation reports on the real services (Postgres, the S3 server, the API): generation through the pipeline into
// validation_reports and the reports bucket, regeneration, and who reads what (staff, granted regulators, the owning
// vendor's vendor form; everyone else 404), with the run's audit trail for a granted regulator.
import { DataSource } from 'typeorm';
import { BenchmarksService } from '../../src/benchmarks/benchmarks.service';
import { AssayClient } from '../../src/cli/api-client';
import type { SplitName } from '../../src/cohorts/cohorts.entity';
import { CohortsService } from '../../src/cohorts/cohorts.service';
import { canonicalJson } from '../../src/common/canonical-json';
import { sha256Hex } from '../../src/common/hashing';
import { createDataSource } from '../../src/database/data-source';
import type { SignedEvidence } from '../../src/reports/evidence';
import { ReportPipeline } from '../../src/reports/report-pipeline';
import { StorageService } from '../../src/storage/storage.service';
import { BINARY_CLASSIFICATION } from '../../src/tasks/binary-classification/binary-classification.task';
import type { TaskScore } from '../../src/tasks/task-definition';
import { LeaderboardsService } from '../../src/leaderboards/leaderboards.service';
import { startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(600_000);

describe('validation reports (real Postgres, S3 server, API)', () => {
  let stack: TestStack;
  let ds: DataSource;
  let pipeline: ReportPipeline;
  let evaluator: AssayClient;
  let regulator: AssayClient;
  let regulatorOther: AssayClient;
  let vendor: { client: AssayClient; organisationId: string; userId: string };
  let vendorOther: { client: AssayClient; organisationId: string; userId: string };
  let vendorToken: string;
  let runId: string;
  let otherRunId: string;
  let submissionId: string;
  let otherSubmissionId: string;
  let versionId: string;

  /** A succeeded held-out run of wdbc-malignancy with its result as the scorer stores it (scored by the task itself). */
  async function scoredRun(owner: { organisationId: string; userId: string }, name: string, seed: number): Promise<{ runId: string; submissionId: string }> {
    const version = await stack.api.get(BenchmarksService).requireVersion(versionId);
    const cases = await stack.api.get(CohortsService).caseMetadata(version.cohortVersionId, 'test' as SplitName);
    const ids = [...cases.keys()];
    const labels = ids.map((_, i) => (i % 3 === 0 ? 1 : 0));
    const predictions = new Map(ids.map((id, i) => [id, { probability: (((i + seed) * 7919) % 1000) / 1000 * 0.6 + 0.4 * (labels[i] as number) }]));
    const score = (await BINARY_CLASSIFICATION.score({ truth: { caseIds: ids, labels }, predictions, definition: { ...version.definition, metrics: { ...version.definition.metrics, bootstrapReplicates: 200 } }, metadata: cases })) as TaskScore;
    const [sub] = (await ds.query(
      `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
       VALUES ($1, $2, $3, 'onnx', $4, '{"name":"m","version":"2.0.1"}', 'submissions/x', $5, 1, 'accepted') RETURNING id`,
      [versionId, owner.organisationId, owner.userId, name, sha256Hex(name)],
    )) as { id: string }[];
    const [run] = (await ds.query(
      `INSERT INTO runs (submission_id, benchmark_version_id, phase, split, status, cases_total, cases_done, model_sha256, cohort_content_hash, benchmark_content_hash, metric_code_version, started_at, finished_at)
       VALUES ($1, $2, 'test', 'test', 'succeeded', $3, $3, $4, 'x', 'x', $5, now(), now()) RETURNING id`,
      [sub?.id, versionId, ids.length, sha256Hex(name), score.metricCodeVersion],
    )) as { id: string }[];
    await ds.query('INSERT INTO evaluation_results (run_id, n, metrics, details, per_case) VALUES ($1, $2, $3, $4, $5)', [
      run?.id,
      score.n,
      JSON.stringify(score.metrics),
      JSON.stringify({ ...score.details, metricCodeVersion: score.metricCodeVersion, subgroups: score.subgroups }),
      JSON.stringify(score.perCase),
    ]);
    return { runId: run?.id as string, submissionId: sub?.id as string };
  }

  const raw = (token: string, path: string): Promise<Response> => fetch(`${stack.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const status = (client: AssayClient, path: string, method = 'GET', body?: unknown): Promise<number> =>
    client.json(method, path, body).then(
      () => 200,
      (e: { status?: number }) => e.status ?? 0,
    );

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    ds = createDataSource(stack.config.database.url);
    await ds.initialize();
    const [row] = (await ds.query("SELECT v.id FROM benchmark_versions v JOIN benchmarks b ON b.current_version_id = v.id WHERE b.slug = 'wdbc-malignancy'")) as { id: string }[];
    versionId = row?.id as string;
    vendor = await stack.vendor('Report Vendor <A>');
    vendorOther = await stack.vendor('Report Vendor B');
    vendorToken = (await stack.admin.post<{ token: string }>(`/api/users/${vendor.userId}/tokens`, { label: 'raw' })).token;
    evaluator = await stack.user('evaluator');
    regulator = await stack.user('regulator');
    regulatorOther = await stack.user('regulator');
    ({ runId, submissionId } = await scoredRun(vendor, 'model <script>', 1));
    ({ runId: otherRunId, submissionId: otherSubmissionId } = await scoredRun(vendorOther, 'other model', 2));
    await stack.api.get(LeaderboardsService).materialize(versionId, 'test');
    pipeline = stack.api.get(ReportPipeline);
  });

  afterAll(async () => {
    await ds?.destroy();
    await stack?.close();
  });

  it('stores each form once under its deterministic id, with objects in the reports bucket; regenerating keeps the evidence hash', async () => {
    const full = await pipeline.generate({ runId, audience: 'full', comparators: [otherSubmissionId] });
    const vendorForm = await pipeline.generate({ runId, audience: 'vendor' });
    const again = await pipeline.generate({ runId, audience: 'full', comparators: [otherSubmissionId] });
    expect(again.evidenceSha256).toBe(full.evidenceSha256);
    const rows = (await ds.query('SELECT id, audience, evidence_sha256, html_key, pdf_key, html_sha256, comparators, evidence FROM validation_reports WHERE run_id = $1 ORDER BY audience', [runId])) as {
      id: string;
      audience: string;
      evidence_sha256: string;
      html_key: string;
      pdf_key: string;
      html_sha256: string;
      comparators: string[];
      evidence: SignedEvidence;
    }[];
    expect(rows.map((r) => [r.id, r.audience])).toEqual([
      [full.reportId, 'full'],
      [vendorForm.reportId, 'vendor'],
    ]);
    expect(rows[0]?.comparators).toEqual([otherSubmissionId]);
    // jsonb keeps the record: its canonical bytes still hash to the stored evidence hash.
    expect(sha256Hex(canonicalJson(rows[0]?.evidence.evidence))).toBe(rows[0]?.evidence_sha256);
    expect(rows[0]?.evidence.evidence.comparators[0]?.against.submissionId).toBe(otherSubmissionId);
    expect(rows[0]?.evidence.evidence.benchmarkContext?.entries).toBe(2);
    expect(rows[1]?.evidence.evidence.annexes.perCase).toBeNull();
    const storage = stack.api.get(StorageService);
    expect(sha256Hex(await storage.getBuffer('reports', rows[0]?.html_key as string))).toBe(rows[0]?.html_sha256);
    expect(await storage.exists('reports', rows[0]?.pdf_key as string)).toBe(true);
    const audits = (await ds.query("SELECT count(*)::int AS n FROM audit_log WHERE action = 'report.generated' AND entity_id = $1", [full.reportId])) as { n: number }[];
    expect(audits[0]?.n).toBe(2);
  });

  it('staff read every report; the owning vendor lists and reads only its vendor form; other vendors and ungranted regulators get 404', async () => {
    const ids = (await stack.admin.get<{ id: string; audience: string }[]>(`/api/reports?run=${runId}`)).map((r) => r.audience).sort();
    expect(ids).toEqual(['full', 'vendor']);
    const listed = await stack.admin.get<{ id: string; audience: string }[]>(`/api/reports?run=${runId}`);
    const fullId = listed.find((r) => r.audience === 'full')?.id as string;
    const vendorId = listed.find((r) => r.audience === 'vendor')?.id as string;
    expect((await evaluator.get<{ signed: SignedEvidence }>(`/api/reports/${fullId}`)).signed.evidence.annexes.perCase?.rows.length).toBeGreaterThan(0);
    expect((await vendor.client.get<{ id: string }[]>('/api/reports')).map((r) => r.id)).toEqual([vendorId]);
    expect(await status(vendor.client, `/api/reports/${vendorId}`)).toBe(200);
    expect(await status(vendor.client, `/api/reports/${fullId}`)).toBe(404);
    expect(await status(vendorOther.client, `/api/reports/${vendorId}`)).toBe(404);
    expect(await vendorOther.client.get<unknown[]>('/api/reports')).toEqual([]);
    expect(await status(regulator, `/api/reports/${fullId}`)).toBe(404);
    expect(await regulator.get<unknown[]>('/api/reports')).toEqual([]);
    expect(await status(regulator, `/api/runs/${runId}/audit`)).toBe(404);
    expect(await status(evaluator, '/api/reports/not-a-report-id')).toBe(404);
  });

  it('downloads: evidence.json is the signed record in canonical form; the HTML is served with a CSP that allows its inline style only (framed only by Assay\'s own report page); the PDF as an attachment', async () => {
    const vendorId = (await vendor.client.get<{ id: string }[]>('/api/reports'))[0]?.id as string;
    const ev = await raw(vendorToken, `/api/reports/${vendorId}/evidence.json`);
    expect(ev.status).toBe(200);
    expect(ev.headers.get('content-disposition')).toMatch(/^attachment; filename="assay-report-[0-9a-f]{32}\.evidence\.json"$/);
    const text = await ev.text();
    const signed = JSON.parse(text) as SignedEvidence;
    expect(text).toBe(canonicalJson(signed));
    expect(sha256Hex(canonicalJson(signed.evidence))).toBe(signed.signature.evidenceSha256);
    expect(signed.evidence.identity.submission.name).toBe('model <script>');
    const html = await raw(vendorToken, `/api/reports/${vendorId}/report.html`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'");
    const pdf = await raw(vendorToken, `/api/reports/${vendorId}/report.pdf`);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toMatch(/^attachment; /);
    expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('every download verifies as Assay signed it (POST /api/reports/verify, anonymous); one changed byte in each fails, naming the check', async () => {
    const [report] = await evaluator.get<{ id: string }[]>('/api/reports');
    const verify = async (body: Buffer, type: string): Promise<{ valid: boolean; format: string; checks: { name: string; ok: boolean }[] }> => {
      const res = await fetch(`${stack.baseUrl}/api/reports/verify`, { method: 'POST', headers: { 'content-type': type }, body });
      expect(res.status).toBe(200);
      return (await res.json()) as { valid: boolean; format: string; checks: { name: string; ok: boolean }[] };
    };
    const token = (evaluator as unknown as { token: string }).token;
    for (const [file, type, format, mark] of [
      ['evidence.json', 'application/json', 'json', '"casesTotal":'],
      ['report.html', 'text/html', 'html', '<h2'],
      ['report.pdf', 'application/pdf', 'pdf', '/MediaBox'],
    ] as const) {
      const bytes = Buffer.from(await (await raw(token, `/api/reports/${report!.id}/${file}`)).arrayBuffer());
      const good = await verify(bytes, type);
      expect({ file, valid: good.valid, format: good.format }).toEqual({ file, valid: true, format });
      // Tamper where a reader looks: a figure of the record, a heading of the page, a page box of the PDF.
      const at = bytes.indexOf(mark);
      expect(at).toBeGreaterThan(0);
      const tampered = Buffer.from(bytes);
      const i = at + mark.length + 1;
      tampered[i] = tampered[i] === 0x31 ? 0x32 : 0x31;
      const bad = await verify(tampered, type);
      expect({ file, valid: bad.valid }).toEqual({ file, valid: false });
      expect(bad.checks.filter((c) => !c.ok).map((c) => c.name).length).toBeGreaterThan(0);
    }
  });

  it('checks a printed hash (GET /api/reports/verify, anonymous) and names the report issued under it, also once a regeneration superseded it', async () => {
    const token = (evaluator as unknown as { token: string }).token;
    const full = await pipeline.generate({ runId, audience: 'full', comparators: [otherSubmissionId] });
    const evidenceOf = async (id: string) => (await (await raw(token, `/api/reports/${id}/evidence.json`)).json()) as SignedEvidence;
    const signed = await evidenceOf(full.reportId);
    expect(signed.signature.evidenceSha256).toBe(full.evidenceSha256);
    type Answer = { valid: boolean; checks: { name: string; ok: boolean; detail: string }[]; report: Record<string, unknown> | null };
    const q = async (s: SignedEvidence, over: Record<string, string> = {}): Promise<Answer> =>
      (await fetch(`${stack.baseUrl}/api/reports/verify?${new URLSearchParams({ evidenceSha256: s.signature.evidenceSha256, keyId: s.signature.keyId, signature: s.signature.digestValue as string, ...over }).toString()}`)).json() as Promise<Answer>;
    const answer = await q(signed);
    const e = signed.evidence;
    const summary = {
      reportId: e.reportId, audience: e.audience, date: e.date, benchmark: e.identity.benchmark.slug, benchmarkVersion: e.identity.benchmark.version, phase: e.identity.benchmark.phase,
      submission: e.identity.submission.name, organisation: e.identity.submission.organisation, primary: { metric: e.primary.endpoint.metric, value: e.primary.endpoint.value, ci: e.primary.endpoint.ci },
    };
    expect(answer).toMatchObject({ valid: true, checks: [{ name: 'key-known', ok: true }, { name: 'digest-signature', ok: true }, { name: 'report-on-record', ok: true }] });
    expect(answer.report).toEqual({ ...summary, current: true });
    // A bad signature names no report.
    const sig = signed.signature.digestValue as string;
    expect(await q(signed, { signature: `${sig.slice(0, 85)}${sig.endsWith('A') ? 'B' : 'A'}` })).toMatchObject({ valid: false, report: null });
    // Regenerated without the comparison: new evidence under the same report id. The earlier printout still checks,
    // names what that version said, and says it was superseded; the new hash is the current version.
    const plain = await pipeline.generate({ runId, audience: 'full', comparators: [] });
    expect(plain.reportId).toBe(full.reportId);
    expect(plain.evidenceSha256).not.toBe(full.evidenceSha256);
    const old = await q(signed);
    expect(old).toMatchObject({ valid: true, report: { ...summary, current: false } });
    expect(old.checks[2]?.detail).toMatch(/since superseded by a regeneration/);
    expect((await q(await evidenceOf(full.reportId))).report).toMatchObject({ current: true });
    // Back as it was for the tests after this one (the same content gives the same hash again: current again).
    expect((await pipeline.generate({ runId, audience: 'full', comparators: [otherSubmissionId] })).evidenceSha256).toBe(full.evidenceSha256);
    expect((await q(signed)).report).toMatchObject({ current: true });
  });

  it('a regulator reads what its grant covers, and the audit trail of the run behind it', async () => {
    const regEmail = (await regulator.get<{ email: string }>('/api/me')).email;
    await stack.admin.post('/api/grants', { regulatorEmail: regEmail, submissionId });
    const readable = await regulator.get<{ id: string; submissionId: string }[]>('/api/reports');
    expect(readable.length).toBe(2);
    expect(readable.every((r) => r.submissionId === submissionId)).toBe(true);
    const trail = await regulator.get<{ action: string; entityType: string }[]>(`/api/runs/${runId}/audit`);
    expect(trail.map((e) => e.action)).toContain('report.generated');
    expect(await status(regulator, `/api/runs/${otherRunId}/audit`)).toBe(404);
    expect(await regulatorOther.get<unknown[]>('/api/reports')).toEqual([]);
  });

  it('requests: 202 with the report ids for staff; comparators validated by field; vendors may not choose comparators; others 404', async () => {
    const queued = await evaluator.post<{ reports: { reportId: string; audience: string }[] }>(`/api/runs/${runId}/report`, { comparators: [otherSubmissionId] });
    expect(queued.reports.map((r) => r.audience)).toEqual(['full', 'vendor']);
    const listed = await stack.admin.get<{ id: string; audience: string }[]>(`/api/reports?run=${runId}`);
    expect(queued.reports.map((r) => r.reportId).sort()).toEqual(listed.map((r) => r.id).sort());
    const bad = await evaluator.json('POST', `/api/runs/${runId}/report`, { comparators: ['nope'] }).catch((e: { status: number; body: unknown }) => e);
    expect((bad as { status: number }).status).toBe(400);
    expect(JSON.stringify((bad as { body: unknown }).body)).toMatch(/comparator/);
    const self = await evaluator.json('POST', `/api/runs/${runId}/report`, { comparators: [submissionId] }).catch((e: { status: number; body: unknown }) => e);
    expect((self as { status: number }).status).toBe(400);
    expect(JSON.stringify((self as { body: unknown }).body)).toMatch(/comparators\.0/);
    expect(await status(vendor.client, `/api/runs/${runId}/report`, 'POST', { comparators: [otherSubmissionId] })).toBe(403);
    const own = await vendor.client.post<{ reports: { audience: string }[] }>(`/api/runs/${runId}/report`, {});
    expect(own.reports.map((r) => r.audience)).toEqual(['vendor']);
    expect(await status(vendorOther.client, `/api/runs/${runId}/report`, 'POST', {})).toBe(404);
    expect(await status(regulator, `/api/runs/${runId}/report`, 'POST', {})).toBe(403);
    expect(await status(evaluator, `/api/runs/${runId}/report`, 'POST', { extra: 1 })).toBe(400);
  });

  it('hiding the held-out phase again withdraws the vendor form from its owner (staff still read it); a vendor request is then refused with the reason', async () => {
    const vendorId = (await vendor.client.get<{ id: string }[]>('/api/reports'))[0]?.id as string;
    await stack.admin.json('PATCH', '/api/benchmarks/wdbc-malignancy/phases/test', { leaderboard: 'hidden' });
    try {
      expect(await vendor.client.get<unknown[]>('/api/reports')).toEqual([]);
      expect(await status(vendor.client, `/api/reports/${vendorId}`)).toBe(404);
      expect(await status(evaluator, `/api/reports/${vendorId}`)).toBe(200);
      const refused = await vendor.client.json('POST', `/api/runs/${runId}/report`, {}).catch((e: { status: number; body: unknown }) => e);
      expect((refused as { status: number }).status).toBe(409);
      expect(JSON.stringify((refused as { body: unknown }).body)).toMatch(/not released/);
      const staff = await evaluator.post<{ reports: { audience: string }[] }>(`/api/runs/${runId}/report`, {});
      expect(staff.reports.map((r) => r.audience)).toEqual(['full']);
    } finally {
      await stack.admin.json('PATCH', '/api/benchmarks/wdbc-malignancy/phases/test', { leaderboard: 'public' });
    }
    expect(await status(vendor.client, `/api/reports/${vendorId}`)).toBe(200);
  });
});
