import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import type { AssayClient } from '../../src/cli/api-client';
import { StorageService } from '../../src/storage/storage.service';
import { verdictOf } from '../support/verdict';
import { eventually, REPO_ROOT, startTestStack, type TestStack } from '../support/test-stack';

jest.setTimeout(600_000);

interface Submission {
  id: string;
  status: string;
  runs: { id: string; phase: string; status: string; failureReason: string | null; failureDetail: string | null }[];
}
type Metric = { value: number | null; ci: [number, number] | null; method: string; statusCounts?: Record<string, number> };
interface RunView {
  metrics: Record<string, Metric>;
  details: Record<string, unknown> & { subgroups: Record<string, Record<string, { group: string; suppressed: boolean; n: number | string }[]>> };
}

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'onnx');
const GENERATED = join(REPO_ROOT, '.assay', 'generated', 'lesion-phantoms-lesion-phantoms-s20261209-n30-128x128x64');

/**
 * Independent oracle: the voxels of a canonical uint8 NIfTI-1 mask, read straight from its header (vox_offset, dims)
 * without Assay's readers, and Dice by counting.
 */
function maskVoxels(gz: Buffer): Uint8Array {
  const nii = gunzipSync(gz);
  expect(nii.readInt32LE(0)).toBe(348);
  expect(nii.readInt16LE(70)).toBe(2); // DT_UINT8
  const n = nii.readInt16LE(42) * nii.readInt16LE(44) * nii.readInt16LE(46);
  const offset = nii.readFloatLE(108);
  return new Uint8Array(nii.buffer, nii.byteOffset + offset, n);
}
function dice(a: Uint8Array, b: Uint8Array): number | null {
  let both = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i] ? 1 : 0;
    nb += b[i] ? 1 : 0;
    both += a[i] && b[i] ? 1 : 0;
  }
  return na + nb === 0 ? null : (2 * both) / (na + nb);
}

