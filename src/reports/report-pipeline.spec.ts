import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { AuditService } from '../audit/audit.service';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import type { BenchmarksService } from '../benchmarks/benchmarks.service';
import type { CohortsService } from '../cohorts/cohorts.service';
import { canonicalJson } from '../common/canonical-json';
import { sha256Hex } from '../common/hashing';
import type { Database } from '../database/database.module';
import { RunStatus } from '../runs/evaluation.entity';
import type { EvaluationService } from '../runs/evaluation.service';
import type { StorageService } from '../storage/storage.service';
import type { SubmissionsRepository } from '../submissions/submissions.repository';
import { BINARY_CLASSIFICATION } from '../tasks/binary-classification/binary-classification.task';
import type { TaskScore } from '../tasks/task-definition';
import type { EvidenceRecord, SignedEvidence } from './evidence';
import { reportIdOf } from './evidence-builder';
import { ReportPipeline } from './report-pipeline';
import type { ReportRenderer, ReportSigner } from './report-ports';
import type { ValidationReportEntity } from './reports.entity';
import type { ReportsRepository } from './reports.repository';

const RUN_ID = '11111111-1111-4111-8111-111111111111';
const SUB = '22222222-2222-4222-8222-222222222222';
const BV = '33333333-3333-4333-8333-333333333333';

/** Fakes at the two ports: Ed25519 over the canonical bytes (as the contract says), an HTML and a "PDF" that embed it. */
function fakePorts(crash: { at: string | null }) {
  const { privateKey } = generateKeyPairSync('ed25519');
  const maybeCrash = (step: string): void => {
    if (crash.at === step) {
      crash.at = null;
      throw new Error(`crash at ${step}`);
    }
  };
  const signer: ReportSigner = {
    async sign(evidence: EvidenceRecord): Promise<SignedEvidence> {
      maybeCrash('sign');
      const bytes = Buffer.from(canonicalJson(evidence), 'utf8');
      return { evidence, signature: { alg: 'Ed25519', keyId: 'k1', evidenceSha256: sha256Hex(bytes), value: edSign(null, bytes, privateKey).toString('base64url') } };
    },
    async sealHtml(html, signed) {
      maybeCrash('sealHtml');
      return `${html}<!-- seal ${signed.signature.value} -->`;
    },
    async sealPdf(pdf, signed) {
      maybeCrash('sealPdf');
      return Buffer.concat([Buffer.from(pdf), Buffer.from(`%seal ${signed.signature.value}`)]);
    },
  };
  const renderer: ReportRenderer = {
    async html(signed) {
      maybeCrash('html');
      return `<!doctype html><pre>${signed.signature.evidenceSha256}</pre>`;
    },
    async pdf(html) {
      maybeCrash('pdf');
      return Buffer.from(`%PDF-1.7 ${sha256Hex(html)}`);
    },
  };
  return { signer, renderer };
}

