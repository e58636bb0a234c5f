import fc from 'fast-check';
import { createPrivateKey, KeyObject } from 'node:crypto';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { Database } from '../../src/database/database.module';
import { HubError, LeasedJob, NodeAgent, NodeJobHandler } from '../../src/federation/node-agent';
import { NodeJobsService, runAttemptKeyPrefix } from '../../src/federation/node-jobs.service';
import { BenchmarksService } from '../../src/benchmarks/benchmarks.service';
import { EvaluationService } from '../../src/runs/evaluation.service';
import type { SubmissionEntity } from '../../src/submissions/submissions.entity';
import { generateNodeKeyFile, NodeKeys } from '../../src/federation/node-keys';
import type { NodePolicy } from '../../src/federation/node-policy';
import { NODE_HEADERS, signRequest, signResult } from '../../src/federation/node-protocol';
import { eventually, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';
import { hostileJson, mutationOf } from '../fuzz/arbitraries';

jest.setTimeout(180_000);

/** A lease lasts 1.5 s in this file, so expiry is seen without long waits. */
const LEASE_MS = 1500;

const POLICY: NodePolicy = { acceptedBenchmarks: ['wdbc-malignancy'], acceptedVendorOrganisations: ['*'], resourceLimits: { maxCpus: 4 }, egress: 'score-distributions' };
const IN_POLICY = { benchmark: 'wdbc-malignancy', vendorOrganisation: 'org-a', resources: { cpus: 2 } };

interface NodeView {
  id: string;
  name: string;
  status: string;
  lastSeen: string | null;
  latencyMs: number | null;
  versions: Record<string, string>;
  runtimes: string[];
  gpus: unknown[];
  queueDepth: number | null;
  jobsAtHub: number;
  reportedCohorts: string[];
  cohorts: { name: string; subgroupCounts: { count: unknown }[] }[];
  policy: NodePolicy | null;
  declaredPolicy: NodePolicy | null;
  currentKey: { keyId: string } | null;
}

const keysOf = (file: ReturnType<typeof generateNodeKeyFile>): NodeKeys => ({
  privateKey: createPrivateKey(file.privateKeyPem),
  publicKey: file.publicKey,
  keyId: file.keyId,
  pseudonymSecret: Buffer.from(file.pseudonymSecret, 'base64'),
});

/** A test-only handler (the evaluation handler is not this file's): echoes back what it was asked, plus what must never leave. */
const echo: NodeJobHandler = {
  kind: 'echo',
  handle: async (job: LeasedJob) => ({
    outcome: 'succeeded',
    output: { aggregates: { n: 3, asked: String(job.payload['tag'] ?? '') }, scoreDistributions: { positive: [0.9, 0.3], negative: [0.1] }, perCase: [{ caseId: 'case-secret-1', metrics: { p: 0.9 } }], logs: 'vendor log line' },
  }),
};

describe('federation: nodes and the signed hub <-> node protocol (real hub over loopback, real Postgres and Redis)', () => {
  let stack: TestStack;
  let jobs: NodeJobsService;
  const files = { a: generateNodeKeyFile(), b: generateNodeKeyFile() };
  const ids = { a: '', b: '' };
  const agents: NodeAgent[] = [];

  /** An agent not started: its request() signs with the node's key; tests drive the protocol by hand. */
  const agent = (who: 'a' | 'b', over: Partial<ConstructorParameters<typeof NodeAgent>[0]> = {}): NodeAgent => {
    const made = new NodeAgent({
      hubUrl: stack.baseUrl,
      nodeId: ids[who],
      keys: keysOf(files[who]),
      policy: POLICY,
      handlers: [echo],
      heartbeatMs: 300,
      leaseWaitMs: 2000,
      retryBaseMs: 50,
      describe: () => ({ versions: { assay: '0.1.0', node: process.version }, runtimes: ['runc'], gpus: [], cohorts: [`cohort-${who}`] }),
      log: () => undefined,
      ...over,
    });
    agents.push(made);
    return made;
  };

  const statusOf = async (work: Promise<unknown>): Promise<number> =>
    work.then(
      () => 200,
      (e: unknown) => {
        if (e instanceof HubError || e instanceof ApiError) return e.status;
        throw e;
      },
    );

  /** A request signed by hand, sent as given (for forgeries). */
  const raw = async (input: { path: string; body: string; headers: Record<string, string> }): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${stack.baseUrl}${input.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...input.headers }, body: input.body });
    return { status: res.status, text: await res.text() };
  };
  const signedBy = (key: KeyObject, nodeId: string, path: string, body: string, over: { now?: number; nonce?: string } = {}): Record<string, string> =>
    signRequest(key, { method: 'POST', pathWithQuery: path, nodeId, body: Buffer.from(body), ...over });

  const nodes = async (): Promise<NodeView[]> => stack.admin.get<NodeView[]>('/api/nodes');
  const nodeView = async (id: string): Promise<NodeView> => (await nodes()).find((n) => n.id === id) as NodeView;

  let n = 0;
  const enqueue = async (nodeId: string, payload: Record<string, unknown> = IN_POLICY, kind = 'echo'): Promise<string> => (await jobs.enqueue({ nodeId, kind, payload, idempotencyKey: `test-${++n}` })).job.id;
  const lease = async (a: NodeAgent, waitMs = 0): Promise<LeasedJob | null> => (await a.request<LeasedJob>('POST', '/api/node/jobs/lease', { waitMs })).json;
  const result = (who: 'a' | 'b', job: LeasedJob, res: Record<string, unknown>, signer: 'a' | 'b' = who): Record<string, unknown> => ({
    attempt: job.attempt,
    leaseToken: job.leaseToken,
    result: res,
    signature: signResult(keysOf(files[signer]).privateKey, { jobId: job.id, attempt: job.attempt, nodeId: ids[who], result: res }),
  });

  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_NODE_LEASE_MS: String(LEASE_MS) } });
    jobs = stack.api.get(NodeJobsService);
    ids.a = (await stack.admin.post<{ id: string }>('/api/nodes', { name: 'site-a', publicKey: files.a.publicKeyPem, policy: POLICY })).id;
    ids.b = (await stack.admin.post<{ id: string }>('/api/nodes', { name: 'site-b', publicKey: files.b.publicKey })).id;
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await stack?.close();
  });

  describe('registration and who may see nodes', () => {
    it('registers a node from an SPKI PEM or a raw base64 key, refuses a key twice or a bad one, and shows the declared policy', async () => {
      const list = await nodes();
      expect(list.map((x) => x.name)).toEqual(['site-a', 'site-b']);
      expect(list[0]?.currentKey?.keyId).toBe(files.a.keyId);
      expect(list[1]?.currentKey?.keyId).toBe(files.b.keyId);
      expect(list[0]?.declaredPolicy).toEqual(POLICY);
      expect(list[0]?.status).toBe('offline');
      expect(await statusOf(stack.admin.post('/api/nodes', { name: 'site-c', publicKey: files.a.publicKey }))).toBe(409);
      expect(await statusOf(stack.admin.post('/api/nodes', { name: 'site-a', publicKey: generateNodeKeyFile().publicKey }))).toBe(409);
      expect(await statusOf(stack.admin.post('/api/nodes', { name: 'site-c', publicKey: 'A'.repeat(44) }))).toBe(400);
    });

    it('shows nodes to admins and evaluators only; vendors and regulators are refused as on other staff routes', async () => {
      expect(await statusOf(new AssayClient(stack.baseUrl).get('/api/nodes'))).toBe(401);
      expect(await statusOf((await stack.vendor('Vendor Org')).client.get('/api/nodes'))).toBe(403);
      expect(await statusOf((await stack.user('regulator')).get('/api/nodes'))).toBe(403);
      const evaluator = await stack.user('evaluator');
      expect((await evaluator.get<NodeView[]>('/api/nodes')).length).toBe(2);
      expect(await statusOf(evaluator.post('/api/nodes', { name: 'site-e', publicKey: generateNodeKeyFile().publicKey }))).toBe(403);
      expect(await statusOf(evaluator.json('PATCH', `/api/nodes/${ids.a}`, { enabled: false }))).toBe(403);
    });

    it('lists the new routes in the OpenAPI document', async () => {
      const doc = (await (await fetch(`${stack.baseUrl}/docs/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>>; components: { securitySchemes: Record<string, unknown> } };
      expect(doc.paths['/api/node/jobs/lease']?.post?.security).toEqual([{ 'node-signature': [] }]);
      expect(doc.components.securitySchemes['node-signature']).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Assay-Signature' });
      for (const p of ['/api/nodes', '/api/nodes/{id}', '/api/nodes/{id}/keys', '/api/node/heartbeat', '/api/node/jobs/lease', '/api/node/jobs/{id}/result', '/api/node/cohorts']) expect(Object.keys(doc.paths)).toContain(p);
    });
  });

  describe('attacks on the node routes', () => {
    const path = '/api/node/heartbeat';
    const beat = JSON.stringify({ intervalMs: 1000, versions: {}, runtimes: [], gpus: [], queueDepth: 0, cohorts: [], policy: POLICY });

    it('refuses a request with no signature, or with a user token instead', async () => {
      expect((await raw({ path, body: beat, headers: {} })).status).toBe(401);
      const withToken = await raw({ path, body: beat, headers: { authorization: `Bearer ${(stack.admin as unknown as { token: string }).token}` } });
      expect(withToken.status).toBe(401);
      expect(withToken.text).toMatch(/not a user token/);
      // A valid node signature AND a user token: still refused (node routes never take user credentials).
      const both = await raw({ path, body: beat, headers: { ...signedBy(keysOf(files.a).privateKey, ids.a, path, beat), authorization: `Bearer ${(stack.admin as unknown as { token: string }).token}` } });
      expect(both.status).toBe(401);
    });

    it('refuses a user route called with a node signature', async () => {
      const res = await fetch(`${stack.baseUrl}/api/nodes`, { headers: signedBy(keysOf(files.a).privateKey, ids.a, '/api/nodes', '') });
      expect(res.status).toBe(401);
    });

    it('refuses a forged signature (node A’s id, node B’s key) exactly as it refuses an unknown node', async () => {
      const forged = await raw({ path, body: beat, headers: signedBy(keysOf(files.b).privateKey, ids.a, path, beat) });
      const unknown = await raw({ path, body: beat, headers: signedBy(keysOf(files.a).privateKey, '3f1c2b7e-9d4a-4c1e-8b2f-5a6d7e8f9a0b', path, beat) });
      expect(forged.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(JSON.parse(forged.text).message).toBe(JSON.parse(unknown.text).message);
      expect(forged.text).toMatch(/unknown node, or the signature does not verify/);
    });

    it('refuses a body other than the one signed, a path other than the one signed, and a tampered signature', async () => {
      const headers = signedBy(keysOf(files.a).privateKey, ids.a, path, beat);
      expect((await raw({ path, body: beat.replace('"queueDepth":0', '"queueDepth":1'), headers })).status).toBe(401);
      expect((await raw({ path: '/api/node/cohorts', body: beat, headers: signedBy(keysOf(files.a).privateKey, ids.a, path, beat) })).status).toBe(401);
      const sig = headers[NODE_HEADERS.signature] as string;
      expect((await raw({ path, body: beat, headers: { ...signedBy(keysOf(files.a).privateKey, ids.a, path, beat), [NODE_HEADERS.signature]: `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}` } })).status).toBe(401);
    });

    it('accepts a signed request once: the replay of its nonce is refused', async () => {
      const headers = signedBy(keysOf(files.a).privateKey, ids.a, path, beat);
      expect((await raw({ path, body: beat, headers })).status).toBe(200);
      const replay = await raw({ path, body: beat, headers });
      expect(replay.status).toBe(401);
      expect(replay.text).toMatch(/nonce was already used/);
    });

    it('refuses a stale or future timestamp (outside ±120 s)', async () => {
      const old = await raw({ path, body: beat, headers: signedBy(keysOf(files.a).privateKey, ids.a, path, beat, { now: Date.now() - 10 * 60_000 }) });
      expect(old.status).toBe(401);
      expect(old.text).toMatch(/away from the hub's clock/);
      expect((await raw({ path, body: beat, headers: signedBy(keysOf(files.a).privateKey, ids.a, path, beat, { now: Date.now() + 10 * 60_000 }) })).status).toBe(401);
    });
  });

  describe('jobs: long poll, leases, results', () => {
    it('returns 204 after waitMs when there is nothing, and returns promptly when a job is enqueued during the wait', async () => {
      const a = agent('a');
      const t0 = Date.now();
      expect(await lease(a, 300)).toBeNull();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
      const polling = (async () => {
        const got = await lease(a, 20_000);
        return { got, at: Date.now() };
      })();
      await new Promise((r) => setTimeout(r, 400));
      const enqueuedAt = Date.now();
      const id = await enqueue(ids.a);
      const { got, at } = await polling;
      expect(got?.id).toBe(id);
      // Woken by NOTIFY: well inside the 5 s fallback re-check.
      expect(at - enqueuedAt).toBeLessThan(1000);
      await a.request('POST', `/api/node/jobs/${id}/result`, result('a', got as LeasedJob, { outcome: 'failed', reason: 'test' }));
    });

    it('enqueue is idempotent on the caller’s key and refuses the key for a different job', async () => {
      const first = await jobs.enqueue({ nodeId: ids.b, kind: 'echo', payload: { x: 1 }, idempotencyKey: 'fanout:run-1:b' });
      const again = await jobs.enqueue({ nodeId: ids.b, kind: 'echo', payload: { x: 1 }, idempotencyKey: 'fanout:run-1:b' });
      expect(first.created).toBe(true);
      expect(again.created).toBe(false);
      expect(again.job.id).toBe(first.job.id);
      await expect(jobs.enqueue({ nodeId: ids.b, kind: 'echo', payload: { x: 2 }, idempotencyKey: 'fanout:run-1:b' })).rejects.toMatchObject({ code: 'conflict' });
      // Leave node B's queue empty for the next test.
      const b = agent('b');
      const got = (await lease(b)) as LeasedJob;
      expect(got.id).toBe(first.job.id);
      await b.request('POST', `/api/node/jobs/${got.id}/result`, result('b', got, { outcome: 'failed', reason: 'test' }));
    });

    it('node B can neither lease nor answer node A’s job (404, as for a job that does not exist), nor sign A’s result', async () => {
      const a = agent('a');
      const b = agent('b');
      const id = await enqueue(ids.a);
      expect((await nodeView(ids.a)).jobsAtHub).toBe(1);
      expect((await nodeView(ids.b)).jobsAtHub).toBe(0);
      expect(await lease(b)).toBeNull();
      const got = (await lease(a)) as LeasedJob;
      expect(got.id).toBe(id);
      const bForA = await statusOf(b.request('POST', `/api/node/jobs/${id}/result`, { ...result('b', got, { outcome: 'succeeded', output: {} }) }));
      const bForNothing = await statusOf(b.request('POST', '/api/node/jobs/00000000-0000-4000-8000-000000000000/result', result('b', { ...got, id: '00000000-0000-4000-8000-000000000000' }, { outcome: 'succeeded', output: {} })));
      expect(bForA).toBe(404);
      expect(bForNothing).toBe(404);
      // A's request, but the result signed with B's key: refused, nothing stored.
      expect(await statusOf(a.request('POST', `/api/node/jobs/${id}/result`, result('a', got, { outcome: 'succeeded', output: {} }, 'b')))).toBe(400);
      // A's key, but the claim altered after signing.
      const signed = result('a', got, { outcome: 'succeeded', output: { aggregates: { n: 1 } } });
      expect(await statusOf(a.request('POST', `/api/node/jobs/${id}/result`, { ...signed, result: { outcome: 'succeeded', output: { aggregates: { n: 2 } } } }))).toBe(400);
      expect((await jobs.findJob(id))?.status).toBe('leased');
      expect(await statusOf(a.request('POST', `/api/node/jobs/${id}/result`, signed))).toBe(200);
      expect(await jobs.verifyStored(id)).toBe(true);
    });

    it('an expired lease re-queues the job with attempt + 1; the stale attempt’s result is refused; a re-send is idempotent, a different result is not', async () => {
      const a = agent('a');
      const id = await enqueue(ids.a);
      const first = (await lease(a)) as LeasedJob;
      expect(first.attempt).toBe(1);
      await new Promise((r) => setTimeout(r, LEASE_MS + 200));
      const late = await a.request('POST', `/api/node/jobs/${id}/result`, result('a', first, { outcome: 'succeeded', output: {} })).catch((e: HubError) => e);
      expect(late).toBeInstanceOf(HubError);
      expect((late as HubError).status).toBe(409);
      const second = (await lease(a)) as LeasedJob;
      expect(second.id).toBe(id);
      expect(second.attempt).toBe(2);
      // The first attempt again, now that the second holds the lease.
      expect(await statusOf(a.request('POST', `/api/node/jobs/${id}/result`, result('a', first, { outcome: 'succeeded', output: {} })))).toBe(409);
      const good = result('a', second, { outcome: 'succeeded', output: { aggregates: { n: 5 } } });
      expect((await a.request<{ alreadyStored: boolean }>('POST', `/api/node/jobs/${id}/result`, good)).json?.alreadyStored).toBe(false);
      // The node lost the answer and sends again (new nonce, same result): 200, nothing changes.
      expect((await a.request<{ alreadyStored: boolean }>('POST', `/api/node/jobs/${id}/result`, good)).json?.alreadyStored).toBe(true);
      expect(await statusOf(a.request('POST', `/api/node/jobs/${id}/result`, result('a', second, { outcome: 'succeeded', output: { aggregates: { n: 6 } } })))).toBe(409);
      const stored = await jobs.findJob(id);
      expect(stored).toMatchObject({ status: 'done', attempt: 2, outcome: 'succeeded', result: { outcome: 'succeeded', output: { aggregates: { n: 5 } } }, resultKeyId: files.a.keyId });
      expect(await jobs.verifyStored(id)).toBe(true);
      // Tampering with the stored row is detectable later.
      await stack.api.get(Database).dataSource.query(`UPDATE node_jobs SET result = jsonb_set(result, '{output,aggregates,n}', '7') WHERE id = $1`, [id]);
      expect(await jobs.verifyStored(id)).toBe(false);
    });

    it("cancels the open jobs of a run's earlier attempts before the next attempt fans out (a worker killed mid-dispatch), and keeps the current attempt's", async () => {
      const db = stack.api.get(Database);
      const vendor = await stack.vendor('Dispatch Vendor');
      const { version } = await stack.api.get(BenchmarksService).resolveCurrent('wdbc-malignancy');
      const rows = (await db.manager().query(
        `INSERT INTO submissions (benchmark_version_id, organisation_id, submitted_by, kind, name, manifest, object_key, sha256, size_bytes, status)
         VALUES ($1, $2, $3, 'onnx', 'm@1', '{}', 'submissions/x/model.onnx', 'abc', 1, 'accepted') RETURNING id`,
        [version.id, vendor.organisationId, vendor.userId],
      )) as { id: string }[];
      const submission = { id: rows[0]?.id, sha256: 'abc' } as SubmissionEntity;
      const run = await stack.api.get(EvaluationService).createRunAndCommit({ submission, version, phase: 'test', actorUserId: null });
      const other = await stack.api.get(EvaluationService).createRunAndCommit({ submission, version, phase: 'sample', actorUserId: null });
      const job = async (runId: string, who: 'a' | 'b', key: string): Promise<string> => (await jobs.enqueue({ nodeId: ids[who], runId, kind: 'echo', payload: IN_POLICY, idempotencyKey: key })).job.id;
      // Attempt 1 fanned out (A's job queued, B's already leased and running), then the worker died before the run moved on.
      const a1 = await job(run.id, 'a', `${runAttemptKeyPrefix(run.id, 1)}hospital-a`);
      const b1 = await job(run.id, 'b', `${runAttemptKeyPrefix(run.id, 1)}hospital-b`);
      const leasedB1 = (await lease(agent('b'))) as LeasedJob;
      expect(leasedB1.id).toBe(b1);
      // Attempt 10 of the same run (its prefix extends attempt 1's: never taken for it) and another run's job.
      const a10 = await job(run.id, 'a', `${runAttemptKeyPrefix(run.id, 10)}hospital-a`);
      const elsewhere = await job(other.id, 'a', `${runAttemptKeyPrefix(other.id, 1)}hospital-a`);
      // Attempt 2 dispatches: its own jobs (and a retry of one) are kept, and so is a later attempt's.
      const a2 = await job(run.id, 'a', `${runAttemptKeyPrefix(run.id, 2)}hospital-a`);
      const a2retry = await job(run.id, 'a', `${runAttemptKeyPrefix(run.id, 2)}hospital-a:i1`);
      expect([...(await jobs.cancelJobsOfEarlierAttempts(run.id, 2))].sort()).toEqual([a1, b1].sort());
      const statuses = async (list: string[]) => Promise.all(list.map(async (id) => (await jobs.findJob(id))?.status));
      expect(await statuses([a1, b1, a10, a2, a2retry, elsewhere])).toEqual(['cancelled', 'cancelled', 'queued', 'queued', 'queued', 'queued']);
      // The node still running B's attempt-1 job learns it at its next heartbeat (or extension); its result is refused.
      const beat = await agent('b').request<{ stop: string[] }>('POST', '/api/node/heartbeat', { intervalMs: 300, versions: { assay: '0.1.0' }, runtimes: [], gpus: [], queueDepth: 1, cohorts: [], policy: POLICY, jobs: [{ id: b1, attempt: leasedB1.attempt, leaseToken: leasedB1.leaseToken }] });
      expect(beat.json?.stop).toEqual([b1]);
      expect(await statusOf(agent('b').request('POST', `/api/node/jobs/${b1}/result`, result('b', leasedB1, { outcome: 'succeeded', output: {} })))).toBe(409);
      // Safe to repeat (the dispatch after a second crash).
      expect(await jobs.cancelJobsOfEarlierAttempts(run.id, 2)).toEqual([]);
      // A worker that stalled before dispatching attempt 3 enqueues it after the run moved on to attempt 10: a node is
      // handed only jobs of the run's current attempt (or of no run's), never attempt 2's or 3's, and the sweep
      // cancels those.
      await db.manager().query('UPDATE runs SET attempts = 10 WHERE id = $1', [run.id]);
      const late = await job(run.id, 'a', `${runAttemptKeyPrefix(run.id, 3)}hospital-a`);
      const leasedIds: string[] = [];
      for (let got = await lease(agent('a')); got; got = await lease(agent('a'))) leasedIds.push(got.id);
      expect(leasedIds).toContain(a10);
      expect(leasedIds).toContain(elsewhere);
      expect(leasedIds).not.toContain(late);
      expect(leasedIds).not.toContain(a2);
      expect(leasedIds).not.toContain(a2retry);
      expect([...(await jobs.cancelJobsOfSupersededAttempts())].sort()).toEqual([a2, a2retry, late].sort());
      // Nothing of this test is left for the next ones to lease.
      await jobs.cancelJobsOfEarlierAttempts(run.id, 99);
      await jobs.cancelJobsOfEarlierAttempts(other.id, 99);
    });
  });

  describe('NodeAgents end to end', () => {
    it('two agents heartbeat (online, with latency, runtimes and policy), run only their own jobs, refuse jobs outside policy, and filter egress before signing; stopped, they go offline', async () => {
      const a = agent('a');
      const b = agent('b');
      a.start();
      b.start();
      const online = await eventually(
        () => nodes(),
        (list) => list.every((x) => x.status === 'online' && x.latencyMs !== null),
        20_000,
      );
      const viewA = online.find((x) => x.id === ids.a) as NodeView;
      expect(viewA).toMatchObject({ runtimes: ['runc'], reportedCohorts: ['cohort-a'], policy: POLICY, queueDepth: 0 });
      expect(viewA.versions.assay).toBe('0.1.0');

      const mine = await enqueue(ids.a, { ...IN_POLICY, tag: 'for-a' });
      const theirs = await enqueue(ids.b, { ...IN_POLICY, tag: 'for-b' });
      const refused = await enqueue(ids.a, { ...IN_POLICY, benchmark: 'lung-survival' });
      const unknownKind = await enqueue(ids.b, IN_POLICY, 'no-such-kind');
      const done = async (id: string) => eventually(() => jobs.findJob(id), (j) => j?.status === 'done', 20_000);
      const [jm, jt, jr, ju] = [await done(mine), await done(theirs), await done(refused), await done(unknownKind)];
      expect(jm?.result).toEqual({ outcome: 'succeeded', output: { egress: 'score-distributions', aggregates: { n: 3, asked: 'for-a' }, scoreDistributions: { positive: [0.3, 0.9], negative: [0.1] } } });
      expect(JSON.stringify(jm?.result)).not.toMatch(/case-secret|vendor log/);
      expect(jt?.result).toMatchObject({ outcome: 'succeeded', output: { aggregates: { asked: 'for-b' } } });
      expect(a.sent.map((s) => s.jobId)).toEqual(expect.arrayContaining([mine, refused]));
      expect(a.sent.map((s) => s.jobId)).not.toContain(theirs);
      expect(b.sent.map((s) => s.jobId)).not.toContain(mine);
      expect(jr).toMatchObject({ outcome: 'refused-by-policy', result: { outcome: 'refused-by-policy', reason: expect.stringMatching(/lung-survival/) } });
      expect(ju).toMatchObject({ outcome: 'failed', result: { reason: expect.stringMatching(/no handler for job kind 'no-such-kind'/) } });
      for (const id of [mine, theirs, refused, unknownKind]) expect(await jobs.verifyStored(id)).toBe(true);

      const t0 = Date.now();
      await Promise.all([a.stop(), b.stop()]);
      // Stopping aborts the long poll at once rather than waiting for it.
      expect(Date.now() - t0).toBeLessThan(1500);
      await eventually(
        () => nodes(),
        (list) => list.every((x) => x.status === 'offline'),
        10_000,
      );
    });

    /** A handler that would run for ever (a long evaluation) unless its signal aborts; says when it started and when it was aborted. */
    const forever = () => {
      const seen = { abortedAt: null as number | null, started: null as Promise<void> | null };
      let started: () => void = () => undefined;
      seen.started = new Promise<void>((r) => (started = r));
      const handler: NodeJobHandler = {
        kind: 'slow',
        handle: (_job, { signal }) =>
          new Promise((_resolve, reject) => {
            started();
            signal.addEventListener('abort', () => {
              seen.abortedAt = Date.now();
              reject(new Error('stopped'));
            }, { once: true });
          }),
      };
      return { handler, seen };
    };
    const cancelJob = (id: string) => stack.api.get(Database).manager().query(`UPDATE node_jobs SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() WHERE id = $1`, [id]);

    it('abandons a job the hub cancelled while it ran at the next lease extension (heartbeats too rare to say it first), and sends nothing', async () => {
      const { handler, seen } = forever();
      const a = agent('a', { handlers: [handler], heartbeatMs: 600_000 });
      const id = await enqueue(ids.a, IN_POLICY, 'slow');
      a.start();
      await seen.started;
      // Its lease is kept while it runs (extended every ~LEASE_MS/3): the handler is still running after two lease periods.
      await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
      expect(seen.abortedAt).toBeNull();
      expect(await jobs.findJob(id)).toMatchObject({ status: 'leased' });
      // The run ends at the hub (as cancelJobsOfEndingRun does): the next extension is refused with 409.
      const cancelledAt = Date.now();
      await cancelJob(id);
      await eventually(async () => seen.abortedAt, (t) => t !== null, 10_000);
      expect((seen.abortedAt as unknown as number) - cancelledAt).toBeLessThan(LEASE_MS + 1000);
      await a.stop();
      expect(a.sent.filter((x) => x.jobId === id)).toEqual([]);
      expect(await jobs.findJob(id)).toMatchObject({ status: 'cancelled', result: null });
    });

    it('abandons a cancelled job at its next heartbeat, even when no lease extension says so; a heartbeat’s answer names only jobs the node no longer holds', async () => {
      // A relay in front of the hub that turns every refused extension (409/404) into a 503: the agent then keeps
      // retrying its extensions and only the heartbeat's answer can tell it to stop.
      const hub = new URL(stack.baseUrl);
      const relay = createServer((req, res) => {
        const upstream = httpRequest({ host: hub.hostname, port: hub.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
          if (/\/extend$/.test(req.url ?? '') && (answer.statusCode === 409 || answer.statusCode === 404)) {
            answer.resume();
            res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"relay"}');
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        // The agent giving up a long poll (it stops) must reach the hub, or the hub would lease the next job to the relay.
        upstream.on('error', () => undefined);
        res.on('close', () => {
          if (!res.writableFinished) upstream.destroy();
        });
        req.pipe(upstream);
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
      try {
        const { handler, seen } = forever();
        const a = agent('a', { handlers: [handler], hubUrl: `http://127.0.0.1:${(relay.address() as AddressInfo).port}` });
        const id = await enqueue(ids.a, IN_POLICY, 'slow');
        a.start();
        await seen.started;
        const held = (await jobs.findJob(id)) as { attempt: number; leaseToken: string };
        // While the lease is live, a heartbeat naming it is told nothing; the same job under another token, another
        // attempt, or from another node (whose job it is not) is named back to stop.
        const beat = (who: 'a' | 'b', named: { id: string; attempt: number; leaseToken: string }[]) =>
          agent(who).request<{ stop: string[] }>('POST', '/api/node/heartbeat', { intervalMs: 300, versions: { assay: '0.1.0' }, runtimes: [], gpus: [], queueDepth: 1, cohorts: [], policy: POLICY, jobs: named });
        const live = { id, attempt: held.attempt, leaseToken: held.leaseToken };
        expect((await beat('a', [live])).json?.stop).toEqual([]);
        expect((await beat('a', [{ ...live, leaseToken: 'x'.repeat(32) }])).json?.stop).toEqual([id]);
        expect((await beat('a', [{ ...live, attempt: live.attempt + 1 }])).json?.stop).toEqual([id]);
        expect((await beat('b', [live])).json?.stop).toEqual([id]);
        expect(await statusOf(beat('a', [{ ...live, id: 'not-a-uuid' }]))).toBe(400);
        await new Promise((r) => setTimeout(r, LEASE_MS));
        expect(seen.abortedAt).toBeNull();
        await cancelJob(id);
        await eventually(async () => seen.abortedAt, (t) => t !== null, 10_000);
        await a.stop();
        expect(a.sent.filter((x) => x.jobId === id)).toEqual([]);
        expect(await jobs.findJob(id)).toMatchObject({ status: 'cancelled', result: null });
      } finally {
        await new Promise((r) => relay.close(r));
      }
    });

    it('sends a result again when the answer is lost on the way back, and the hub takes the re-send as the same result', async () => {
      // A loopback relay in front of the hub that delivers the first result to the hub and then cuts the connection
      // before the hub's answer reaches the node (the node cannot know whether it was stored).
      let cut = 0;
      const hub = new URL(stack.baseUrl);
      const relay = createServer((req, res) => {
        const upstream = httpRequest({ host: hub.hostname, port: hub.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
          if (/\/result$/.test(req.url ?? '') && cut === 0) {
            cut++;
            answer.resume();
            answer.on('end', () => res.socket?.destroy());
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        req.pipe(upstream);
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
      try {
        const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
        const a = agent('a', { hubUrl: relayUrl });
        const id = await enqueue(ids.a);
        // A long poll the previous test's agent gave up (through its own relay) may still be closing at the hub: if it
        // claims the job in that moment, it hands it straight back, and a poll that waits gets it.
        const got = (await lease(a, 2000)) as LeasedJob;
        await a.sendResult(got, { outcome: 'failed', reason: 'x' });
        expect(cut).toBe(1);
        expect(a.sent).toEqual([{ jobId: id, attempt: 1, outcome: 'failed', status: 200 }]);
        expect(await jobs.findJob(id)).toMatchObject({ status: 'done', outcome: 'failed', result: { outcome: 'failed', reason: 'x' } });
      } finally {
        await new Promise((r) => relay.close(r));
      }
    });
  });

  describe('the node process (src/node.ts)', () => {
    it('makes its key with `assay node keygen` (0600), runs with only the hub URL (no hub Postgres or Redis), answers jobs, and exits 0 on SIGTERM', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'assay-node-'));
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ASSAY_DATA_DIR: dir, ASSAY_LOG_LEVEL: 'warn' };
      const run = (args: string[], extra: Record<string, string> = {}): ChildProcess =>
        spawn(process.execPath, ['-r', join(REPO_ROOT, 'test/support/swc-register.js'), ...args], { cwd: REPO_ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = (child: ChildProcess, timeoutMs: number): Promise<string> =>
        new Promise((resolve, reject) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve(String(child.signalCode ?? child.exitCode));
          const t = setTimeout(() => reject(new Error(`did not exit within ${timeoutMs} ms`)), timeoutMs);
          child.once('exit', (code, signal) => (clearTimeout(t), resolve(String(signal ?? code))));
        });
      let output = '';
      try {
        const keyFile = join(dir, 'private', 'node-key.json');
        const keygen = run([join(REPO_ROOT, 'src/cli/main.ts'), 'node', 'keygen']);
        keygen.stdout?.on('data', (d: Buffer) => (output += d.toString()));
        expect(await exited(keygen, 60_000)).toBe('0');
        expect(statSync(keyFile).mode & 0o777).toBe(0o600);
        const pem = /-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----/.exec(output)?.[0] as string;
        expect(JSON.parse(readFileSync(keyFile, 'utf8')).publicKeyPem.trim()).toBe(pem);
        const id = (await stack.admin.post<{ id: string }>('/api/nodes', { name: 'site-process', publicKey: pem })).id;
        writeFileSync(join(dir, 'node-policy.json'), JSON.stringify({ ...POLICY, egress: 'aggregates' }));
        // Unreachable hub services: the node must not need them.
        const node = run([join(REPO_ROOT, 'src/node.ts')], { ASSAY_HUB_URL: stack.baseUrl, ASSAY_NODE_ID: id, ASSAY_NODE_HEARTBEAT_MS: '300', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1' });
        node.stderr?.on('data', (d: Buffer) => (output += d.toString()));
        node.stdout?.on('data', (d: Buffer) => (output += d.toString()));
        const seen = await eventually(() => nodeView(id), (v) => v.status === 'online', 60_000);
        expect(seen.policy?.egress).toBe('aggregates');
        expect(seen.versions.assay).toBe('0.1.0');
        // The runtimes of the node's own Docker engine, where it has one.
        expect(seen.versions.docker === undefined || seen.runtimes.includes('runc')).toBe(true);
        const job = await enqueue(id);
        // No evaluation handler is registered yet (src/federation/node-handlers.ts): a signed 'failed' result.
        const done = await eventually(() => jobs.findJob(job), (j) => j?.status === 'done', 30_000);
        expect(done).toMatchObject({ outcome: 'failed', result: { reason: "this node has no handler for job kind 'echo'" } });
        expect(await jobs.verifyStored(job)).toBe(true);
        const t0 = Date.now();
        node.kill('SIGTERM');
        expect(await exited(node, 10_000)).toBe('0');
        expect(Date.now() - t0).toBeLessThan(5_000);
      } catch (error) {
        throw new Error(`${(error as Error).message}\nprocess output:\n${output}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a signed node sending arbitrary bodies', () => {
    it('is answered below 500 on every node route (the user-token fuzz tier never gets past the signature check)', async () => {
      const a = agent('a');
      const leased = await (async () => {
        await enqueue(ids.a);
        return (await lease(a)) as LeasedJob;
      })();
      const templates: [string, unknown][] = [
        ['/api/node/heartbeat', { intervalMs: 1000, versions: { assay: '1' }, runtimes: ['runc'], gpus: [{ index: 0, name: 'g' }], queueDepth: 0, cohorts: ['c'], policy: POLICY }],
        ['/api/node/cohorts', { name: 'fuzz', version: '1', contentHash: 'c'.repeat(64), caseCounts: { sample: 1, test: 20 }, subgroupCounts: [{ attribute: 'sex', value: 'F', count: '< 10' }], acquisition: { modality: [], manufacturer: [] } }],
        [`/api/node/jobs/${leased.id}/result`, result('a', leased, { outcome: 'succeeded', output: { aggregates: { n: 1 } } })],
        ['/api/node/jobs/lease', {}],
      ];
      const bad: string[] = [];
      for (const [path, template] of templates) {
        const bodies = path.endsWith('/lease') ? hostileJson() : fc.oneof(mutationOf(template), hostileJson());
        await fc.assert(
          fc.asyncProperty(bodies, async (value) => {
            const body = JSON.stringify(value) ?? 'null';
            // A lease body that asks to wait would only slow the test: waiting is tested above.
            if (path.endsWith('/lease') && /waitMs/.test(body)) return;
            const res = await raw({ path, body, headers: signedBy(keysOf(files.a).privateKey, ids.a, path, body) });
            if (res.status >= 500) bad.push(`${path} ${body.slice(0, 200)}: ${res.status} ${res.text.slice(0, 200)}`);
          }),
          { seed: 20261202, numRuns: 40 },
        );
      }
      expect(bad).toEqual([]);
    });
  });

  describe('cohort metadata', () => {
    const cohort = {
      name: 'lesion-imaging',
      version: '1',
      contentHash: 'a'.repeat(64),
      caseCounts: { sample: 4, test: 60 },
      subgroupCounts: [
        { attribute: 'sex', value: 'F', count: 31 },
        { attribute: 'sex', value: 'M', count: '< 10' },
      ],
      acquisition: { modality: [{ value: 'CT', count: 64 }], manufacturer: [{ value: 'Siemens', count: 55 }, { value: 'GE', count: '< 10' }] },
    };

    it('stores metadata only, shows it at the hub, and refuses raw small counts or any per-case field', async () => {
      const a = agent('a');
      await a.registerCohort(cohort);
      await a.registerCohort(cohort);
      expect(await statusOf(a.registerCohort({ ...cohort, contentHash: 'b'.repeat(64) }))).toBe(409);
      expect(await statusOf(a.registerCohort({ ...cohort, version: '2', subgroupCounts: [{ attribute: 'sex', value: 'M', count: 3 }] }))).toBe(400);
      expect(await statusOf(a.registerCohort({ ...cohort, version: '2', acquisition: { ...cohort.acquisition, manufacturer: [{ value: 'GE', count: 9 }] } }))).toBe(400);
      expect(await statusOf(a.registerCohort({ ...cohort, version: '2', cases: [{ caseId: 'c1', label: 1 }] }))).toBe(400);
      expect(await statusOf(a.registerCohort({ ...cohort, version: '2', subgroupCounts: [{ attribute: 'sex', value: 'M', count: 12, caseIds: ['c1'] }] }))).toBe(400);
      expect(await statusOf(a.registerCohort({ ...cohort, version: '2', acquisition: { ...cohort.acquisition, perCase: [{ value: 'c1', count: 10 }] } }))).toBe(400);
      const view = await nodeView(ids.a);
      // (The arbitrary-body test above may have registered cohorts named 'fuzz' on node A.)
      expect(view.cohorts.filter((c) => c.name !== 'fuzz')).toEqual([expect.objectContaining({ name: 'lesion-imaging', version: '1', subgroupCounts: cohort.subgroupCounts, acquisition: cohort.acquisition, caseCounts: cohort.caseCounts })]);
      expect((await nodeView(ids.b)).cohorts).toEqual([]);
    });
  });

  describe('disabling and key rotation', () => {
    it('refuses a disabled node until it is re-enabled', async () => {
      const a = agent('a');
      await stack.admin.json('PATCH', `/api/nodes/${ids.a}`, { enabled: false });
      expect((await nodeView(ids.a)).status).toBe('disabled');
      const refused = await a.request('POST', '/api/node/jobs/lease', { waitMs: 0 }).catch((e: HubError) => e);
      expect((refused as HubError).status).toBe(401);
      expect((refused as HubError).body).toMatch(/disabled/);
      await stack.admin.json('PATCH', `/api/nodes/${ids.a}`, { enabled: true });
      expect(await statusOf(a.request('POST', '/api/node/jobs/lease', { waitMs: 0 }))).toBe(200);
      // Disabled while its long poll waits: the job enqueued then is not handed to it.
      const waiting = lease(a, 5000);
      await new Promise((r) => setTimeout(r, 300));
      await stack.admin.json('PATCH', `/api/nodes/${ids.a}`, { enabled: false });
      const id = await enqueue(ids.a);
      expect(await waiting).toBeNull();
      expect((await jobs.findJob(id))?.status).toBe('queued');
      await stack.admin.json('PATCH', `/api/nodes/${ids.a}`, { enabled: true });
      const got = (await lease(a)) as LeasedJob;
      expect(got.id).toBe(id);
      await a.request('POST', `/api/node/jobs/${id}/result`, result('a', got, { outcome: 'failed', reason: 'test' }));
    });

    it('after rotation the old key is refused and the new one works; results signed by the old key still verify', async () => {
      const before = agent('a');
      const id = await enqueue(ids.a);
      const got = (await lease(before)) as LeasedJob;
      await before.request('POST', `/api/node/jobs/${id}/result`, result('a', got, { outcome: 'failed', reason: 'before rotation' }));
      const next = generateNodeKeyFile();
      expect(await statusOf(new AssayClient(stack.baseUrl).post(`/api/nodes/${ids.a}/keys`, { publicKey: next.publicKey }))).toBe(401);
      expect(await statusOf(stack.admin.post(`/api/nodes/${ids.a}/keys`, { publicKey: files.b.publicKey }))).toBe(409);
      const rotated = await stack.admin.post<NodeView>(`/api/nodes/${ids.a}/keys`, { publicKey: next.publicKeyPem });
      expect(rotated.currentKey?.keyId).toBe(next.keyId);
      expect(await statusOf(before.request('POST', '/api/node/jobs/lease', { waitMs: 0 }))).toBe(401);
      const after = agent('a', { keys: keysOf(next) });
      expect(await statusOf(after.request('POST', '/api/node/jobs/lease', { waitMs: 0 }))).toBe(200);
      expect(await jobs.verifyStored(id)).toBe(true);
      files.a = next;
    });
  });
});
