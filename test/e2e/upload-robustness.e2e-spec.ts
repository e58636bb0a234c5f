import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { Database } from '../../src/database/database.module';
import { StorageService } from '../../src/storage/storage.service';
import { UploadSweepService } from '../../src/submissions/upload-sweep.service';
import { MANIFEST, rawScoreModel } from '../support/onnx-models';
import { eventually, startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(180_000);

const BENCHMARK = 'wdbc-malignancy';
const MAX_MODEL_BYTES = 8 * 1024 * 1024;

interface Submission {
  id: string;
  status: string;
  sha256: string;
  rejectionReason: string | null;
}

interface RawResponse {
  status: number | null;
  body: string;
}

/** A multipart body: text fields first, then the file part, then the closing boundary. */
function multipart(fields: Record<string, string>, fileField: string, file: Buffer): { boundary: string; head: Buffer; file: Buffer; tail: Buffer } {
  const boundary = `----assaytest${randomBytes(8).toString('hex')}`;
  const text = Object.entries(fields)
    .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
    .join('');
  const fileHead = `--${boundary}\r\nContent-Disposition: form-data; name="${fileField}"; filename="upload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return { boundary, head: Buffer.from(text + fileHead), file, tail: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

/**
 * A hand-written HTTP request on a raw socket, so the test controls every byte, the pace and the hang-up. `steps`
 * are byte chunks or pauses (ms); `abort` destroys the socket after the last step instead of waiting for an answer.
 */
function rawRequest(baseUrl: string, input: { path: string; token: string; boundary: string; contentLength: number; steps: (Buffer | number | (() => Promise<void>))[]; abort?: boolean }): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const text = Buffer.concat(received).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status ? Number(status) : null, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('connect', () => {
      void (async () => {
        socket.write(
          `POST ${input.path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${input.token}\r\nContent-Type: multipart/form-data; boundary=${input.boundary}\r\nContent-Length: ${input.contentLength}\r\nConnection: close\r\n\r\n`,
        );
        for (const step of input.steps) {
          if (typeof step === 'number') await new Promise((r) => setTimeout(r, step));
          else if (typeof step === 'function') await step();
          else if (!socket.write(step)) await new Promise((r) => socket.once('drain', r));
        }
        if (input.abort) socket.destroy();
      })().catch(reject);
    });
  });
}

describe('uploads hold against truncated bodies, hang-ups, slow clients, quotas raced in parallel, and leave nothing behind', () => {
  let stack: TestStack;
  let vendor: AssayClient;
  let vendorToken: string;
  let work: string;
  let model: string;

  const onnxFields = (name: string): Record<string, string> => ({ benchmark: BENCHMARK, manifest: MANIFEST(name) });
  const imageFields = (name: string): Record<string, string> => ({ benchmark: BENCHMARK, name, version: '1.0.0' });
  const upload = (client: AssayClient, file: string, name: string, benchmark = BENCHMARK): Promise<Submission> =>
    client.uploadMultipart<Submission>('/api/submissions', { fields: { benchmark, manifest: MANIFEST(name) }, fileField: 'model', filePath: file });

  const db = (): Database => stack.api.get(Database);
  const storage = (): StorageService => stack.api.get(StorageService);

  /** What a failed upload could leave: staging objects, incomplete multipart uploads, objects no row references. */
  async function leftovers(): Promise<{ staging: string[]; incompleteUploads: string[]; unreferenced: string[] }> {
    const s = storage();
    const staging = (await s.list('submissions', 'staging/')).map((o) => o.key);
    let incompleteUploads: string[] = [];
    try {
      incompleteUploads = readdirSync(s.embeddedUploadsDir(s.bucketName('submissions')));
    } catch {
      incompleteUploads = [];
    }
    const referenced = new Set(((await db().manager().query('SELECT object_key FROM submissions')) as { object_key: string }[]).map((r) => r.object_key));
    const unreferenced = (await s.list('submissions', 'submissions/')).map((o) => o.key).filter((k) => !referenced.has(k));
    return { staging, incompleteUploads, unreferenced };
  }

  const rows = async (): Promise<number> => Number(((await db().manager().query('SELECT count(*)::int AS n FROM submissions')) as { n: number }[])[0]?.n);

  /** The API still answers, and nothing of the failed upload stayed (the row count is unchanged). */
  async function expectNothingLeft(rowsBefore: number): Promise<void> {
    await expect(vendor.get<unknown[]>('/api/benchmarks')).resolves.toEqual(expect.any(Array));
    await eventually(leftovers, (l) => l.staging.length === 0 && l.incompleteUploads.length === 0 && l.unreferenced.length === 0, 30_000);
    expect(await rows()).toBe(rowsBefore);
  }

  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_MAX_MODEL_BYTES: String(MAX_MODEL_BYTES), ASSAY_UPLOAD_SWEEP_INTERVAL_MS: '0' } });
    const v = await stack.vendor('Robust Vendor');
    vendor = v.client;
    vendorToken = (await stack.admin.post<{ token: string }>(`/api/users/${v.userId}/tokens`, { label: 'raw' })).token;
    work = mkdtempSync(join(tmpdir(), 'assay-upload-'));
    model = join(work, 'model.onnx');
    writeFileSync(model, rawScoreModel());
  });

  afterAll(async () => {
    await stack?.close();
  });

  describe.each([
    ['/api/submissions', 'model', onnxFields('truncated')],
    ['/api/submissions/container', 'image', imageFields('truncated')],
  ])('%s', (path, fileField, fields) => {
    it('answers a body that ends inside the file part (exact Content-Length) with a 400, and stays up', async () => {
      const before = await rows();
      const body = multipart(fields, fileField, randomBytes(64 * 1024));
      const truncated = Buffer.concat([body.head, body.file.subarray(0, 40_000)]);
      const res = await rawRequest(stack.baseUrl, { path, token: vendorToken, boundary: body.boundary, contentLength: truncated.length, steps: [truncated] });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ problems: [{ field: fileField, problem: 'incomplete: the body ended inside this part' }] });
      await expectNothingLeft(before);
    });

    it('survives a client that hangs up mid-file (after a whole part reached the store)', async () => {
      const before = await rows();
      const body = multipart(fields, fileField, randomBytes(7 * 1024 * 1024));
      const total = body.head.length + body.file.length + body.tail.length;
      const res = await rawRequest(stack.baseUrl, { path, token: vendorToken, boundary: body.boundary, contentLength: total, steps: [body.head, body.file.subarray(0, 6 * 1024 * 1024), 300], abort: true });
      expect(res.status).toBeNull();
      await expectNothingLeft(before);
    });

    it('refuses a zero-byte file with a 400 naming the field', async () => {
      const before = await rows();
      const body = multipart(fields, fileField, Buffer.alloc(0));
      const all = Buffer.concat([body.head, body.file, body.tail]);
      const res = await rawRequest(stack.baseUrl, { path, token: vendorToken, boundary: body.boundary, contentLength: all.length, steps: [all] });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ problems: [{ field: fileField, problem: 'is empty (0 bytes)' }] });
      await expectNothingLeft(before);
    });
  });

  it('serves other requests while a slow client trickles its upload, then answers it 202 validating', async () => {
    const body = multipart(onnxFields('slow'), 'model', rawScoreModel());
    const all = Buffer.concat([body.head, body.file, body.tail]);
    const steps: (Buffer | number)[] = [];
    for (let i = 0; i < all.length; i += Math.ceil(all.length / 10)) steps.push(all.subarray(i, i + Math.ceil(all.length / 10)), 200);
    const slow = rawRequest(stack.baseUrl, { path: '/api/submissions', token: vendorToken, boundary: body.boundary, contentLength: all.length, steps });
    const started = Date.now();
    await expect(vendor.get<unknown[]>('/api/benchmarks')).resolves.toEqual(expect.any(Array));
    expect(Date.now() - started).toBeLessThan(1500);
    const res = await slow;
    expect(res.status).toBe(202);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'validating' });
    expect((await leftovers()).staging).toEqual([]);
  });

  it('answers a streamed model of several parts 202 in validating, stored once under its content address', async () => {
    const big = join(work, 'big.onnx');
    writeFileSync(big, randomBytes(MAX_MODEL_BYTES - 1024));
    const submitted = await upload(vendor, big, 'streamed');
    expect(submitted).toMatchObject({ status: 'validating', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const keys = (await storage().list('submissions', `submissions/${submitted.sha256}/`)).map((o) => o.key);
    expect(keys).toEqual([`submissions/${submitted.sha256}/model.onnx`]);
    await expect(vendor.get<Submission>(`/api/submissions/${submitted.id}`)).resolves.toMatchObject({ status: 'validating' });
  });

  it('refuses an oversized upload and an invalid manifest, leaving nothing', async () => {
    const before = await rows();
    const big = join(work, 'too-big.onnx');
    writeFileSync(big, randomBytes(MAX_MODEL_BYTES + 1024 * 1024));
    await expect(upload(vendor, big, 'too-big')).rejects.toMatchObject({ status: 413 });
    await expect(vendor.uploadMultipart('/api/submissions', { fields: { benchmark: BENCHMARK, manifest: '{"name": ' }, fileField: 'model', filePath: model })).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/manifest: is not valid JSON/),
    });
    await expectNothingLeft(before);
  });

  it('removes the content-addressed copy when the transaction fails after the copy (at commit), and answers 5xx with nothing accepted', async () => {
    const before = await rows();
    // A deferred constraint trigger fails the commit itself: the copy has been made, the row never lands.
    await db().manager().query(`CREATE FUNCTION assay_test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected commit failure'; END $$`);
    await db().manager().query(
      `CREATE CONSTRAINT TRIGGER assay_test_fail_commit AFTER INSERT ON submissions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.name = 'fail-commit@1.0.0') EXECUTE FUNCTION assay_test_fail_commit()`,
    );
    try {
      const unique = join(work, 'unique.onnx');
      writeFileSync(unique, randomBytes(4096));
      await expect(upload(vendor, unique, 'fail-commit')).rejects.toMatchObject({ status: 500 });
      await expectNothingLeft(before);
    } finally {
      await db().manager().query('DROP TRIGGER assay_test_fail_commit ON submissions');
      await db().manager().query('DROP FUNCTION assay_test_fail_commit()');
    }
  });

  it('keeps a content-addressed object another submission references when a later upload of the same bytes fails', async () => {
    const before = await rows();
    const shared = join(work, 'shared.onnx');
    writeFileSync(shared, randomBytes(4096));
    const first = await upload(vendor, shared, 'shared-first');
    await db().manager().query(`CREATE FUNCTION assay_test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected commit failure'; END $$`);
    await db().manager().query(
      `CREATE CONSTRAINT TRIGGER assay_test_fail_commit AFTER INSERT ON submissions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.name = 'fail-commit@1.0.0') EXECUTE FUNCTION assay_test_fail_commit()`,
    );
    try {
      await expect(upload(vendor, shared, 'fail-commit')).rejects.toMatchObject({ status: 500 });
    } finally {
      await db().manager().query('DROP TRIGGER assay_test_fail_commit ON submissions');
      await db().manager().query('DROP FUNCTION assay_test_fail_commit()');
    }
    await expect(storage().exists('submissions', `submissions/${first.sha256}/model.onnx`)).resolves.toBe(true);
    await expectNothingLeft(before + 1);
  });

  describe('limits that hold', () => {
    let evaluator: AssayClient;
    let definition: Record<string, unknown>;

    const createBenchmark = async (slug: string, extra: Record<string, unknown>, title = slug): Promise<{ version: number; created: boolean }> =>
      evaluator.post('/api/benchmarks', { ...definition, slug, title, limits: { ...(definition.limits as Record<string, unknown>), submissionsPerDay: 2, submissionsTotal: 3, ...extra } });

    beforeAll(async () => {
      evaluator = await stack.user('evaluator');
      const shipped = (await evaluator.get<{ definition: Record<string, unknown> }>(`/api/benchmarks/${BENCHMARK}`)).definition;
      const { cohort, ...rest } = shipped as { cohort: { slug: string } } & Record<string, unknown>;
      definition = { ...rest, cohort: { slug: cohort.slug } };
    });

    it('accepts exactly perDay of 12 parallel uploads (perDay=2, total=3), refuses the rest with 429, and leaves nothing of them', async () => {
      await createBenchmark('wdbc-quota', {});
      const racer = (await stack.vendor('Racing Vendor')).client;
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => upload(racer, model, `race-${i}`, 'wdbc-quota')));
      const accepted = results.filter((r): r is PromiseFulfilledResult<Submission> => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(accepted.map((r) => r.value.status)).toEqual(['validating', 'validating']);
      expect(refused.map((r) => (r.reason as ApiError).status)).toEqual(Array(10).fill(429));
      const quota = await racer.get<{ total: { counted: number }; last24h: { counted: number } }>('/api/submissions/quota/wdbc-quota');
      expect(quota).toMatchObject({ total: { counted: 2 }, last24h: { counted: 2 } });
      const l = await leftovers();
      expect(l).toEqual({ staging: [], incompleteUploads: [], unreferenced: [] });
    });

    it("stores nothing of an over-quota vendor's upload while it streams, and answers 429", async () => {
      await createBenchmark('wdbc-quota-early', {});
      const late = await stack.vendor('Late Vendor');
      await upload(late.client, model, 'early-1', 'wdbc-quota-early');
      await upload(late.client, model, 'early-2', 'wdbc-quota-early');
      const token = (await stack.admin.post<{ token: string }>(`/api/users/${late.userId}/tokens`, { label: 'raw' })).token;
      const body = multipart({ benchmark: 'wdbc-quota-early', manifest: MANIFEST('early-3') }, 'model', randomBytes(15 << 19)); // 7.5 MiB, under this stack's 8 MiB model limit
      let midway: Awaited<ReturnType<typeof leftovers>> | null = null;
      const res = await rawRequest(stack.baseUrl, {
        path: '/api/submissions',
        token,
        boundary: body.boundary,
        contentLength: body.head.length + body.file.length + body.tail.length,
        // 7 MiB sent (past one 5 MiB store part): nothing may be in the store yet.
        steps: [body.head, body.file.subarray(0, 7 << 20), 1000, async () => void (midway = await leftovers()), body.file.subarray(7 << 20), body.tail],
      });
      expect(midway).toEqual({ staging: [], incompleteUploads: [], unreferenced: [] });
      expect(res.status).toBe(429);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'too_many_requests' });
    });

    it('keeps the count across a new benchmark version, unless the definition says resetOnNewVersion', async () => {
      const keeper = (await stack.vendor('Version Vendor')).client;
      await upload(keeper, model, 'v1-a', 'wdbc-quota');
      await upload(keeper, model, 'v1-b', 'wdbc-quota');
      await expect(createBenchmark('wdbc-quota', {}, 'wdbc-quota, second version')).resolves.toMatchObject({ version: 2, created: true });
      await expect(upload(keeper, model, 'v2-a', 'wdbc-quota')).rejects.toMatchObject({ status: 429, message: expect.stringMatching(/2 of 2 in the last 24 hours/) });

      await createBenchmark('wdbc-fresh', { resetOnNewVersion: true });
      await upload(keeper, model, 'f1-a', 'wdbc-fresh');
      await upload(keeper, model, 'f1-b', 'wdbc-fresh');
      await expect(upload(keeper, model, 'f1-c', 'wdbc-fresh')).rejects.toMatchObject({ status: 429 });
      await expect(createBenchmark('wdbc-fresh', { resetOnNewVersion: true }, 'wdbc-fresh, second version')).resolves.toMatchObject({ version: 2, created: true });
      await expect(upload(keeper, model, 'f2-a', 'wdbc-fresh')).resolves.toMatchObject({ status: 'validating' });
    });

    it('refuses resetOnNewVersion that is not a boolean, naming the field', async () => {
      await expect(createBenchmark('wdbc-bad-limits', { resetOnNewVersion: 'yes' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/limits\.resetOnNewVersion/) });
    });
  });

  it('sweeps stale staging objects, abandoned multipart uploads and unreferenced submission objects, and keeps referenced ones', async () => {
    const s = storage();
    const client = await s.connect();
    const bucket = s.bucketName('submissions');
    const referenced = ((await db().manager().query('SELECT DISTINCT object_key FROM submissions')) as { object_key: string }[]).map((r) => r.object_key);
    expect(referenced.length).toBeGreaterThan(0);
    // What a crash leaves: a staged file, a multipart upload never completed, a copy whose row was never committed.
    await s.putBuffer('submissions', 'staging/crashed/model.onnx', Buffer.from('staged'));
    await client.initiateNewMultipartUpload(bucket, 'staging/abandoned/image.tar', {});
    const orphan = `submissions/${'0'.repeat(64)}/model.onnx`;
    await s.putBuffer('submissions', orphan, Buffer.from('orphan'));
    expect((await leftovers()).incompleteUploads).toHaveLength(1);
    const sweeper = stack.api.get(UploadSweepService);
    // Younger than the limit: left alone (an upload may still be in progress).
    await expect(sweeper.sweep(60_000)).resolves.toEqual({ staging: [], incompleteUploads: [], unreferenced: [] });
    await new Promise((r) => setTimeout(r, 1100));
    const swept = await sweeper.sweep(1000);
    expect(swept).toEqual({ staging: ['staging/crashed/model.onnx'], incompleteUploads: ['staging/abandoned/image.tar'], unreferenced: [orphan] });
    expect(await leftovers()).toEqual({ staging: [], incompleteUploads: [], unreferenced: [] });
    for (const key of referenced) await expect(s.exists('submissions', key)).resolves.toBe(true);
  });
});