async function world() {
  const definition = parse(readFileSync(join(__dirname, '../../benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as BenchmarkDefinition;
  definition.metrics.bootstrapReplicates = 200;
  const ids = Array.from({ length: 30 }, (_, i) => `C${String(i).padStart(2, '0')}`);
  const labels = ids.map((_, i) => (i % 3 === 0 ? 1 : 0));
  const predictions = new Map(ids.map((id, i) => [id, { probability: ((i * 37) % 100) / 100 }]));
  const metadata = new Map(ids.map((id, i) => [id, { site: `s${i % 2}` }]));
  const score = (await BINARY_CLASSIFICATION.score({ truth: { caseIds: ids, labels }, predictions, definition, metadata })) as TaskScore;
  const run = {
    id: RUN_ID, submissionId: SUB, benchmarkVersionId: BV, phase: 'test', split: 'test', status: RunStatus.Succeeded, failureReason: null, failureDetail: null, attempts: 1, casesTotal: 30,
    modelSha256: 'a'.repeat(64), cohortContentHash: 'c'.repeat(64), benchmarkContentHash: 'b'.repeat(64), metricCodeVersion: score.metricCodeVersion, runnerImageId: null, sandboxRuntime: 'runc', workerId: 'w1',
    timings: { totalMs: 10 }, queuedAt: new Date('2026-12-01T10:00:00Z'), startedAt: new Date('2026-12-01T10:00:01Z'), finishedAt: new Date('2026-12-01T10:00:02Z'),
  };
  const objects = new Map<string, Buffer>();
  const rows = new Map<string, Omit<ValidationReportEntity, 'createdAt'>>();
  const audits: string[] = [];
  const crash = { at: null as string | null };
  const storage = {
    exists: async (_b: string, key: string) => objects.has(key),
    putBuffer: async (_b: string, key: string, bytes: Buffer) => {
      if (crash.at === `put:${key.split('.').pop()}`) {
        crash.at = null;
        throw new Error('crash while storing');
      }
      objects.set(key, bytes);
    },
  } as unknown as StorageService;
  const repository = {
    upsert: async (_tx: unknown, row: Omit<ValidationReportEntity, 'createdAt'>) => {
      if (crash.at === 'upsert') {
        crash.at = null;
        throw new Error('crash at upsert');
      }
      rows.set(row.id, row);
    },
    findCohort: async () => ({ slug: 'wdbc', title: 'WDBC', attribution: 'UCI' }),
    leaderboardOf: async () => ({ entries: [], snapshot: null }),
    organisationName: async () => 'Vendor A',
    succeededRunWithResult: async () => null,
  } as unknown as ReportsRepository;
  const evaluation = {
    requireRun: async () => run,
    findResult: async () => ({ runId: RUN_ID, n: score.n, metrics: score.metrics, details: { ...score.details, subgroups: score.subgroups }, perCase: score.perCase }),
  } as unknown as EvaluationService;
  const submissions = { findById: async () => ({ id: SUB, name: 'model', kind: 'onnx', manifest: { name: 'model', version: '1' }, sha256: 'a'.repeat(64), createdAt: new Date('2026-12-01T09:00:00Z'), organisationId: 'o' }) } as unknown as SubmissionsRepository;
  const benchmarks = {
    requireVersion: async () => ({ id: BV, version: 1, contentHash: 'b'.repeat(64), definition, cohortVersionId: 'cv' }),
    findPhase: async () => ({ leaderboardVisibility: 'public' }),
  } as unknown as BenchmarksService;
  const cohorts = { requireVersion: async () => ({ id: 'cv', cohortId: 'c', version: 1, contentHash: 'c'.repeat(64), manifest: {} }), caseMetadata: async () => metadata } as unknown as CohortsService;
  const db = { transaction: async (work: (tx: unknown) => Promise<unknown>) => work({}) } as unknown as Database;
  const audit = { record: async (_tx: unknown, e: { action: string }) => void audits.push(e.action) } as unknown as AuditService;
  const ports = fakePorts(crash);
  const pipeline = new ReportPipeline(repository, evaluation, submissions, benchmarks, cohorts, storage, db, audit, ports.signer, ports.renderer);
  return { pipeline, objects, rows, audits, crash };
}

describe('ReportPipeline', () => {
  it('signs, renders, seals and stores each rendering under a content-addressed key before upserting the row', async () => {
    const w = await world();
    const out = await w.pipeline.generate({ runId: RUN_ID, audience: 'full' });
    expect(out.reportId).toBe(reportIdOf({ submissionId: SUB, benchmarkVersionId: BV, phase: 'test', audience: 'full' }));
    const row = w.rows.get(out.reportId) as Omit<ValidationReportEntity, 'createdAt'>;
    expect(row.evidenceSha256).toBe(sha256Hex(canonicalJson(row.evidence.evidence)));
    expect(row.htmlKey).toBe(`reports/${out.reportId}/${row.htmlSha256}.html`);
    expect(sha256Hex(w.objects.get(row.htmlKey) as Buffer)).toBe(row.htmlSha256);
    expect((w.objects.get(row.htmlKey) as Buffer).toString()).toContain('<!-- seal ');
    // The PDF is printed from the unsealed HTML, then sealed.
    expect((w.objects.get(row.pdfKey) as Buffer).toString()).toMatch(/^%PDF-1\.7 [0-9a-f]{64}%seal /);
    expect(w.audits).toEqual(['report.generated']);
  });

  it.each(['sign', 'html', 'sealHtml', 'put:html', 'pdf', 'sealPdf', 'put:pdf', 'upsert'])('a crash at %s, then a repeat: one row, the same evidence hash, no stray objects', async (step) => {
    const reference = await world();
    const expected = await reference.pipeline.generate({ runId: RUN_ID, audience: 'full' });
    const w = await world();
    w.crash.at = step;
    await expect(w.pipeline.generate({ runId: RUN_ID, audience: 'full' })).rejects.toThrow(/crash/);
    expect(w.rows.size).toBe(0);
    const again = await w.pipeline.generate({ runId: RUN_ID, audience: 'full' });
    expect(w.rows.size).toBe(1);
    expect(again.evidenceSha256).toBe(expected.evidenceSha256);
    expect([...w.objects.keys()].sort()).toEqual([again.htmlKey, again.pdfKey].sort());
  });

  it('regenerating the same run gives the same evidence hash and keeps one row per audience', async () => {
    const w = await world();
    const a = await w.pipeline.generate({ runId: RUN_ID, audience: 'full' });
    const b = await w.pipeline.generate({ runId: RUN_ID, audience: 'full' });
    const v = await w.pipeline.generate({ runId: RUN_ID, audience: 'vendor' });
    expect(b.evidenceSha256).toBe(a.evidenceSha256);
    expect(v.reportId).not.toBe(a.reportId);
    expect(w.rows.size).toBe(2);
    expect(w.rows.get(v.reportId)?.evidence.evidence.annexes.perCase).toBeNull();
  });
});
