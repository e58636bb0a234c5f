import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { join } from 'node:path';
import { ACCESS_KEY, AccessTable, MATRIX_CALLERS, MatrixCaller, Outcome } from '../../src/auth/access.decorator';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { generateNodeKeyFile } from '../../src/federation/node-keys';
import { MANIFEST } from '../support/onnx-models';
import { eventually, startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(600_000);

const BENCHMARK = 'wdbc-malignancy';
const MODEL = join(__dirname, '..', 'fixtures', 'onnx', 'logreg30.onnx');

interface Route {
  method: string;
  path: string;
  table: AccessTable | undefined;
}

interface Submission {
  id: string;
  status: string;
  runs: { id: string; phase: string; status: string }[];
}

/** Every route Nest registered, from the controllers' metadata, with the @Access table beside it (if any). */
function nestRoutes(stack: TestStack): Route[] {
  const routes: Route[] = [];
  for (const module of stack.api.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!type) continue;
      const base = String(Reflect.getMetadata(PATH_METADATA, type) ?? '');
      for (const name of Object.getOwnPropertyNames(type.prototype)) {
        const handler = (type.prototype as Record<string, unknown>)[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const sub = String(Reflect.getMetadata(PATH_METADATA, handler) ?? '');
        const path = `/${[base, sub].filter((p) => p && p !== '/').join('/')}`.replace(/\/+/g, '/');
        routes.push({ method: RequestMethod[method], path, table: Reflect.getMetadata(ACCESS_KEY, handler) as AccessTable | undefined });
      }
    }
  }
  return routes;
}

