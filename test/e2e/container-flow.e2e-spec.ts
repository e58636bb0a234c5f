import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssayClient } from '../../src/cli/api-client';
import { parseCohortCsv } from '../../scripts/reference-models/wdbc-csv';
import { StorageService } from '../../src/storage/storage.service';
import { eventually, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';
import { verdictOf } from '../support/verdict';

jest.setTimeout(240_000);

interface Submission {
  id: string;
  status: string;
  sha256: string;
  kind: string;
  rejectionReason: string | null;
  runs: { id: string; phase: string; status: string; failureReason: string | null; failureDetail: string | null }[];
}

const EXAMPLE_IMAGE = 'vendor-example/wdbc-python:1';
const ROOT_IMAGE = 'assay-attack/root-user:1';

/** A real `docker save` tarball of an image built by scripts/build-images.sh. */
function save(image: string, dir: string): string {
  const file = join(dir, `${image.replace(/[/:]/g, '_')}.tar`);
  execFileSync('docker', ['save', '-o', file, image]);
  return file;
}

describe('vendor containers: intake, pre-flight and held-out runs in the sandbox, rejected images', () => {
  let stack: TestStack;
  let vendor: AssayClient;
  let work: string;

  const submit = (file: string, name: string): Promise<Submission> =>
    vendor.uploadMultipart<Submission>('/api/submissions/container', { fields: { benchmark: 'wdbc-malignancy', name, version: '1.0.0' }, fileField: 'image', filePath: file });

  beforeAll(async () => {
    stack = await startTestStack({ worker: true });
    vendor = (await stack.vendor('Container Vendor')).client;
    work = mkdtempSync(join(tmpdir(), 'assay-containers-'));
  });

  // Closing drains the worker (src/worker.service.ts): a held-out container run that a test started but did not need to
  // see finish is stopped and handed back, not waited for.
  afterAll(async () => {
    await stack?.close();
  }, 120_000);

  it('runs an honest python image through pre-flight and the held-out split, with the predictions it should make', async () => {
    const tarball = save(EXAMPLE_IMAGE, work);
    const submitted = await submit(tarball, 'wdbc-python');
    expect(submitted).toMatchObject({ status: 'validating', kind: 'container' });
    await expect(verdictOf(vendor, submitted.id)).resolves.toMatchObject({ status: 'accepted' });
    const done = await eventually(
      () => vendor.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)),
      120_000,
    );
    expect(done.runs.map((r) => [r.phase, r.status])).toEqual([
      ['sample', 'succeeded'],
      ['test', 'succeeded'],
    ]);

    // Independent: the image's own logistic regression (weights.json) recomputed here on the source CSV.
    const w = JSON.parse(readFileSync(join(REPO_ROOT, 'sandbox-images/examples/wdbc-python/weights.json'), 'utf8')) as { mean: number[]; std: number[]; weights: number[]; intercept: number };
    const cohort = new Map(parseCohortCsv(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8')).map((c) => [c.caseId, c]));
    const evaluator = await stack.user('evaluator');
    const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];
    const cases = await evaluator.get<{ caseId: string; prediction: { probability: number } }[]>(`/api/runs/${testRun.id}/cases`);
    expect(cases).toHaveLength(549);
    for (const c of cases) {
      const x = cohort.get(c.caseId)?.features as number[];
      const eta = w.intercept + x.reduce((acc, v, k) => acc + ((v - (w.mean[k] as number)) / (w.std[k] as number)) * (w.weights[k] as number), 0);
      expect(c.prediction.probability).toBeCloseTo(1 / (1 + Math.exp(-eta)), 9);
    }
    const run = await evaluator.get<{ pins: Record<string, string>; metrics: Record<string, { value: number }> }>(`/api/runs/${testRun.id}`);
    expect(run.pins.runnerImageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.metrics.auroc?.value).toBeGreaterThan(0.95);

    // The same tarball again: recognised by its sha256, stored once.
    const again = await submit(tarball, 'wdbc-python-again');
    expect(again.sha256).toBe(submitted.sha256);
    const storage = stack.api.get(StorageService);
    const client = await storage.connect();
    const keys: string[] = [];
    for await (const item of client.listObjectsV2(storage.bucketName('submissions'), `submissions/${submitted.sha256}/`, true)) keys.push((item as { name: string }).name);
    expect(keys).toEqual([`submissions/${submitted.sha256}/image.tar`]);
  });

  it('rejects an image that runs as root, before it is loaded, with its reason code on the submission and its run', async () => {
    const tarball = save(ROOT_IMAGE, work);
    const submitted = await submit(tarball, 'root-image');
    expect(submitted.status).toBe('validating');
    const rejected = await verdictOf<Submission>(vendor, submitted.id);
    expect(rejected.status).toBe('rejected');
    expect(rejected.rejectionReason).toMatch(/^runs_as_root: /);
    expect(rejected.runs).toEqual([expect.objectContaining({ phase: 'sample', status: 'failed', failureReason: 'rejected_image', failureDetail: expect.stringMatching(/^runs_as_root: /) })]);
  });

  it('refuses an upload that is not a tar or gzip archive', async () => {
    const file = join(work, 'not-an-image.tar');
    writeFileSync(file, 'hello, this is not a docker save tarball'.repeat(20));
    await expect(submit(file, 'text')).rejects.toThrow(/HTTP 422: image: not a tar or gzip archive/);
  });
});
