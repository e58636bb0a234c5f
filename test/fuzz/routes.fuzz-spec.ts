import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { parse } from 'yaml';
import { AuditService } from '../../src/audit/audit.service';
import { generateNodeKeyFile } from '../../src/federation/node-keys';
import { MANIFEST, rawScoreModel } from '../support/onnx-models';
import { REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';
import { deepJson, encodeComponent, hostileComponent, hostileJson, hostileString, mutationOf } from './arbitraries';
import { probe, ProbeResponse, snapshotStore, tokensForEveryRole } from './http-probe';

// The fuzz tier (issue 7, "Bad input: 0 × 5xx"): every route the API serves (read from Express's router, checked
// against the OpenAPI document), called by every role and anonymously with arbitrary path parameters, query strings,
// JSON bodies and multipart bodies. Asserted for every request: an HTTP answer below 500; after every rejected one,
// no row and no object more or less; at the end, the process never saw an uncaught error and the audit chain verifies.
// Bounded: FUZZ_RUNS runs per route × caller (default 25; 148 pairs today, so at most 3,700 requests) and
// FUZZ_BUDGET_MS for the loop (default 60 s; past it, each remaining pair gets one request). Seeded by FUZZ_SEED
// (default below): a failure names its route, caller, seed and counterexample; FUZZ_ROUTES (a regex over
// "METHOD /path") narrows a replay.

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 60_000);
jest.setTimeout(BUDGET_MS + 120_000);

type Caller = 'anonymous' | 'vendor' | 'evaluator' | 'regulator' | 'admin';
const CALLERS: Caller[] = ['anonymous', 'vendor', 'evaluator', 'regulator', 'admin'];

interface Route {
  method: string;
  /** Express form: /api/benchmarks/:slug */
  path: string;
  params: string[];
  multipart: { fields: string[]; fileField: string } | null;
}

interface FuzzRequest {
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  label: string;
}

/** Every route Express serves, with the multipart shape from the OpenAPI document. */
function discoverRoutes(stack: TestStack): Route[] {
  const express = (stack.api as NestExpressApplication).getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } };
  // Nest binds app-wide middleware (the request logger) as `{/*splat}` for every method, CONNECT included: it serves
  // nothing itself (test/e2e/authz-matrix checks an unmatched path answers 404), so it is not a route to fuzz.
  const fromRouter = express.router.stack.flatMap((layer) =>
    layer.route && layer.route.path !== '{/*splat}' ? Object.keys(layer.route.methods).filter((m) => m !== '_all').map((m) => ({ method: m.toUpperCase(), path: layer.route!.path })) : [],
  );
  const doc = SwaggerModule.createDocument(stack.api, new DocumentBuilder().build());
  const fromOpenApi = Object.entries(doc.paths).flatMap(([path, item]) =>
    (['get', 'post', 'put', 'patch', 'delete'] as const)
      .filter((m) => item[m])
      .map((m) => {
        const op = item[m] as { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, { format?: string }> } }> } };
        const schema = op.requestBody?.content?.['multipart/form-data']?.schema?.properties;
        const multipart = schema ? { fields: Object.keys(schema).filter((k) => schema[k]?.format !== 'binary'), fileField: Object.keys(schema).find((k) => schema[k]?.format === 'binary') ?? 'file' } : null;
        return { method: m.toUpperCase(), path: path.replace(/\{([^}]+)\}/g, ':$1'), multipart };
      }),
  );
  const key = (r: { method: string; path: string }): string => `${r.method} ${r.path}`;
  const documented = new Map(fromOpenApi.map((r) => [key(r), r]));
  // Express also serves the OpenAPI UI and JSON (not Nest controllers, not in the document): fuzzed all the same.
  return fromRouter.map((r) => ({ ...r, params: [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string), multipart: documented.get(key(r))?.multipart ?? null }));
}

