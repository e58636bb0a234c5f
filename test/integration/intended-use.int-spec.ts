import { Client } from 'pg';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { MANIFEST, rawScoreModel } from '../support/onnx-models';
import { startTestStack, TestStack } from '../support/test-stack';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

jest.setTimeout(480_000);

// The intended use a vendor declares at upload (issue 10, section 2 of the report): stored as validated, returned
// with the submission to whoever may read it, and immutable afterwards (real Postgres, Redis, S3 server; no worker).
const DECLARED = {
  purpose: 'Second opinion on malignancy of breast masses',
  targetCondition: 'breast carcinoma',
  population: 'adult women referred for fine-needle aspiration',
  users: 'cytopathologists',
  setting: 'hospital cytology laboratory',
  inputConstraints: '30 nuclear features of a digitised FNA image',
  outputType: 'probability of malignancy',
  operatingMode: 'second-reader',
};

interface Submission {
  id: string;
  status: string;
  intendedUse: Record<string, string> | null;
}

describe('intended use declared at submission', () => {
  let stack: TestStack;
  let vendor: AssayClient;
  let other: AssayClient;
  let db: Client;
  let work: string;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    vendor = (await stack.vendor('Declaring Vendor')).client;
    other = (await stack.vendor('Other Vendor')).client;
    db = new Client({ connectionString: stack.config.database.url });
    await db.connect();
    work = mkdtempSync(join(tmpdir(), 'assay-intended-use-'));
    writeFileSync(join(work, 'model.onnx'), rawScoreModel());
    // Not a real image: the worker's intake would refuse it, but this file has no worker; intake stores it.
    writeFileSync(join(work, 'image.tar'), Buffer.concat([Buffer.alloc(257), Buffer.from('ustar\u000000'), Buffer.alloc(250)]));
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const onnx = (fields: Record<string, string>): Promise<Submission> =>
    vendor.uploadMultipart<Submission>('/api/submissions', { fields: { benchmark: 'wdbc-malignancy', manifest: MANIFEST('declared'), ...fields }, fileField: 'model', filePath: join(work, 'model.onnx') });
  const refusal = async (p: Promise<unknown>): Promise<{ status: number; fields: string[] }> => {
    try {
      await p;
    } catch (e) {
      const body = (e as ApiError).body as { problems?: { field: string }[] };
      return { status: (e as ApiError).status, fields: (body.problems ?? []).map((x) => x.field) };
    }
    throw new Error('expected a refusal');
  };

  it('stores the declared intended use of an ONNX upload and returns it to the vendor and to staff, never to another vendor', async () => {
    const submitted = await onnx({ intendedUse: JSON.stringify(DECLARED) });
    expect(submitted).toMatchObject({ status: 'validating', intendedUse: DECLARED });
    const evaluator = await stack.user('evaluator');
    for (const reader of [vendor, evaluator, stack.admin]) await expect(reader.get<Submission>(`/api/submissions/${submitted.id}`)).resolves.toMatchObject({ intendedUse: DECLARED });
    await expect(vendor.get<Submission[]>('/api/submissions')).resolves.toContainEqual(expect.objectContaining({ id: submitted.id, intendedUse: DECLARED }));
    await expect(other.get(`/api/submissions/${submitted.id}`)).rejects.toMatchObject({ status: 404 });
    // A regulator reads it once granted the benchmark, and not before.
    const regulator = await stack.user('regulator');
    await expect(regulator.get(`/api/submissions/${submitted.id}`)).rejects.toMatchObject({ status: 404 });
    await stack.admin.post('/api/grants', { regulatorEmail: (await regulator.get<{ email: string }>('/api/me')).email, benchmark: 'wdbc-malignancy' });
    await expect(regulator.get<Submission>(`/api/submissions/${submitted.id}`)).resolves.toMatchObject({ intendedUse: DECLARED });
    const row = await db.query<{ intended_use: unknown }>('SELECT intended_use FROM submissions WHERE id = $1', [submitted.id]);
    expect(row.rows[0]?.intended_use).toEqual(DECLARED);
  });

  it('stores the intended use of a container upload, and null when none is declared', async () => {
    const image = await vendor.uploadMultipart<Submission>('/api/submissions/container', {
      fields: { benchmark: 'wdbc-malignancy', name: 'declared-image', version: '1', intendedUse: JSON.stringify({ purpose: 'triage', operatingMode: 'triage' }) },
      fileField: 'image',
      filePath: join(work, 'image.tar'),
    });
    expect(image.intendedUse).toEqual({ purpose: 'triage', operatingMode: 'triage' });
    const plain = await onnx({});
    expect(plain.intendedUse).toBeNull();
    await expect(vendor.get<Submission>(`/api/submissions/${plain.id}`)).resolves.toMatchObject({ intendedUse: null });
  });

  it('refuses a bad intended use with a 400 naming the field, on both routes, and stores nothing', async () => {
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM submissions');
    await expect(refusal(onnx({ intendedUse: JSON.stringify({ ...DECLARED, operatingMode: 'autonomous' }) }))).resolves.toEqual({ status: 400, fields: ['intendedUse.operatingMode'] });
    await expect(refusal(onnx({ intendedUse: JSON.stringify({ purpose: 'x', claims: 'cleared' }) }))).resolves.toEqual({ status: 400, fields: ['intendedUse.claims'] });
    await expect(refusal(onnx({ intendedUse: JSON.stringify({ population: 'adults' }) }))).resolves.toMatchObject({ status: 400, fields: expect.arrayContaining(['intendedUse.purpose']) });
    await expect(refusal(onnx({ intendedUse: JSON.stringify({ purpose: 'p'.repeat(2001) }) }))).resolves.toEqual({ status: 400, fields: ['intendedUse.purpose'] });
    await expect(refusal(onnx({ intendedUse: '[1,2]' }))).resolves.toEqual({ status: 400, fields: ['intendedUse'] });
    await expect(refusal(onnx({ intendedUse: '{"purpose":' }))).resolves.toEqual({ status: 400, fields: ['intendedUse'] });
    const image = vendor.uploadMultipart('/api/submissions/container', {
      fields: { benchmark: 'wdbc-malignancy', name: 'img', version: '1', intendedUse: JSON.stringify({ purpose: 'x', setting: 's'.repeat(2001) }) },
      fileField: 'image',
      filePath: join(work, 'image.tar'),
    });
    await expect(refusal(image)).resolves.toEqual({ status: 400, fields: ['intendedUse.setting'] });
    const after = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM submissions');
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });

  it('keeps the declared intended use immutable: the database refuses to change it, while the rest of the row may move on', async () => {
    const submitted = await onnx({ intendedUse: JSON.stringify({ purpose: 'as declared' }) });
    await expect(db.query(`UPDATE submissions SET intended_use = '{"purpose":"rewritten"}' WHERE id = $1`, [submitted.id])).rejects.toThrow(/intended_use is immutable/);
    await expect(db.query('UPDATE submissions SET intended_use = NULL WHERE id = $1', [submitted.id])).rejects.toThrow(/intended_use is immutable/);
    await db.query(`UPDATE submissions SET status = 'rejected', rejection_reason = 'test', intended_use = intended_use WHERE id = $1`, [submitted.id]);
    await expect(vendor.get<Submission>(`/api/submissions/${submitted.id}`)).resolves.toMatchObject({ status: 'rejected', intendedUse: { purpose: 'as declared' } });
  });
});