/** What Express actually serves (besides the OpenAPI docs), to be sure no route escapes the controllers' metadata. */
function expressRoutes(stack: TestStack): string[] {
  const app = stack.api.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } };
  return app.router.stack
    .flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route?.path ?? ''}`) : []))
    .filter((r) => !/ \/docs/.test(r))
    // Nest binds app-wide middleware (the request logger, nestjs-pino) as `{/*splat}` for every method: it only
    // passes requests on, and the test below checks that a path no route serves still answers 404.
    .filter((r) => !r.endsWith(' {/*splat}'));
}

/** Mutations get these bodies (a no-op that must succeed); the others get an empty one. */
const BODIES: Record<string, unknown> = {
  'PATCH /api/benchmarks/:slug/phases/:phase': { status: 'open' },
  'PATCH /api/nodes/:id': { enabled: true },
};

interface AuditRow {
  seq: number;
  action: string;
  entityType: string;
  entityId: string;
  actorUserId: string | null;
}

/** Web form routes (src/web) get these form fields (a no-op that must succeed); the others an empty form. */
const FORM_BODIES: Record<string, Record<string, string>> = {
  'POST /benchmarks/:slug/phases/:phase': { status: 'open' },
};

const classOf = (status: number): Outcome | string => (status >= 200 && status < 300 ? '2xx' : String(status));

describe('authorization matrix: every route x every caller, from the routes’ own @Access tables', () => {
  let stack: TestStack;
  const clients = {} as Record<MatrixCaller, AssayClient>;
  const userIds = {} as Record<MatrixCaller, string>;
  let regulatorEmail: string;
  let grantedEmail: string;
  let subA: Submission;
  let subB: Submission;
  let testRunA: string;
  let vendorReportA: string;
  let cohortSlug: string;
  let nodeId: string;

  const status = async (client: AssayClient, method: string, path: string, body?: unknown): Promise<number> => {
    try {
      await client.json(method, path, body);
      return 200;
    } catch (error) {
      if (error instanceof ApiError) return error.status;
      throw error;
    }
  };

  /**
   * A web page's form route, called as the CLI would (bearer token, a form body, no cookie: no CSRF token needed) and
   * the sign-in form as a browser does (its nonce cookie and token, the caller's API token; anonymous: a bad one).
   * A redirect after a successful post counts as 2xx.
   */
  const formStatus = async (caller: MatrixCaller, method: string, path: string, fields: Record<string, string>): Promise<number> => {
    const token = (clients[caller] as unknown as { token?: string }).token;
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    const form = new URLSearchParams(fields);
    if (path === '/login') {
      const page = await fetch(`${stack.baseUrl}/login`);
      headers['cookie'] = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      form.set('_csrf', /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '');
      form.set('token', token ?? 'assay_not-a-real-token');
    } else if (token) headers['authorization'] = `Bearer ${token}`;
    const res = await fetch(`${stack.baseUrl}${path}`, { method, headers, body: form.toString(), redirect: 'manual' });
    await res.arrayBuffer();
    return res.status >= 300 && res.status < 400 ? 200 : res.status;
  };

  const upload = (client: AssayClient, name: string): Promise<Submission> =>
    client.uploadMultipart<Submission>('/api/submissions', { fields: { benchmark: BENCHMARK, manifest: MANIFEST(name) }, fileField: 'model', filePath: MODEL });

  const finished = (client: AssayClient, id: string): Promise<Submission> =>
    eventually(
      () => client.get<Submission>(`/api/submissions/${id}`),
      (s) => s.runs.length === 2 && s.runs.every((r) => r.status === 'succeeded'),
      300_000,
    );

  beforeAll(async () => {
    stack = await startTestStack({ worker: true, env: { ASSAY_MAX_MODEL_BYTES: String(2 * 1024 * 1024) } });
    const a = await stack.vendor('Matrix Vendor A');
    const b = await stack.vendor('Matrix Vendor B');
    clients.anonymous = new AssayClient(stack.baseUrl);
    clients.vendor = a.client;
    clients.vendorOther = b.client;
    clients.evaluator = await stack.user('evaluator');
    clients.regulator = await stack.user('regulator');
    clients.regulatorGranted = await stack.user('regulator');
    clients.admin = stack.admin;
    for (const caller of MATRIX_CALLERS) {
      if (caller !== 'anonymous') userIds[caller] = (await clients[caller].get<{ userId: string }>('/api/me')).userId;
    }
    userIds.anonymous = a.userId;
    regulatorEmail = (await clients.regulator.get<{ email: string }>('/api/me')).email;
    grantedEmail = (await clients.regulatorGranted.get<{ email: string }>('/api/me')).email;

    const [upA, upB] = [await upload(a.client, 'matrix-a'), await upload(b.client, 'matrix-b')];
    subA = await finished(a.client, upA.id);
    subB = await finished(b.client, upB.id);
    testRunA = subA.runs.find((r) => r.phase === 'test')?.id as string;
    await eventually(
      () => stack.admin.get<{ rows: unknown[] }>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`),
      (l) => l.rows.length === 2,
    );
    // The worker makes both forms of the run's validation report when it succeeds (while the phase is still public).
    const reports = await eventually(
      () => stack.admin.get<{ id: string; audience: string }[]>(`/api/reports?run=${testRunA}`),
      (list) => list.length === 2,
      300_000,
    );
    vendorReportA = reports.find((r) => r.audience === 'vendor')?.id as string;
    await stack.admin.json('PATCH', `/api/benchmarks/${BENCHMARK}/phases/test`, { leaderboard: 'hidden' });
    await stack.admin.post('/api/grants', { regulatorEmail: grantedEmail, benchmark: BENCHMARK });
    const cohorts = await stack.admin.get<{ slug: string }[]>('/api/cohorts');
    cohortSlug = cohorts.find((c) => c.slug === 'wdbc')?.slug as string;
    expect(cohortSlug).toBe('wdbc');
    nodeId = (await stack.admin.post<{ id: string }>('/api/nodes', { name: 'matrix-node', publicKey: generateNodeKeyFile().publicKey })).id;
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('every route Nest serves declares its row, and Express serves nothing else', () => {
    const routes = nestRoutes(stack);
    expect(routes.length).toBeGreaterThan(20);
    const missing = routes.filter((r) => !r.table || MATRIX_CALLERS.some((c) => !r.table?.[c])).map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
    const declared = new Set(routes.map((r) => `${r.method} ${r.path}`));
    expect(expressRoutes(stack).filter((r) => !declared.has(r))).toEqual([]);
  });

  it('answers 404 for a path no route serves, whatever the method (the middleware catch-all serves nothing)', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${stack.baseUrl}/api/no-such-route/${method.toLowerCase()}`, { method });
      expect([method, res.status]).toEqual([method, 404]);
    }
  });

  /** Concrete ids for a route; DELETEs get a fresh resource per call, so the fixture survives the matrix. */
  const resolve = async (route: Route, caller: MatrixCaller): Promise<string> => {
    let path = route.path
      .replace(':slug/versions', `${cohortSlug}/versions`)
      .replace(':slug', BENCHMARK)
      .replace(':phase', 'test')
      .replace(':benchmark', BENCHMARK);
    if (path.startsWith('/api/runs/')) path = path.replace(':id', testRunA);
    if (path.startsWith('/api/submissions/')) path = path.replace(':id', subA.id);
    if (path.startsWith('/api/reports/') || path === '/reports/:id') path = path.replace(':id', vendorReportA);
    if (path.startsWith('/api/users/')) path = path.replace(':id', userIds.vendor);
    if (path.startsWith('/api/nodes/')) path = path.replace(':id', nodeId);
    // Node routes take node signatures only: every user caller is refused before the job id matters.
    if (path.startsWith('/api/node/')) path = path.replace(':id', '3f1c2b7e-9d4a-4c1e-8b2f-5a6d7e8f9a0b');
    // The web pages (src/web).
    if (path.startsWith('/submissions/')) path = path.replace(':id', subA.id);
    if (path.startsWith('/admin/users/')) path = path.replace(':id', userIds.vendor);
    if (path === '/static/:name') path = '/static/assay.css';
    if (path === '/admin/tokens/:id/revoke') {
      path = path.replace(':id', (await stack.admin.post<{ tokenId: string }>(`/api/users/${userIds[caller]}/tokens`, { label: 'matrix' })).tokenId);
    }
    if (path === '/grants/:id/revoke') {
      path = path.replace(':id', (await stack.admin.post<{ id: string }>('/api/grants', { regulatorEmail, submissionId: subA.id })).id);
    }
    if (path === '/api/tokens/:id') {
      path = path.replace(':id', (await stack.admin.post<{ tokenId: string }>(`/api/users/${userIds[caller]}/tokens`, { label: 'matrix' })).tokenId);
    }
    if (path === '/api/grants/:id') {
      path = path.replace(':id', (await stack.admin.post<{ id: string }>('/api/grants', { regulatorEmail, submissionId: subA.id })).id);
    }
    // A well-formed claim (its key is unknown): the route answers 200 { valid: false } to everyone.
    if (path === '/api/reports/verify' && route.method === 'GET') path += `?evidenceSha256=${'0'.repeat(64)}&keyId=ed25519-0000000000000000&signature=${'A'.repeat(86)}`;
    if (path.endsWith('/leaderboard/compare')) path += `?a=${subA.id}&b=${subB.id}`;
    else if (path.endsWith('/leaderboard')) path += '?phase=test';
    if (path.includes('/:')) throw new Error(`no fixture for ${route.path}`);
    return path;
  };

  it('each caller gets the declared outcome on every route', async () => {
    const routes = nestRoutes(stack).sort((x, y) => Number(x.method !== 'GET') - Number(y.method !== 'GET'));
    const wrong: string[] = [];
    let checked = 0;
    for (const route of routes) {
      for (const caller of MATRIX_CALLERS) {
        const expected = route.table?.[caller] as Outcome;
        const path = await resolve(route, caller);
        const key = `${route.method} ${route.path}`;
        const page = !route.path.startsWith('/api/') && route.method !== 'GET';
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : (BODIES[key] ?? {});
        const got = page ? await formStatus(caller, route.method, path, FORM_BODIES[key] ?? {}) : await status(clients[caller], route.method, path, body);
        checked++;
        // Mutations get an empty body: "allowed" there means authorization passed, and the body is then refused on
        // its merits (400/409/415/422), never 401, 403 or 404.
        const emptyBody = page ? FORM_BODIES[key] === undefined && route.path !== '/login' : body !== undefined && BODIES[key] === undefined;
        const ok = emptyBody && expected === '2xx' ? ![401, 403, 404].includes(got) && got < 500 : classOf(got) === expected;
        if (!ok) wrong.push(`${key} as ${caller}: expected ${expected}, got ${got}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBe(nestRoutes(stack).length * MATRIX_CALLERS.length);
  });

  it('grants decide what a regulator reads; a vendor shares its own submission, and takes it back', async () => {
    const admin = stack.admin;
    // A regulator of its own for this story: the matrix above (API and web pages) spent the first one's per-minute
    // budget of denial records (DENIAL_RECORDS_PER_USER_MINUTE in SecurityAudit), and this test counts its denials.
    const reg = await stack.user('regulator');
    const { userId: regulatorId, email: regulatorEmail } = await reg.get<{ userId: string; email: string }>('/api/me');
    const before = (await admin.get<{ entries: number }>('/api/audit/verify')).entries;
    expect(await reg.get<Submission[]>('/api/submissions')).toEqual([]);
    expect(await reg.get<unknown[]>('/api/cohorts')).toEqual([]);
    expect(await status(reg, 'GET', `/api/runs/${testRunA}`)).toBe(404);
    // Its own acts (here: its refused read) it sees; nothing about others' submissions or runs.
    const seen = await reg.get<AuditRow[]>('/api/audit?limit=1000');
    expect(seen.filter((a) => a.actorUserId !== regulatorId && a.entityType !== 'access_grant')).toEqual([]);
    expect(seen.length).toBeGreaterThan(0);

    // A benchmark grant covers every submission and run of the benchmark, at full detail, and their audit entries.
    const granted = clients.regulatorGranted;
    expect((await granted.get<Submission[]>('/api/submissions')).map((x) => x.id).sort()).toEqual([subA.id, subB.id].sort());
    expect((await granted.get<{ details: unknown }>(`/api/runs/${testRunA}`)).details).not.toBeNull();
    expect((await granted.get<{ slug: string }[]>('/api/cohorts')).map((c) => c.slug)).toEqual(['wdbc']);
    expect((await granted.get<AuditRow[]>('/api/audit?limit=1000')).some((a) => a.entityType === 'run' && a.entityId === testRunA)).toBe(true);

    // Vendors share their own submissions only, and never a whole benchmark.
    expect(await status(clients.vendorOther, 'POST', '/api/grants', { regulatorEmail, submissionId: subA.id })).toBe(404);
    expect(await status(clients.vendor, 'POST', '/api/grants', { regulatorEmail, benchmark: BENCHMARK })).toBe(403);
    expect(await status(clients.vendor, 'POST', '/api/grants', { regulatorEmail: 'nobody@test.local', submissionId: subA.id })).toBe(400);
    const grant = await clients.vendor.post<{ id: string }>('/api/grants', { regulatorEmail, submissionId: subA.id, note: 'technical file' });
    expect((await clients.vendor.get<{ id: string }[]>('/api/grants')).map((g) => g.id)).toContain(grant.id);
    expect((await clients.vendorOther.get<{ id: string }[]>('/api/grants')).map((g) => g.id)).not.toContain(grant.id);
    expect((await reg.get<{ id: string; revokedAt: string | null }[]>('/api/grants')).filter((g) => !g.revokedAt).map((g) => g.id)).toEqual([grant.id]);

    expect(await status(reg, 'GET', `/api/runs/${testRunA}`)).toBe(200);
    expect(await status(reg, 'GET', `/api/runs/${testRunA}/cases`)).toBe(200);
    expect((await reg.get<Submission[]>('/api/submissions')).map((x) => x.id)).toEqual([subA.id]);
    expect(await status(reg, 'GET', `/api/submissions/${subB.id}`)).toBe(404);
    expect(await status(reg, 'GET', `/api/runs/${subB.runs.find((r) => r.phase === 'test')?.id}`)).toBe(404);
    // The hidden leaderboard, and comparisons on it, need the benchmark.
    expect(await status(reg, 'GET', `/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`)).toBe(404);
    expect(await status(reg, 'GET', `/api/benchmarks/${BENCHMARK}/leaderboard/compare?a=${subA.id}&b=${subB.id}`)).toBe(404);

    await clients.vendor.json('DELETE', `/api/grants/${grant.id}`);
    expect(await status(reg, 'GET', `/api/runs/${testRunA}`)).toBe(404);
    expect(await reg.get<Submission[]>('/api/submissions')).toEqual([]);

    const log = await admin.get<AuditRow[]>(`/api/audit?after=${before}&limit=1000`);
    const actions = log.map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['grant.created', 'grant.revoked', 'access.denied', 'download.run_cases']));
    expect(log.filter((a) => a.action === 'access.denied' && a.actorUserId === regulatorId && a.entityId === testRunA).length).toBeGreaterThanOrEqual(2);
    expect((await admin.get<{ ok: boolean }>('/api/audit/verify')).ok).toBe(true);
  });
});
