import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { parse } from 'yaml';
import { DomainError } from './domain-error';
import { BODY_LIMITS, readJsonBody } from './json-body';

const ROOT = join(__dirname, '..', '..');

function fakeRequest(headers: Record<string, string>, chunks: (string | Buffer)[]): IncomingMessage & { consumed: () => number } {
  const stream = new PassThrough();
  let consumed = 0;
  stream.on('data', (c: Buffer) => (consumed += c.length));
  setImmediate(() => {
    for (const c of chunks) stream.write(c);
    stream.end();
  });
  return Object.assign(stream, { headers, consumed: () => consumed }) as unknown as IncomingMessage & { consumed: () => number };
}

const failure = async (p: Promise<unknown>): Promise<{ code: string; message: string; fields: string[] }> => {
  const e = await p.then(() => null, (error: unknown) => error);
  if (!(e instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(e)}`);
  return { code: e.code, message: e.message, fields: e.problems.map((p) => p.field) };
};

describe('readJsonBody', () => {
  it('leaves headroom over the largest shipped cohort and benchmark definition', () => {
    const sizes = { cohort: 0, benchmarkDefinition: 0 };
    for (const slug of readdirSync(join(ROOT, 'cohorts'))) {
      const descriptor = parse(readFileSync(join(ROOT, 'cohorts', slug, 'cohort.yaml'), 'utf8')) as { source?: string; format: string };
      // Imaging cohorts are loaded from files by the catalogue (volumes are not JSON bodies); tabular ones may be posted.
      if (descriptor.format === 'imaging' || !descriptor.source) continue;
      const csv = readFileSync(join(ROOT, 'cohorts', slug, descriptor.source), 'utf8');
      sizes.cohort = Math.max(sizes.cohort, Buffer.byteLength(JSON.stringify({ descriptor, csv })));
    }
    for (const slug of readdirSync(join(ROOT, 'benchmarks'))) {
      const definition = parse(readFileSync(join(ROOT, 'benchmarks', slug, 'benchmark.yaml'), 'utf8')) as unknown;
      sizes.benchmarkDefinition = Math.max(sizes.benchmarkDefinition, Buffer.byteLength(JSON.stringify(definition)));
    }
    expect(sizes.cohort).toBeGreaterThan(100_000);
    expect(sizes.cohort * 20).toBeLessThan(BODY_LIMITS.cohort);
    expect(sizes.benchmarkDefinition * 20).toBeLessThan(BODY_LIMITS.benchmarkDefinition);
  });

  it('parses a JSON object', async () => {
    await expect(readJsonBody(fakeRequest({ 'content-type': 'application/json; charset=utf-8', 'content-length': '13' }, ['{"name":"ok"}']), 100)).resolves.toEqual({ name: 'ok' });
  });

  it('refuses a declared length over the limit without reading, and an undeclared one as soon as it passes the limit', async () => {
    const declared = fakeRequest({ 'content-type': 'application/json', 'content-length': '1000' }, ['x'.repeat(1000)]);
    expect(await failure(readJsonBody(declared, 100))).toEqual({ code: 'payload_too_large', message: 'body is larger than the 100-byte limit of this route', fields: ['body'] });
    expect(declared.consumed()).toBe(0);
    const chunked = fakeRequest({ 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, Array.from({ length: 100 }, () => 'x'.repeat(64)));
    expect((await failure(readJsonBody(chunked, 100))).code).toBe('payload_too_large');
    expect(chunked.consumed()).toBeLessThan(1000);
  });

  it('names what is wrong with a missing, non-JSON, compressed, non-UTF-8 or non-object body', async () => {
    expect(await failure(readJsonBody(fakeRequest({}, []), 100))).toMatchObject({ code: 'validation_failed', fields: ['body'] });
    expect(await failure(readJsonBody(fakeRequest({ 'content-type': 'text/plain', 'content-length': '2' }, ['hi']), 100))).toMatchObject({ code: 'unsupported_media_type', fields: ['Content-Type'] });
    expect(await failure(readJsonBody(fakeRequest({ 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': '2' }, ['{}']), 100))).toMatchObject({ code: 'unsupported_media_type', fields: ['Content-Encoding'] });
    expect(await failure(readJsonBody(fakeRequest({ 'content-type': 'application/json', 'content-length': '8' }, [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])]), 100))).toMatchObject({ fields: ['body'], message: 'body: is not UTF-8' });
    expect(await failure(readJsonBody(fakeRequest({ 'content-type': 'application/json', 'content-length': '3' }, ['[1]']), 100))).toMatchObject({ fields: ['body'], message: 'body: must be a JSON object' });
    expect(await failure(readJsonBody(fakeRequest({ 'content-type': 'application/json', 'content-length': '22' }, ['{"a":{"__proto__":{}}}']), 100))).toMatchObject({ fields: ['a.__proto__'] });
  });
});
