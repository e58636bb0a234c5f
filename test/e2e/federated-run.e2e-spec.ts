import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReferenceModels, type BuildReferenceModelsResult } from '../../scripts/reference-models/build';
import { predictProbability } from '../../scripts/reference-models/logistic-regression';
import { parseCohortCsv } from '../../scripts/reference-models/wdbc-csv';
import type { AssayClient } from '../../src/cli/api-client';
import type { INestApplicationContext } from '@nestjs/common';
import { Database } from '../../src/database/database.module';
import { NodeJobsService } from '../../src/federation/node-jobs.service';
import { EVALUATE_JOB_KIND } from '../../src/federation/node-protocol';
import { FederatedRuns } from '../../src/runs/federated-runs';
import type { NodePolicy } from '../../src/federation/node-policy';
import { federatedWdbcDefinition, type HospitalNode, startHospitalNodes, startNodeAgent, stopHospitalNodes, WDBC_HEADER, WDBC_ROWS } from '../support/hospital-nodes';
import { pairCountAuroc } from '../support/oracles';
import { eventually, startTestStack, type TestStack } from '../support/test-stack';

jest.setTimeout(600_000);

// A hub (API + worker + sandbox) and two hospital nodes, each with its own object store and sandbox, in this process.
// The nodes hold WDBC's rows split in two, with case ids of their own (the hub never had them); the benchmark's
// held-out phase runs on the nodes, its pre-flight at the hub. One node is offline when the run starts.

const POLICY: NodePolicy = { acceptedBenchmarks: ['wdbc-federated'], acceptedVendorOrganisations: ['*'], resourceLimits: { maxCpus: 2, maxMemoryMb: 2048 }, egress: 'score-distributions' };