describe('lesion imaging: real image models on SYNTHETIC CT phantoms, from upload to a leaderboard', () => {
  let stack: TestStack;
  let vendor: AssayClient;
  let evaluator: AssayClient;

  beforeAll(async () => {
    stack = await startTestStack({ worker: true });
    vendor = (await stack.vendor('Imaging Vendor')).client;
    evaluator = await stack.user('evaluator');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const submitAndFinish = async (benchmark: string, dir: string): Promise<Submission> => {
    const submitted = await vendor.uploadMultipart<Submission>('/api/submissions', {
      fields: { benchmark, manifest: readFileSync(join(FIXTURES, dir, 'manifest.json'), 'utf8') },
      fileField: 'model',
      filePath: join(FIXTURES, dir, 'model.onnx'),
    });
    await expect(verdictOf(vendor, submitted.id)).resolves.toMatchObject({ status: 'accepted' });
    return eventually(
      () => vendor.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)) || s.runs.some((r) => r.status === 'failed'),
      480_000,
    );
  };

  it('segments the held-out phantoms; Dice recomputed independently from the stored masks matches the run; the leaderboard shows Dice and NSD with CIs', async () => {
    const done = await submitAndFinish('lesion-segmentation', 'lesion-seg');
    expect(done.runs.map((r) => [r.phase, r.status, r.failureDetail])).toEqual([
      ['sample', 'succeeded', null],
      ['test', 'succeeded', null],
    ]);
    const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];
    const run = await evaluator.get<RunView>(`/api/runs/${testRun.id}`);
    const d = run.metrics['dice'] as Metric;
    expect(d.method).toMatch(/DSC/);
    expect(d.ci?.[0]).toBeLessThanOrEqual(d.value as number);
    expect(d.value).toBeGreaterThan(0.3);
    expect(run.metrics['nsd']?.method).toMatch(/τ = 2 mm/);
    expect(run.details['statusCounts']).toMatchObject({ both_empty: expect.any(Number), ok: expect.any(Number) });
    expect(Object.keys(run.details.subgroups)).toEqual(['site', 'scanner']);

    // Independent: each case's Dice from the stored predicted mask and the generated reference mask, by counting.
    const cases = await evaluator.get<{ caseId: string; prediction: { files: Record<string, { key: string }> } }[]>(`/api/runs/${testRun.id}/cases`);
    expect(cases).toHaveLength(26);
    const storage = stack.api.get(StorageService);
    const values: number[] = [];
    for (const c of cases) {
      const predicted = maskVoxels(await storage.getBuffer('artifacts', c.prediction.files['mask.nii.gz']?.key as string));
      const reference = maskVoxels(readFileSync(join(GENERATED, 'masks', `${c.caseId}.nii.gz`)));
      const v = dice(predicted, reference);
      if (v !== null) values.push(v); // both empty: excluded under the benchmark's policy
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(d.value).toBeCloseTo(mean, 12);
    expect(d.statusCounts?.['ok'] ?? 0).toBeLessThanOrEqual(values.length);

    // The board is rebuilt just after the run's success commits (EvaluationProcessor.afterSucceeded): wait for it.
    const board = await eventually(
      () => vendor.get<{ rows: { rank: number; metrics: Record<string, { value: number; ci: [number, number] | null }> }[] }>('/api/benchmarks/lesion-segmentation/leaderboard?phase=test'),
      (b) => b.rows.length > 0,
    );
    expect(board.rows).toHaveLength(1);
    expect(board.rows[0]?.metrics['dice']?.value).toBeCloseTo(mean, 4);
    expect(board.rows[0]?.metrics['nsd']?.ci).toHaveLength(2);
  });

  it('detects lesions as world-mm points; sensitivity at the locked threshold recomputed independently by the LUNA16 rule matches', async () => {
    const done = await submitAndFinish('lesion-detection', 'lesion-det');
    expect(done.runs.map((r) => [r.phase, r.status, r.failureDetail])).toEqual([
      ['sample', 'succeeded', null],
      ['test', 'succeeded', null],
    ]);
    const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];
    const run = await evaluator.get<RunView>(`/api/runs/${testRun.id}`);
    expect(run.metrics['cpm']?.method).toMatch(/envelope/i);
    const cases = await evaluator.get<{ caseId: string; prediction: { detections: { x: number; y: number; z: number; score: number }[] } }[]>(`/api/runs/${testRun.id}/cases`);
    const lesions = (parse(readFileSync(join(GENERATED, 'lesions.csv')), { columns: true }) as Record<string, string>[]).filter((l) => l['lesion_id'] !== '');
    const byCase = new Map(cases.map((c) => [c.caseId, c.prediction.detections]));
    let hit = 0;
    let total = 0;
    for (const l of lesions) {
      const detections = byCase.get(l['case_id'] as string);
      if (!detections) continue; // a sample-split case
      total++;
      const r = Number(l['diameter_mm']) / 2;
      const found = detections.some((p) => p.score >= 0.5 && (p.x - Number(l['x'])) ** 2 + (p.y - Number(l['y'])) ** 2 + (p.z - Number(l['z'])) ** 2 < r * r);
      if (found) hit++;
    }
    expect(total).toBeGreaterThan(0);
    expect(run.metrics['sensitivity']?.value).toBeCloseTo(hit / total, 12);
  });

  it("runs the imaging twin of the example vendor container (docker save) on the same benchmark, under the same contract", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-lesion-python-'));
    try {
      const tarball = join(dir, 'lesion-python.tar');
      execFileSync('docker', ['save', '-o', tarball, 'vendor-example/lesion-python:1']);
      const submitted = await vendor.uploadMultipart<Submission>('/api/submissions/container', { fields: { benchmark: 'lesion-segmentation', name: 'lesion-python', version: '1.0.0' }, fileField: 'image', filePath: tarball });
      await expect(verdictOf(vendor, submitted.id, 300_000)).resolves.toMatchObject({ status: 'accepted' });
      const done = await eventually(
        () => vendor.get<Submission>(`/api/submissions/${submitted.id}`),
        (x) => x.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)) || x.runs.some((r) => r.status === 'failed'),
        480_000,
      );
      expect(done.runs.map((r) => [r.phase, r.status, r.failureDetail])).toEqual([
        ['sample', 'succeeded', null],
        ['test', 'succeeded', null],
      ]);
      const board = await vendor.get<{ rows: { submission: string; metrics: Record<string, { value: number }> }[] }>('/api/benchmarks/lesion-segmentation/leaderboard?phase=test');
      // Best submission per vendor: the board still has one row for this vendor, with both submissions scored.
      expect(board.rows).toHaveLength(1);
      const testRun = done.runs.find((r) => r.phase === 'test') as Submission['runs'][number];
      const run = await evaluator.get<RunView>(`/api/runs/${testRun.id}`);
      expect(run.metrics['dice']?.value).toEqual(expect.any(Number));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
