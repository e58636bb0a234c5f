import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AuditService } from '../../src/audit/audit.service';
import { fieldsOf, probe, ProbeResponse, snapshotStore, tokensForEveryRole } from '../fuzz/http-probe';
import { REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';

// Issue 7, "Bad input: 0 × 5xx": each cause the outside fuzz found, as a fixed request with the 4xx (naming the
// field) that it must get, and nothing stored by it.
jest.setTimeout(120_000);

// An object holding arrays nested `depth` deep: 10 KB for 5000 levels, inside every route's body limit.
const deep = (depth: number): string => `{"a":${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}}`;
const wdbcDefinition = (): Record<string, unknown> => parse(readFileSync(join(REPO_ROOT, 'benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as Record<string, unknown>;

describe('bad input gets a 4xx naming the field, never a 5xx (real Postgres, Redis, S3 server)', () => {
  let stack: TestStack;
  let t: Awaited<ReturnType<typeof tokensForEveryRole>>;
  let before: Record<string, number>;

  const send = (method: string, path: string, opts: { token?: string; json?: unknown; body?: string | Buffer; type?: string } = {}): Promise<ProbeResponse> =>
    probe(stack.baseUrl, {
      method,
      path,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.json !== undefined || opts.body !== undefined ? { 'content-type': opts.type ?? 'application/json' } : {}),
      },
      ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : opts.body !== undefined ? { body: opts.body } : {}),
    });

  const expect4xxNaming = (r: ProbeResponse, status: number, field: string | RegExp): void => {
    expect({ status: r.status, fields: fieldsOf(r) }).toEqual({ status, fields: expect.arrayContaining([field instanceof RegExp ? expect.stringMatching(field) : field]) });
  };

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    t = await tokensForEveryRole(stack);
    before = await snapshotStore(stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  describe('NUL bytes and lone surrogates are refused at the edge, with the field path', () => {
    it('refuses them in JSON bodies (names, titles, labels, cohort cells)', async () => {
      expect4xxNaming(await send('POST', '/api/organisations', { token: t.admin, json: { name: 'Acme\u0000Imaging' } }), 400, 'name');
      expect4xxNaming(await send('POST', '/api/organisations', { token: t.admin, json: { name: 'Acme \ud800 Imaging' } }), 400, 'name');
      expect4xxNaming(await send('POST', '/api/users', { token: t.admin, json: { email: 'x@y.test', displayName: 'a\udc00b', role: 'evaluator' } }), 400, 'displayName');
      const users = (await send('GET', '/api/users', { token: t.admin })).json as unknown as { id: string }[];
      expect4xxNaming(await send('POST', `/api/users/${users[0]?.id}/tokens`, { token: t.admin, json: { label: 'ci\u0000' } }), 400, 'label');
      const definition = { ...wdbcDefinition(), slug: 'fuzz-nul', title: 'NUL \u0000 title' };
      expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: definition }), 400, 'title');
      const descriptor = parse(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
      const csv = readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8').replace('M,', 'M\u0000,');
      expect4xxNaming(await send('POST', '/api/cohorts', { token: t.evaluator, json: { descriptor: { ...descriptor, slug: 'fuzz-cells' }, csv } }), 400, 'csv');
      expect4xxNaming(await send('POST', '/api/cohorts', { token: t.evaluator, json: { descriptor: { ...descriptor, slug: 'fuzz-cells', metadataColumns: ['\ud83d'] }, csv: 'a,b\n' } }), 400, 'descriptor.metadataColumns.0');
    });

    it('refuses them in path parameters and query strings', async () => {
      expect4xxNaming(await send('GET', '/api/benchmarks/wdbc%00malignancy', { token: t.vendor }), 400, 'slug');
      expect4xxNaming(await send('GET', '/api/cohorts/%00/versions', { token: t.evaluator }), 400, 'slug');
      expect4xxNaming(await send('GET', '/api/submissions/quota/%00', { token: t.vendor }), 400, 'benchmark');
      expect4xxNaming(await send('GET', '/api/benchmarks/%00/leaderboard', { token: t.vendor }), 400, 'slug');
      expect4xxNaming(await send('GET', '/api/benchmarks/%00/sample-data', { token: t.vendor }), 400, 'slug');
      expect4xxNaming(await send('PATCH', '/api/benchmarks/wdbc-malignancy/phases/%00', { token: t.evaluator, json: { status: 'open' } }), 400, 'phase');
      expect4xxNaming(await send('GET', '/api/benchmarks/wdbc-malignancy/leaderboard?phase=%00', { token: t.vendor }), 400, 'phase');
      expect4xxNaming(await send('GET', '/api/users?email=a%00b', { token: t.admin }), 400, 'email');
      // Encoded surrogate halves are not UTF-8: refused too, never decoded into a lone surrogate.
      expect((await send('GET', '/api/benchmarks/%ED%A0%80', { token: t.vendor })).status).toBe(400);
    });

    it('refuses them in multipart text fields and in the manifest JSON they carry', async () => {
      const boundary = 'fuzzboundary';
      const part = (name: string, value: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      const file = (name: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="x"\r\nContent-Type: application/octet-stream\r\n\r\nnot a model\r\n--${boundary}--\r\n`;
      const type = `multipart/form-data; boundary=${boundary}`;
      const manifest = JSON.stringify({ name: 'm', version: '1\u0000', inputs: { features: 'input' }, outputs: { probability: 'probability' } });
      const onnx = await send('POST', '/api/submissions', { token: t.vendor, type, body: part('benchmark', 'wdbc-malignancy') + part('manifest', manifest) + file('model') });
      expect4xxNaming(onnx, 400, 'manifest.version');
      const image = await send('POST', '/api/submissions/container', { token: t.vendor, type, body: part('benchmark', 'wdbc-malignancy') + part('name', 'img') + part('version', '1\u0000') + file('image') });
      expect4xxNaming(image, 400, 'version');
    });

    it('refuses a bad intended use on both upload routes with a 400 naming the field inside it', async () => {
      const boundary = 'fuzzboundary';
      const part = (name: string, value: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      const file = (name: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="x"\r\nContent-Type: application/octet-stream\r\n\r\nnot a model\r\n--${boundary}--\r\n`;
      const type = `multipart/form-data; boundary=${boundary}`;
      const manifest = JSON.stringify({ name: 'm', version: '1', inputs: { features: 'input' }, outputs: { probability: 'probability' } });
      const onnx = (intendedUse: string) => send('POST', '/api/submissions', { token: t.vendor, type, body: part('benchmark', 'wdbc-malignancy') + part('manifest', manifest) + part('intendedUse', intendedUse) + file('model') });
      const image = (intendedUse: string) => send('POST', '/api/submissions/container', { token: t.vendor, type, body: part('benchmark', 'wdbc-malignancy') + part('name', 'img') + part('version', '1') + part('intendedUse', intendedUse) + file('image') });
      for (const upload of [onnx, image]) {
        expect4xxNaming(await upload('{"purpose":"x","operatingMode":"autonomous"}'), 400, 'intendedUse.operatingMode');
        expect4xxNaming(await upload('{"purpose":"x","regulatoryStatus":"cleared"}'), 400, 'intendedUse.regulatoryStatus');
        expect4xxNaming(await upload('{"users":"radiologists"}'), 400, 'intendedUse.purpose');
        expect4xxNaming(await upload(JSON.stringify({ purpose: 'x', population: 'p'.repeat(2001) })), 400, 'intendedUse.population');
        expect4xxNaming(await upload('{"purpose":"a\\u0000b"}'), 400, 'intendedUse.purpose');
        expect4xxNaming(await upload('{"purpose":"x","__proto__":{"admin":true}}'), 400, /^intendedUse\./);
        expect4xxNaming(await upload('["purpose"]'), 400, 'intendedUse');
        expect4xxNaming(await upload('{"purpose":'), 400, 'intendedUse');
      }
    });

    it('answers a multipart body that breaks off inside the file part, or an empty file, with a 400 (found by the fuzz tier)', async () => {
      const boundary = '----x';
      const type = `multipart/form-data; boundary=${boundary}`;
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="m"\r\nContent-Type: application/octet-stream\r\n\r\n`;
      const cut = await send('POST', '/api/submissions', { token: t.vendor, type, body: `${head}partial bytes\r\n` });
      expect4xxNaming(cut, 400, 'model');
      // The same inside a file part under an unexpected name (it is drained, not stored): still an answer, no crash.
      const other = await send('POST', '/api/submissions', { token: t.vendor, type, body: `${head.replace('"model"', '"other"')}partial bytes\r\n` });
      expect(other.status).toBe(400);
      const fields = `--${boundary}\r\nContent-Disposition: form-data; name="benchmark"\r\n\r\nwdbc-malignancy\r\n--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nimg\r\n--${boundary}\r\nContent-Disposition: form-data; name="version"\r\n\r\n1\r\n`;
      const empty = await send('POST', '/api/submissions/container', { token: t.vendor, type, body: `${fields}${head.replace('"model"', '"image"')}\r\n--${boundary}--\r\n` });
      expect(empty.status).toBeGreaterThanOrEqual(400);
      expect(empty.status).toBeLessThan(500);
      expect(fieldsOf(empty)).toContain('image');
    });
  });

  it('refuses JSON nested 5000 deep on every JSON route, naming the depth limit', async () => {
    const routes: [string, string, string][] = [
      ['POST', '/api/organisations', t.admin],
      ['POST', '/api/users', t.admin],
      ['POST', '/api/users/00000000-0000-4000-8000-000000000000/tokens', t.admin],
      ['POST', '/api/cohorts', t.evaluator],
      ['POST', '/api/benchmarks', t.evaluator],
      ['PATCH', '/api/benchmarks/wdbc-malignancy/phases/test', t.evaluator],
    ];
    for (const [method, path, token] of routes) {
      const r = await send(method, path, { token, body: deep(5000) });
      expect({ route: `${method} ${path}`, status: r.status, message: r.json?.message }).toEqual({ route: `${method} ${path}`, status: 400, message: expect.stringMatching(/nested deeper than \d+/) });
    }
  });

  it('answers PATCH …/phases/… with {} or a non-JSON body with a 4xx naming what is wrong', async () => {
    const path = '/api/benchmarks/wdbc-malignancy/phases/test';
    const empty = await send('PATCH', path, { token: t.evaluator, json: {} });
    expect(empty.status).toBe(400);
    expect(fieldsOf(empty)).toEqual(expect.arrayContaining(['status', 'leaderboard']));
    expect4xxNaming(await send('PATCH', path, { token: t.evaluator, body: 'status=closed', type: 'text/plain' }), 415, 'Content-Type');
    expect4xxNaming(await send('PATCH', path, { token: t.evaluator }), 400, 'body');
    expect4xxNaming(await send('PATCH', path, { token: t.evaluator, body: '{"status":' }), 400, 'body');
    expect4xxNaming(await send('PATCH', path, { token: t.evaluator, body: '"closed"' }), 400, 'body');
    expect4xxNaming(await send('PATCH', path, { token: t.evaluator, json: { status: 'ajar' } }), 400, 'status');
    // A real change still works.
    expect((await send('PATCH', path, { token: t.evaluator, json: { status: 'open' } })).status).toBe(200);
  });

  it('answers GET /api/audit?after= with 1e20, 1.5, Infinity or -1 with a 400 naming the parameter', async () => {
    for (const bad of ['1e20', '1.5', 'Infinity', '-1', 'abc', '9007199254740993']) {
      expect4xxNaming(await send('GET', `/api/audit?after=${bad}`, { token: t.admin }), 400, 'after');
    }
    expect4xxNaming(await send('GET', '/api/audit?limit=1e20', { token: t.admin }), 400, 'limit');
    expect4xxNaming(await send('GET', '/api/audit?limit=0', { token: t.admin }), 400, 'limit');
    expect4xxNaming(await send('GET', '/api/audit?after=1&after=2', { token: t.admin }), 400, 'after');
    const page = await send('GET', '/api/audit?after=1&limit=2', { token: t.admin });
    expect(page.status).toBe(200);
    expect((page.json as unknown as { seq: number }[]).map((e) => e.seq)).toEqual([2, 3]);
  });

  it('refuses __proto__, constructor and prototype keys at any depth instead of letting them past the extra-field check', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect4xxNaming(await send('POST', '/api/organisations', { token: t.admin, body: `{"name":"Proto Org","${key}":{"admin":true}}` }), 400, key);
      expect4xxNaming(await send('PATCH', '/api/benchmarks/wdbc-malignancy/phases/test', { token: t.evaluator, body: `{"${key}":{"status":"closed"}}` }), 400, key);
    }
    const nested = JSON.stringify({ ...wdbcDefinition(), slug: 'fuzz-proto' }).replace('"ranking":{', '"ranking":{"__proto__":{"x":1},');
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, body: nested }), 400, 'ranking.__proto__');
  });

  it('refuses ?email[$ne]=x and repeated query parameters instead of dropping the filter', async () => {
    expect4xxNaming(await send('GET', '/api/users?email[$ne]=x', { token: t.admin }), 400, 'email[$ne]');
    expect4xxNaming(await send('GET', '/api/users?email%5B%24ne%5D=x', { token: t.admin }), 400, 'email[$ne]');
    expect4xxNaming(await send('GET', '/api/users?email=a@b.test&email=c@d.test', { token: t.admin }), 400, 'email');
    const one = await send('GET', '/api/users?email=nobody@nowhere.test', { token: t.admin });
    expect({ status: one.status, body: one.json }).toEqual({ status: 200, body: [] });
  });

  it('refuses out-of-range and non-integer numbers in a benchmark definition, naming the field', async () => {
    const base = wdbcDefinition() as { limits: Record<string, unknown> & { resources: Record<string, unknown> } };
    const withLimits = (limits: Record<string, unknown>): Record<string, unknown> => ({ ...base, slug: 'fuzz-numbers', limits: { ...base.limits, ...limits } });
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: withLimits({ modelBytes: 1e30 }) }), 400, 'limits.modelBytes');
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: withLimits({ submissionsPerDay: 1e300 }) }), 400, 'limits.submissionsPerDay');
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: withLimits({ submissionsTotal: 2.5 }) }), 400, 'limits.submissionsTotal');
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: withLimits({ resources: { ...base.limits.resources, memoryMiB: '1024' } }) }), 400, 'limits.resources.memoryMiB');
  });

  it('refuses a definition whose required nested object is missing or an array (found by the fuzz tier)', async () => {
    const { limits: _limits, ...withoutLimits } = wdbcDefinition();
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: { ...withoutLimits, slug: 'fuzz-nested' } }), 400, 'limits');
    expect4xxNaming(await send('POST', '/api/benchmarks', { token: t.evaluator, json: { ...wdbcDefinition(), slug: 'fuzz-nested', phases: [[{ name: 'x', split: 'test', leaderboard: 'public' }]] } }), 400, 'phases');
    const descriptor = parse(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
    const { split: _split, ...withoutSplit } = descriptor;
    expect4xxNaming(await send('POST', '/api/cohorts', { token: t.evaluator, json: { descriptor: { ...withoutSplit, slug: 'fuzz-nested' }, csv: 'a,b\n1,2\n' } }), 400, 'descriptor.split');
  });

  describe('bodies: authentication before parsing, and each route its own limit', () => {
    it('refuses an anonymous 50 MiB body fast, without reading it', async () => {
      const url = new URL(stack.baseUrl);
      const socket = connect(Number(url.port), url.hostname);
      const total = 50 * 1024 * 1024;
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('\r\n\r\n')) resolve(text);
        });
        socket.on('error', reject);
        socket.write(`POST /api/cohorts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`);
        // Only the first MiB is sent: the answer must come without the other 49.
        socket.write(Buffer.alloc(1024 * 1024, 0x20));
      });
      const elapsed = Date.now() - started;
      socket.destroy();
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(elapsed).toBeLessThan(3_000);
    });

    it('answers an authenticated oversized JSON body 413 naming the limit, and a declared Content-Length too big before reading it', async () => {
      const big = JSON.stringify({ name: 'x'.repeat(64 * 1024) });
      const r = await send('POST', '/api/organisations', { token: t.admin, body: big });
      expect(r.status).toBe(413);
      expect(r.json?.message).toMatch(/larger than the 16384-byte limit of this route/);
      expect(fieldsOf(r)).toEqual(['body']);
      const cohort = await send('POST', '/api/cohorts', { token: t.evaluator, body: `{"csv":"${'x'.repeat(9 * 1024 * 1024)}"}` });
      expect({ status: cohort.status, message: cohort.json?.message }).toEqual({ status: 413, message: expect.stringMatching(/limit of this route/) });
    });

    it('still takes the largest shipped cohort and benchmark definitions through the API', async () => {
      const descriptor = parse(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
      const csv = readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8');
      const cohort = await send('POST', '/api/cohorts', { token: t.evaluator, json: { descriptor, csv } });
      expect({ status: cohort.status, created: (cohort.json as { created?: boolean } | null)?.created }).toEqual({ status: 201, created: false });
      const benchmark = await send('POST', '/api/benchmarks', { token: t.evaluator, json: wdbcDefinition() });
      expect({ status: benchmark.status, created: (benchmark.json as { created?: boolean } | null)?.created }).toEqual({ status: 201, created: false });
    });
  });

  it('stored nothing for any of the rejected requests above, and the audit chain verifies', async () => {
    expect(await snapshotStore(stack)).toEqual(before);
    expect(await stack.api.get(AuditService).verify()).toMatchObject({ ok: true });
  });
});