describe('a federated benchmark: pre-flight at the hub, the held-out phase on two hospital nodes, pooled exactly', () => {
  let stack: TestStack;
  let nodes: HospitalNode[];
  let vendor: AssayClient;
  let models: BuildReferenceModelsResult;
  let work: string;
  const db = (): Database => stack.api.get(Database);

  /** The vendor submits the logistic model; waits for its held-out (node) run to end; the run as the evaluator sees it. */
  const submitAndWaitForTestRun = async (): Promise<{ runId: string; run: { status: string; failureReason: string | null; failureDetail: string | null } }> => {
    const submitted = await vendor.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark: 'wdbc-federated', manifest: JSON.stringify(models.logreg.manifest) }, fileField: 'model', filePath: models.logreg.modelPath });
    type Sub = { runs: { id: string; phase: string; status: string }[] };
    const done = await eventually(() => vendor.get<Sub>(`/api/submissions/${submitted.id}`), (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed', 'cancelled'].includes(r.status)), 300_000);
    const runId = (done.runs.find((r) => r.phase === 'test') as { id: string }).id;
    return { runId, run: await (await stack.user('evaluator')).get(`/api/runs/${runId}`) };
  };

  beforeAll(async () => {
    // A lease of 3 s, shorter than a node's evaluation: the run completes only if the agent keeps extending it.
    stack = await startTestStack({ worker: true, env: { ASSAY_NODE_LEASE_MS: '3000' } });
    vendor = (await stack.vendor('Vendor F')).client;
    nodes = await startHospitalNodes(
      stack,
      [
        { name: 'hospital-a', prefix: 'HOSPA', rows: WDBC_ROWS.slice(0, 300) },
        { name: 'hospital-b', prefix: 'HOSPB', rows: WDBC_ROWS.slice(300) },
      ],
      POLICY,
    );
    // The evaluator defines the federated benchmark; each node's cohort is pinned by the hash it registered.
    await (await stack.user('evaluator')).post('/api/benchmarks', federatedWdbcDefinition('wdbc-federated', nodes));
    work = mkdtempSync(join(tmpdir(), 'assay-fed-'));
    writeFileSync(join(work, 'sample.csv'), await vendor.get<string>('/api/benchmarks/wdbc-federated/sample-data'));
    models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
    // Hospital A is online; hospital B is not yet.
    startNodeAgent(stack, nodes[0] as HospitalNode, POLICY);
  });

  afterAll(async () => {
    await stopHospitalNodes(nodes ?? []);
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('waits for the offline node, completes when it returns, and pools AUROC exactly over both hospitals', async () => {
    const submitted = await vendor.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark: 'wdbc-federated', manifest: JSON.stringify(models.logreg.manifest) }, fileField: 'model', filePath: models.logreg.modelPath });
    type Sub = { runs: { id: string; phase: string; status: string }[] };
    const waiting = await eventually(
      () => vendor.get<Sub>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && r.status === 'waiting_for_node'),
      300_000,
    );
    const testRunId = (waiting.runs.find((r) => r.phase === 'test') as { id: string }).id;
    const evaluator = await stack.user('evaluator');
    type RunView = { status: string; federation: { nodes: { node: string; status: string; jobId?: string }[]; deadlinePassed: boolean }; metrics: Record<string, { value: number; method: string }> | null; details: Record<string, unknown> | null };
    const seen = await evaluator.get<RunView>(`/api/runs/${testRunId}`);
    expect(seen.federation.nodes.find((n) => n.node === 'hospital-b')?.status).toBe('waiting_for_node');
    expect(seen.federation.deadlinePassed).toBe(false);
    // The vendor sees where the nodes stand, not the hub's job ids.
    const asVendor = await vendor.get<RunView>(`/api/runs/${testRunId}`);
    expect(asVendor.federation.nodes.every((n) => n.jobId === undefined)).toBe(true);

    startNodeAgent(stack, nodes[1] as HospitalNode, POLICY);
    await eventually(() => evaluator.get<RunView>(`/api/runs/${testRunId}`), (r) => ['succeeded', 'failed'].includes(r.status), 300_000);
    const run = await evaluator.get<RunView>(`/api/runs/${testRunId}`);
    expect(run.status).toBe('succeeded');
    expect(run.federation.nodes.map((n) => [n.node, n.status])).toEqual([
      ['hospital-a', 'done'],
      ['hospital-b', 'done'],
    ]);
    // Oracle: the source labels, the model's probability in float64, AUROC by pair counting over both nodes' test cases.
    const heldOut = new Set(nodes.flatMap((n) => n.cohort.cases.filter((c) => c.split === 'test').map((c) => c.caseId)));
    const all = nodes.flatMap((n) => parseCohortCsv(`${WDBC_HEADER}\n${n.rows.join('\n')}\n`));
    const test = all.filter((c) => heldOut.has(c.caseId));
    expect(test.length).toBe(heldOut.size);
    const expected = pairCountAuroc(test.map((c) => c.label), test.map((c) => predictProbability(models.logreg.fit, c.features)));
    expect(Math.abs((run.metrics?.['auroc']?.value as number) - expected)).toBeLessThan(1e-4);
    expect(run.metrics?.['auroc']?.method).toMatch(/no case identifiers/);
    const fed = (run.details as { federation: { nodes: number; heterogeneity: Record<string, { i2: number }> }; subgroups: { node: Record<string, { group: string }[]> } }).federation;
    expect(fed.nodes).toBe(2);
    // Each node's own step timings come back with its result (staff only, in the run's details).
    for (const node of ['hospital-a', 'hospital-b']) expect((fed as unknown as { perNode: Record<string, { timings: Record<string, number> }> }).perNode[node]?.timings.sandboxTotalMs).toBeGreaterThan(0);
    expect(fed.heterogeneity['auroc']?.i2).toEqual(expect.any(Number));
    expect((run.details as { subgroups: { node: Record<string, { group: string }[]> } }).subgroups.node['auroc']?.map((g) => g.group)).toEqual(['hospital-a', 'hospital-b']);

    // The signed validation report names the nodes, how each metric was pooled, the per-node values and heterogeneity.
    const reports = await eventually(() => stack.admin.get<{ id: string; audience: string }[]>(`/api/reports?run=${testRunId}`), (list) => list.some((r) => r.audience === 'full'), 180_000);
    type Fed = { nodes: { node: string; contentHash: string; egress: string }[]; pooling: { metric: string; pooling: string }[]; perNode: { rows: { node: string }[] }; heterogeneity: { metric: string }[] };
    const full = await stack.admin.get<{ signed: { evidence: { federation?: Fed; cohort: { flow: unknown }; identity: { cohort: { slug: string } } } } }>(`/api/reports/${(reports.find((r) => r.audience === 'full') as { id: string }).id}`);
    const f = full.signed.evidence.federation as Fed;
    expect(f.nodes.map((x) => [x.node, x.egress])).toEqual([
      ['hospital-a', 'score-distributions'],
      ['hospital-b', 'score-distributions'],
    ]);
    expect(f.nodes.every((x) => /^[0-9a-f]{64}$/.test(x.contentHash))).toBe(true);
    expect(f.pooling.find((p) => p.metric === 'auroc')?.pooling).toBe('exact');
    expect(f.perNode.rows.map((r) => r.node)).toEqual(['hospital-a', 'hospital-b']);
    expect(f.heterogeneity.map((h) => h.metric)).toContain('auroc');
    expect(full.signed.evidence.identity.cohort.slug).toBe('federated:hospital-a/wdbc-site,hospital-b/wdbc-site');
    const html = await stack.admin.get<string>(`/api/reports/${(reports.find((r) => r.audience === 'full') as { id: string }).id}/report.html`);
    expect(html).toMatch(/5\.5 Federated nodes/);

    // On the leaderboard, with the pooled value.
    const board = await eventually(
      () => evaluator.get<{ rows: { submissionId: string; metrics: Record<string, { value: number }> }[] }>('/api/benchmarks/wdbc-federated/leaderboard?phase=test'),
      (b) => b.rows.some((r) => r.submissionId === submitted.id),
    );
    expect(Math.abs((board.rows[0]?.metrics['auroc']?.value as number) - (run.metrics?.['auroc']?.value as number))).toBeLessThan(1e-12);
    // …and one row per site beside it: each node's own AUROC as in the run's per-node table, with its case count.
    type Site = { site: string; n: number | null; suppressed: boolean; metrics: Record<string, { value: number | null }> };
    const sites = (board.rows[0] as unknown as { sites: Site[] }).sites;
    const perNode = (run.details as { subgroups: { node: Record<string, { group: string; n: number; value: number }[]> } }).subgroups.node['auroc'] ?? [];
    expect(sites.map((x) => [x.site, x.n, x.metrics['auroc']?.value])).toEqual(perNode.map((g) => [g.group, g.n, g.value]));
    expect(sites.reduce((acc, x) => acc + (x.n as number), 0)).toBe(heldOut.size);
    // The vendor's (public) view of this held-out phase: no per-site rows (k more held-out numbers per submission, and a
    // suppressed site would follow from the pooled value and the others), as the held-out vendor report has no subgroups.
    const publicBoard = await vendor.get<{ rows: { submissionId: string; sites: Site[] | null }[] }>('/api/benchmarks/wdbc-federated/leaderboard?phase=test');
    expect((publicBoard.rows.find((r) => r.submissionId === submitted.id) as { sites: Site[] | null }).sites).toBeNull();

    // No byte of the nodes' truth or inputs reached the hub: no node case id in its database, object store or logs.
    const dump = execFileSync('pg_dump', ['--data-only', stack.config.database.url], { maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
    const ids = [...nodes.flatMap((n) => n.cohort.cases.map((c) => c.caseId))];
    for (const id of ids) expect(dump.includes(id)).toBe(false);
    const hubFiles = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? hubFiles(join(dir, f)) : [join(dir, f)]));
    const s3 = hubFiles(stack.config.dataDir);
    for (const file of s3) {
      const text = readFileSync(file).toString('latin1');
      for (const n of nodes) expect(text.includes(`${n.prefix}-`)).toBe(false);
    }
  });

  it("lets the evaluator extend a waiting run's deadline, and cancel it once passed: the open node job is cancelled, never handed out", async () => {
    // Hospital B goes away; a second submission's held-out run gets hospital A's answer and waits for B's.
    await (nodes[1] as HospitalNode).agent?.stop();
    const submitted = await vendor.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark: 'wdbc-federated', manifest: JSON.stringify(models.baseline.manifest) }, fileField: 'model', filePath: models.baseline.modelPath });
    type Sub = { runs: { id: string; phase: string; status: string }[] };
    const withTest = await eventually(() => vendor.get<Sub>(`/api/submissions/${submitted.id}`), (s) => s.runs.some((r) => r.phase === 'test'), 300_000);
    const runId = (withTest.runs.find((r) => r.phase === 'test') as { id: string }).id;
    type Decision = { at: string; decision: string; deadline: string; hours?: number; by?: string; note?: string };
    type RunView = { status: string; failureDetail?: string | null; federation: { deadline: string; deadlinePassed: boolean; nodes: { node: string; status: string; jobId?: string }[]; decisions: Decision[] } };
    const evaluator = await stack.user('evaluator');
    const waiting = await eventually(
      () => evaluator.get<RunView>(`/api/runs/${runId}`),
      (r) => r.federation?.nodes.find((n) => n.node === 'hospital-a')?.status === 'done' && r.federation.nodes.find((n) => n.node === 'hospital-b')?.status !== 'done',
      300_000,
    );
    const decide = (who: AssayClient, body: unknown) => who.post<RunView>(`/api/runs/${runId}/federation/decision`, body);

    // Before the deadline: no cancellation (409 naming it); bad bodies are 400s naming the field; a vendor is refused.
    await expect(decide(evaluator, { decision: 'cancel' })).rejects.toMatchObject({ status: 409, body: { problems: expect.arrayContaining([expect.objectContaining({ field: 'decision' })]) } });
    await expect(decide(evaluator, { decision: 'extend' })).rejects.toMatchObject({ status: 400, body: { problems: expect.arrayContaining([expect.objectContaining({ field: 'hours' })]) } });
    await expect(decide(evaluator, { decision: 'extend', hours: 721 })).rejects.toMatchObject({ status: 400, body: { problems: expect.arrayContaining([expect.objectContaining({ field: 'hours' })]) } });
    await expect(decide(evaluator, { decision: 'wait' })).rejects.toMatchObject({ status: 400, body: { problems: expect.arrayContaining([expect.objectContaining({ field: 'decision' })]) } });
    await expect(decide(vendor, { decision: 'extend', hours: 1 })).rejects.toMatchObject({ status: 403 });

    const extended = await decide(evaluator, { decision: 'extend', hours: 2, note: 'hospital B is patching its scanner PACS' });
    expect(Date.parse(extended.federation.deadline) - Date.parse(waiting.federation.deadline)).toBe(2 * 3600_000);
    expect(extended.federation.decisions).toEqual([expect.objectContaining({ decision: 'extend', hours: 2, note: 'hospital B is patching its scanner PACS', by: expect.any(String), deadline: extended.federation.deadline })]);
    // The vendor sees that the wait was extended, not who decided or why.
    const asVendor = await vendor.get<RunView>(`/api/runs/${runId}`);
    expect(asVendor.federation.decisions).toEqual([{ at: expect.any(String), decision: 'extend', hours: 2, deadline: extended.federation.deadline }]);
    // The hub's sweep keeps following the run without writing the old deadline back.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await evaluator.get<RunView>(`/api/runs/${runId}`)).federation.deadline).toBe(extended.federation.deadline);

    // The deadline passes (moved into the past in the database, as time would), and the evaluator cancels.
    await db().manager().query(`UPDATE runs SET federation = jsonb_set(federation, '{deadline}', to_jsonb($2::text)) WHERE id = $1`, [runId, new Date(Date.now() - 60_000).toISOString()]);
    const cancelled = await decide(evaluator, { decision: 'cancel', note: 'hospital B is out for the quarter' });
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.failureDetail).toMatch(/cancelled by the evaluator after the deadline .* waiting for hospital-b: hospital B is out for the quarter/);
    expect(cancelled.federation.decisions.map((d) => d.decision)).toEqual(['extend', 'cancel']);
    await expect(decide(evaluator, { decision: 'cancel' })).rejects.toMatchObject({ status: 409 });
    const jobB = cancelled.federation.nodes.find((n) => n.node === 'hospital-b')?.jobId as string;
    const statusOf = async (): Promise<string> => ((await db().manager().query('SELECT status FROM node_jobs WHERE id = $1', [jobB])) as { status: string }[])[0]?.status as string;
    expect(await statusOf()).toBe('cancelled');
    // Hospital B comes back: its cancelled job is not handed out, and the run stays cancelled.
    startNodeAgent(stack, nodes[1] as HospitalNode, POLICY);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await statusOf()).toBe('cancelled');
    expect((await evaluator.get<RunView>(`/api/runs/${runId}`)).status).toBe('cancelled');
    const audit = (await db().manager().query(`SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY seq`, [runId])) as { action: string }[];
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['run.federation_extended', 'run.cancelled']));

    // A job left open for a run that has ended (a dispatch racing the run's end, a crash between the two): the worker's
    // sweep cancels it. The nodes are stopped first, so nothing leases it meanwhile.
    for (const n of nodes) await n.agent?.stop();
    const { job: orphan } = await stack.api.get(NodeJobsService).enqueue({ nodeId: (nodes[0] as HospitalNode).id, runId, kind: EVALUATE_JOB_KIND, payload: { orphan: true }, idempotencyKey: `orphan:${runId}` });
    expect(orphan.status).toBe('queued');
    await (stack.worker as INestApplicationContext).get(FederatedRuns).sweep();
    expect(((await db().manager().query('SELECT status FROM node_jobs WHERE id = $1', [orphan.id])) as { status: string }[])[0]?.status).toBe('cancelled');
  });

  it("fails a run as the facility's fault when a node scored other than the cohort it registered (count or hash), never the vendor's", async () => {
    for (const n of nodes) startNodeAgent(stack, n, POLICY);
    // Hospital B's registration at the hub says one more held-out case than its cohort holds.
    const b = nodes[1] as HospitalNode;
    const registered = b.cohort.cases.filter((c) => c.split === 'test').length;
    await db().manager().query(`UPDATE node_cohorts SET case_counts = jsonb_set(case_counts, '{test}', to_jsonb($2::int)) WHERE node_id = $1`, [b.id, registered + 1]);
    const { run } = await submitAndWaitForTestRun();
    expect(run.status).toBe('failed');
    expect(run.failureReason).toBe('internal');
    expect(run.failureDetail).toBe(`node hospital-b scored ${registered} test case(s), its registered cohort has ${registered + 1}; not the vendor's fault`);
    await db().manager().query(`UPDATE node_cohorts SET case_counts = jsonb_set(case_counts, '{test}', to_jsonb($2::int)) WHERE node_id = $1`, [b.id, registered]);
  });

  it("refuses to pool a node's summary that does not hold together (a score list against its own counts), as the node's fault", async () => {
    for (const n of nodes) await n.agent?.stop();
    startNodeAgent(stack, nodes[0] as HospitalNode, POLICY);
    // Hospital B's node, signing with its own key, adds one high-scoring negative its confusion counts do not have:
    // the pooled AUROC and specificity would be a number that no set of cases gives.
    startNodeAgent(stack, nodes[1] as HospitalNode, POLICY, (handler) => ({
      kind: handler.kind,
      async handle(job, ctx) {
        const out = await handler.handle(job, ctx);
        if (out.outcome !== 'succeeded') return out;
        const d = out.output.scoreDistributions as { positive: number[]; negative: number[] };
        return { ...out, output: { ...out.output, scoreDistributions: { ...d, negative: [...d.negative, 0.99] } } };
      },
    }));
    const { runId, run } = await submitAndWaitForTestRun();
    expect(run.status).toBe('failed');
    expect(run.failureReason).toBe('internal');
    expect(run.failureDetail).toMatch(/^node hospital-b returned an inconsistent summary: the score lists hold \d+ positives and \d+ negatives, the confusion counts \d+ and \d+; not pooled, not the vendor's fault$/);
    // Nothing was scored or put on the board from it.
    expect(await db().manager().query('SELECT 1 FROM evaluation_results WHERE run_id = $1', [runId])).toEqual([]);
  });
});
