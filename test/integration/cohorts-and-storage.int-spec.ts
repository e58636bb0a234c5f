import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadConfig } from '../../src/config/config.schema';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'yaml';
import { validateCohortDescriptor } from '../../src/cohorts/cohort-ingest';
import { CohortsService } from '../../src/cohorts/cohorts.service';
import { DomainError } from '../../src/common/domain-error';
import { Database } from '../../src/database/database.module';
import { SizeLimitExceededError, StorageService } from '../../src/storage/storage.service';
import { freePort, startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(60_000);
const ROOT = join(__dirname, '..', '..');

async function listKeys(storage: StorageService, bucket: 'inputs' | 'truth' | 'submissions', prefix: string): Promise<string[]> {
  const client = await storage.connect();
  const keys: string[] = [];
  for await (const item of client.listObjectsV2(storage.bucketName(bucket), prefix, true)) keys.push((item as { name: string }).name);
  return keys.sort();
}

describe('cohort ingestion and the object store (real Postgres and S3 server)', () => {
  let stack: TestStack;
  let storage: StorageService;
  let cohorts: CohortsService;
  const descriptor = validateCohortDescriptor(parse(readFileSync(join(ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')));
  const csv = readFileSync(join(ROOT, 'cohorts/wdbc/wdbc.csv'));

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    storage = stack.api.get(StorageService);
    cohorts = stack.api.get(CohortsService);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('stores inputs and truth in separate buckets, and re-ingesting the same content makes no new version', async () => {
    // The catalogue loaded wdbc at start; the same content again is a no-op.
    const again = await cohorts.ingestTabular(null, descriptor, csv);
    expect(again.created).toBe(false);
    expect(again.version.version).toBe(1);
    const inputs = await listKeys(storage, 'inputs', 'cohorts/wdbc/');
    const truth = await listKeys(storage, 'truth', 'truth/wdbc/');
    expect(inputs.map((k) => k.split('/').slice(-2).join('/'))).toEqual(['sample/cases.jsonl', 'sample/sample-with-labels.csv', 'test/cases.jsonl']);
    expect(truth.map((k) => k.split('/').slice(-2).join('/'))).toEqual(['sample/labels.csv', 'test/labels.csv']);
    // Held-out inputs carry no labels.
    const testInputs = (await storage.getBuffer('inputs', inputs.find((k) => k.endsWith('test/cases.jsonl')) as string)).toString('utf8');
    expect(testInputs).not.toMatch(/label|diagnosis/);
    expect(testInputs.trim().split('\n')).toHaveLength(549);
    // The version's content hash covers every file's sha256.
    expect(again.version.manifest.files).toHaveLength(5);
    expect(again.version.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('loads the SYNTHETIC imaging cohort from the catalogue: canonical images in inputs, masks and lesions only in truth (but the sample\'s)', async () => {
    const version = await cohorts.latestVersionBySlug('lesion-phantoms');
    expect(version.manifest.format).toBe('imaging');
    expect(version.manifest.imaging?.synthetic).toBe(true);
    expect(version.caseCount).toBe(30);
    const inputs = await listKeys(storage, 'inputs', 'cohorts/lesion-phantoms/');
    const truth = await listKeys(storage, 'truth', 'truth/lesion-phantoms/');
    const testIds = (await cohorts.caseIds(version.id, 'test')).sort();
    const sampleIds = (await cohorts.caseIds(version.id, 'sample')).sort();
    expect(testIds).toHaveLength(26);
    expect(sampleIds).toHaveLength(4);
    // One sample case per scanner (the descriptor stratifies by scanner).
    const metadata = await cohorts.caseMetadata(version.id, 'sample');
    expect(new Set([...metadata.values()].map((m) => m.scanner)).size).toBe(4);
    // Held-out cases: images in inputs, their masks and lesions nowhere but truth.
    for (const id of testIds) {
      expect(inputs.some((k) => k.endsWith(`/test/cases/${id}/ct.nii.gz`))).toBe(true);
      expect(inputs.some((k) => k.includes(id) && !k.endsWith('/ct.nii.gz'))).toBe(false);
      expect(truth.some((k) => k.endsWith(`/test/masks/${id}.nii.gz`))).toBe(true);
    }
    expect(inputs.filter((k) => k.includes('/sample/truth/masks/'))).toHaveLength(4);
    expect(inputs.some((k) => k.includes('/test/truth/'))).toBe(false);
    const testLesions = (await storage.getBuffer('inputs', inputs.find((k) => k.endsWith('test/cases.jsonl')) as string)).toString('utf8');
    expect(testLesions).not.toMatch(/lesion|diameter|mask/);
    // Loading the catalogue again is a no-op.
    expect(version.version).toBe(1);
  });

  it('makes a new version when the content changes, and keeps the old one intact', async () => {
    const changed = { ...descriptor, split: { ...descriptor.split, seed: 7 } };
    const v2 = await cohorts.ingestTabular(null, changed, csv);
    expect(v2).toMatchObject({ created: true, version: { version: 2 } });
    const v1 = await cohorts.latestVersionBySlug('wdbc');
    expect(v1.id).toBe(v2.version.id);
    expect((await cohorts.caseIds(v2.version.id, 'sample')).length).toBe(20);
  });

  it('rejects a bad table naming every bad row, and stores nothing', async () => {
    const db = stack.api.get(Database);
    const before = await db.manager().query('SELECT count(*)::int AS n FROM cohort_versions');
    const objectsBefore = await listKeys(storage, 'inputs', 'cohorts/');
    const text = csv.toString('utf8').replace('WDBC-0003,M', 'WDBC-0002,M').replace('WDBC-0010,M', 'WDBC-0010,Q');
    const bad = { ...descriptor, slug: 'wdbc-broken' };
    const error = await cohorts.ingestTabular(null, bad, Buffer.from(text)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).problems.map((p) => p.field)).toEqual(['wdbc.csv:4', 'wdbc.csv:11']);
    expect(await db.manager().query('SELECT count(*)::int AS n FROM cohort_versions')).toEqual(before);
    expect(await db.manager().query("SELECT count(*)::int AS n FROM cohorts WHERE slug = 'wdbc-broken'")).toEqual([{ n: 0 }]);
    expect(await listKeys(storage, 'inputs', 'cohorts/')).toEqual(objectsBefore);
  });

  it('refuses keys outside a bucket’s prefixes and with path tricks', async () => {
    await expect(storage.putBuffer('truth', 'cohorts/x', Buffer.from('x'))).rejects.toThrow(/must start with one of truth\//);
    await expect(storage.getBuffer('inputs', 'cohorts/../truth/x')).rejects.toThrow(/path segment/);
  });

  it('aborts a streamed upload past its limit and leaves no object behind', async () => {
    const source = Readable.from((function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, i);
    })());
    await expect(storage.putStream('submissions', 'staging/limit-test/model.onnx', source, 1024 * 1024)).rejects.toBeInstanceOf(SizeLimitExceededError);
    expect(await storage.exists('submissions', 'staging/limit-test/model.onnx')).toBe(false);
    const ok = await storage.putStream('submissions', 'staging/ok/model.onnx', Readable.from([Buffer.from('hello')]), 1024);
    expect(ok).toEqual({ sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', bytes: 5 });
  });
  it('connects on a later call when the object store was down at the first one', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'assay-s3-late-'));
    const late = new StorageService(loadConfig({ ASSAY_S3_ENDPOINT: `http://127.0.0.1:${port}`, ASSAY_DATA_DIR: dir }));
    await expect(late.connect()).rejects.toThrow();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const S3rver = require('s3rver') as new (o: Record<string, unknown>) => { run(): Promise<unknown>; close(cb: (e?: Error) => void): void };
    const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: join(dir, 's3') });
    await server.run();
    try {
      await late.connect();
      await late.putBuffer('inputs', 'cohorts/late/x.txt', Buffer.from('ok'));
      expect((await late.getBuffer('inputs', 'cohorts/late/x.txt')).toString()).toBe('ok');
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