describe('fuzz: every route, every caller, arbitrary input (real Postgres, Redis, S3 server)', () => {
  let stack: TestStack;
  let tokens: Record<Exclude<Caller, 'anonymous'>, string>;
  let routes: Route[];
  let good: Record<string, string[]>;
  let templates: Record<string, unknown>;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => {
    uncaught.push(e);
  };
  const failures: string[] = [];
  let requests = 0;

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    // A model that passes the static check is answered without waiting long for a worker (there is none here).
    stack = await startTestStack({ worker: false, env: { ASSAY_SUBMISSION_CHECK_WAIT_MS: '200' } });
    const t = await tokensForEveryRole(stack);
    tokens = { admin: t.admin, evaluator: t.evaluator, regulator: t.regulator, vendor: t.vendor };
    routes = discoverRoutes(stack);
    const users = (await probe(stack.baseUrl, { method: 'GET', path: '/api/users', headers: { authorization: `Bearer ${t.admin}` } })).json as unknown as { id: string }[];
    const node = await stack.admin.post<{ id: string }>('/api/nodes', { name: 'fuzz-fixture-node', publicKey: generateNodeKeyFile().publicKey });
    good = {
      slug: ['wdbc-malignancy', 'lung-survival', 'wdbc', 'ncctg-lung'],
      phase: ['sample', 'test'],
      benchmark: ['wdbc-malignancy', 'lung-survival'],
      id: [...users.map((u) => u.id), node.id, '3f1c2b7e-9d4a-4c1e-8b2f-5a6d7e8f9a0b'],
      a: users.map((u) => u.id),
      b: users.map((u) => u.id),
      after: ['0', '1', '5'],
      limit: ['1', '10', '1000'],
      email: ['admin@test.local'],
      // GET /api/reports/verify: well-formed values, so the fuzz reaches the check as well as the 400s.
      evidenceSha256: ['0'.repeat(64)],
      keyId: ['ed25519-0000000000000000'],
      signature: ['A'.repeat(86)],
    };
    const descriptor = {
      slug: 'fuzz-cohort',
      title: 'Fuzz cohort',
      description: 'made by the fuzz tier',
      attribution: 'none',
      format: 'tabular-binary',
      source: 'fuzz.csv',
      idColumn: 'id',
      label: { column: 'y', positive: '1', negative: '0' },
      input: { name: 'features', columns: 'rest' },
      metadataColumns: ['site'],
      split: { seed: 1, sampleSize: 2 },
    };
    const csv = `id,y,site,f1,f2\n${Array.from({ length: 8 }, (_, i) => `c${i},${i % 2},s${i % 3},${i / 10},${(8 - i) / 7}`).join('\n')}\n`;
    templates = {
      'POST /api/organisations': { name: 'Fuzz Org' },
      'POST /api/users': { email: 'fuzz@example.test', displayName: 'Fuzz', role: 'evaluator' },
      'POST /api/users/:id/tokens': { label: 'fuzz' },
      'POST /api/cohorts': { descriptor, csv },
      'POST /api/benchmarks': parse(readFileSync(join(REPO_ROOT, 'benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as unknown,
      'PATCH /api/benchmarks/:slug/phases/:phase': { status: 'open' },
      'POST /api/runs/:id/report': { comparators: [] },
      // Federation (src/federation): the admin routes with a well-formed key; the node routes refuse every user caller.
      'POST /api/nodes': { name: 'fuzz-node', publicKey: generateNodeKeyFile().publicKey, policy: { acceptedBenchmarks: ['*'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress: 'aggregates' } },
      'PATCH /api/nodes/:id': { enabled: false },
      'POST /api/nodes/:id/keys': { publicKey: generateNodeKeyFile().publicKey },
      'POST /api/node/heartbeat': { intervalMs: 1000, versions: {}, runtimes: [], gpus: [], queueDepth: 0, cohorts: [], policy: { acceptedBenchmarks: ['*'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress: 'aggregates' } },
      'POST /api/node/jobs/lease': { waitMs: 0 },
    };
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await stack?.close();
  });

  function requestFor(route: Route, caller: Caller): fc.Arbitrary<FuzzRequest> {
    const path = fc.tuple(...route.params.map((p) => hostileComponent(good[p] ?? []))).map((values) => route.path.replace(/:([A-Za-z0-9_]+)/g, () => values.shift() ?? 'x'));
    const queryKeys = [...new Set([...Object.keys(good).filter((k) => !route.params.includes(k)), 'phase', 'email[$ne]', '__proto__'])];
    const query = fc.oneof(
      { weight: 2, arbitrary: fc.constant('') },
      {
        weight: 3,
        arbitrary: fc
          .array(fc.tuple(fc.oneof(fc.constantFrom(...queryKeys).map(encodeComponent), hostileComponent([])), fc.oneof(hostileComponent(Object.values(good).flat()), fc.constant(''))), { minLength: 1, maxLength: 4 })
          .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
      },
      { weight: 1, arbitrary: fc.constantFrom('?', '?&', '?a', '?a[b][c]=1', '?email[$ne]=x', '?after=1e20', '?limit=Infinity', '?phase=%00') },
    );
    const auth: fc.Arbitrary<Record<string, string>> =
      caller === 'anonymous'
        ? fc.constantFrom<Record<string, string>>({}, { authorization: 'Bearer' }, { authorization: 'Bearer assay_not-a-real-token' }, { authorization: 'Basic YTpi' }, { authorization: `Bearer ${'x'.repeat(5000)}` })
        : fc.constant({ authorization: `Bearer ${tokens[caller]}` });
    const template = templates[`${route.method} ${route.path}`];
    const json = (text: string, type = 'application/json'): { body: Buffer; type: string } => ({ body: Buffer.from(text, 'utf8'), type });
    const jsonBodies = fc.oneof(
      { weight: 3, arbitrary: template !== undefined ? mutationOf(template).map((v) => json(JSON.stringify(v) ?? 'null')) : hostileJson().map((v) => json(JSON.stringify(v) ?? 'null')) },
      { weight: 2, arbitrary: hostileJson().map((v) => json(JSON.stringify(v) ?? 'null')) },
      { weight: 1, arbitrary: deepJson().map((t) => json(t)) },
      { weight: 1, arbitrary: fc.constantFrom('{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"name":"a\\u0000b"}', '{"name":"\\ud800"}', '{', '', 'null', '[]', '"x"', '{"a":1e400}').map((t) => json(t)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ body: Buffer.from(b), type: 'application/json' })) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'garbage', 'application/json; charset=latin1'), fc.string({ maxLength: 50 })).map(([type, t]) => json(t, type)) },
      { weight: 1, arbitrary: fc.integer({ min: 16 * 1024, max: 64 * 1024 }).map((n) => json(`{"name":"${'y'.repeat(n)}"}`)) },
    );
    const bodies = route.multipart ? fc.oneof({ weight: 3, arbitrary: multipartBody(route.multipart) }, { weight: 1, arbitrary: jsonBodies }) : jsonBodies;
    const withBody = route.method !== 'GET' || route.multipart !== null;
    return fc
      .record({ path, query, auth, body: withBody ? fc.option(bodies, { freq: 8 }) : fc.option(jsonBodies, { freq: 1 }) })
      .map(({ path: p, query: q, auth: a, body }) => ({
        path: p + q,
        headers: { ...a, ...(body ? { 'content-type': body.type } : {}) },
        ...(body ? { body: body.body } : {}),
        label: `${route.method} ${p + q} as ${caller}${body ? ` (${body.type}, ${body.body.length} bytes)` : ''}`,
      }));
  }

  /** A valid intended use (the upload field), mutated by the same arbitrary as the manifest. */
  const INTENDED_USE = JSON.stringify({ purpose: 'fuzzing', population: 'adults', operatingMode: 'second-reader' });

  /** Multipart bodies: good and hostile fields, zero-byte/garbage/valid files, truncation anywhere, broken framing. */
  function multipartBody(shape: { fields: string[]; fileField: string }): fc.Arbitrary<{ body: Buffer; type: string }> {
    const fieldValue = (name: string): fc.Arbitrary<string> =>
      fc.oneof(
        fc.constant(name === 'benchmark' ? 'wdbc-malignancy' : name === 'manifest' ? MANIFEST('fuzz-model') : name === 'version' ? '1.0.0' : name === 'intendedUse' ? INTENDED_USE : 'fuzz'),
        hostileString(),
        name === 'manifest'
          ? mutationOf(JSON.parse(MANIFEST('fuzz-model')) as unknown).map((v) => JSON.stringify(v) ?? 'null')
          : name === 'intendedUse'
            ? mutationOf(JSON.parse(INTENDED_USE) as unknown).map((v) => JSON.stringify(v) ?? 'null')
            : hostileString(),
      );
    const model = rawScoreModel();
    const file = fc.oneof(
      fc.constant(Buffer.alloc(0)),
      fc.constant(model),
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      fc.constant(Buffer.concat([Buffer.alloc(257), Buffer.from('ustar\u000000'), Buffer.alloc(250)])),
      fc.constant(Buffer.from([0x1f, 0x8b, 0x08, 0x00])),
    );
    return fc
      .record({
        boundary: fc.constantFrom('fuzzb', 'a'.repeat(70), '----x'),
        declared: fc.constantFrom('same', 'other', 'none'),
        fields: fc.subarray(shape.fields).chain((names) => fc.tuple(...names.map((n) => fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constant(n) }, { weight: 1, arbitrary: hostileString() }), fieldValue(n))))),
        file: fc.option(fc.tuple(fc.constantFrom(shape.fileField, 'other'), file), { freq: 6 }),
        fileFirst: fc.boolean(),
        cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 3 }),
        close: fc.boolean(),
      })
      .map(({ boundary, declared, fields, file: f, fileFirst, cut, close }) => {
        const parts = fields.map(([n, v]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${n.replace(/["\r\n]/g, '')}"\r\n\r\n${v}\r\n`, 'utf8'));
        if (f) {
          const filePart = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f[0]}"; filename="m"\r\nContent-Type: application/octet-stream\r\n\r\n`), f[1], Buffer.from('\r\n')]);
          if (fileFirst) parts.unshift(filePart);
          else parts.push(filePart);
        }
        let body = Buffer.concat([...parts, Buffer.from(close ? `--${boundary}--\r\n` : '')]);
        if (cut !== null) body = body.subarray(0, Math.floor(body.length * cut));
        const bound = declared === 'same' ? boundary : declared === 'other' ? 'nomatch' : '';
        return { body, type: bound ? `multipart/form-data; boundary=${bound}` : 'multipart/form-data' };
      });
  }

  it('answers every request below 500, stores nothing for a rejected one, and never crashes', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    for (const known of ['GET /api/audit', 'POST /api/submissions', 'PATCH /api/benchmarks/:slug/phases/:phase', 'GET /api/runs/:id/events']) {
      expect(routes.map((r) => `${r.method} ${r.path}`)).toContain(known);
    }
    expect(routes.filter((r) => r.multipart).map((r) => r.path).sort()).toEqual(['/api/submissions', '/api/submissions/container']);
    const started = Date.now();
    let store = await snapshotStore(stack);
    // The OpenAPI UI and document are static and public: fuzzed anonymously only.
    const only = process.env.FUZZ_ROUTES ? new RegExp(process.env.FUZZ_ROUTES) : null;
    const properties = routes
      .filter((route) => !only || only.test(`${route.method} ${route.path}`))
      .flatMap((route) => (route.path.startsWith('/api/') ? CALLERS : (['anonymous'] as Caller[])).map((caller) => ({ route, caller })));
    const deadline = started + BUDGET_MS;
    for (const [i, { route, caller }] of properties.entries()) {
      // Past the budget, every remaining route × caller still gets one request (the seed still replays a failure).
      const numRuns = Date.now() < deadline ? RUNS : 1;
      const result = await fc.check(
        fc.asyncProperty(requestFor(route, caller), async (req) => {
          requests++;
          const r: ProbeResponse = await probe(stack.baseUrl, { method: route.method, path: req.path, headers: req.headers, ...(req.body ? { body: req.body } : {}), timeoutMs: 15_000 });
          // Health answers 503 when a dependency is down (no worker runs here): that is its contract, not a fault.
          const degradedHealth = route.path === '/api/health' && r.status === 503;
          if (r.status === 0 || (r.status >= 500 && !degradedHealth)) throw new Error(`${req.label}: ${r.status || r.error} ${r.text.slice(0, 300)}`);
          // Object counts are listed after requests that may write (not GET): listing three buckets is the slow part.
          const after = await snapshotStore(stack, { objects: route.method !== 'GET', previous: store });
          if (r.status >= 400 && JSON.stringify(after) !== JSON.stringify(store)) {
            throw new Error(`${req.label}: answered ${r.status} but the store changed: ${JSON.stringify(store)} -> ${JSON.stringify(after)}`);
          }
          store = after;
        }),
        { seed: SEED + i, numRuns, endOnFailure: true },
      );
      if (result.failed) {
        const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
        failures.push(`${route.method} ${route.path} as ${caller} (seed ${result.seed}, path "${result.counterexamplePath}"): ${error.slice(0, 800)}\n${(fc.defaultReportMessage(result) ?? '').slice(0, 2000)}`);
      }
    }
    const health = await probe(stack.baseUrl, { method: 'GET', path: '/api/health' });
    process.stdout.write(`fuzz: ${requests} requests over ${routes.length} routes, ${properties.length} route × caller pairs, in ${Date.now() - started} ms (seed ${SEED}, ${RUNS} runs each, budget ${BUDGET_MS} ms)\n`);
    expect(failures).toEqual([]);
    expect(uncaught).toEqual([]);
    expect([200, 503]).toContain(health.status);
    expect(await stack.api.get(AuditService).verify()).toMatchObject({ ok: true });
  });
});
