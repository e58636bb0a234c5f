import { Inject, Injectable, Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditService } from '../audit/audit.service';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import type { SplitName } from '../cohorts/cohorts.entity';
import { CohortsService } from '../cohorts/cohorts.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { sha256Hex, sha256OfCanonical } from '../common/hashing';
import { packageRoot } from '../common/package-root';
import { Database } from '../database/database.module';
import { RunStatus } from '../runs/evaluation.entity';
import { EvaluationService } from '../runs/evaluation.service';
import { StorageService } from '../storage/storage.service';
import { SubmissionsRepository } from '../submissions/submissions.repository';
import { taskDefinition } from '../tasks/registry';
import type { CaseResult } from '../tasks/task-definition';
import { buildEvidence, type EvidenceInput, reportIdOf } from './evidence-builder';
import type { EvidenceRecord, ReportAudience, SignedEvidence } from './evidence';
import { REPORT_RENDERER, REPORT_SIGNER, type ReportRenderer, type ReportSigner } from './report-ports';
import { ReportsRepository } from './reports.repository';

/** The libraries whose versions the report names (identity.software.libraries and the SBOM annex). */
const LIBRARIES = ['@nestjs/core', 'typeorm', 'onnxruntime-node', 'vega', 'vega-lite', 'nunjucks', 'pdf-lib', 'playwright-core'];

export interface GeneratedReport {
  reportId: string;
  audience: ReportAudience;
  evidenceSha256: string;
  htmlKey: string;
  pdfKey: string;
}

/** Content-addressed object keys: the same bytes always land on the same key, so a repeated write is harmless. */
export const reportObjectKey = (reportId: string, sha256: string, ext: 'html' | 'pdf'): string => `reports/${reportId}/${sha256}.${ext}`;


/**
 * generate(runId, audience, comparators?): snapshot → evidence record → sign → HTML → seal → store → PDF (from the
 * unsealed HTML) → seal → store → upsert the row (with an audit entry). Safe to repeat after a crash anywhere: the
 * objects are written under content-addressed keys before the row, the row is upserted by the deterministic report
 * id, and the record is a pure function of what the run stored, so a regeneration gives the same evidence hash.
 */
@Injectable()
export class ReportPipeline {
  private readonly logger = new Logger('ReportPipeline');
  private software: EvidenceInput['software'] | null = null;

  constructor(
    private readonly repository: ReportsRepository,
    private readonly evaluation: EvaluationService,
    private readonly submissions: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly cohorts: CohortsService,
    private readonly storage: StorageService,
    private readonly db: Database,
    private readonly audit: AuditService,
    @Inject(REPORT_SIGNER) private readonly signer: ReportSigner,
    @Inject(REPORT_RENDERER) private readonly renderer: ReportRenderer,
  ) {}

  async generate(input: { runId: string; audience: ReportAudience; comparators?: readonly string[]; actorUserId?: string | null }): Promise<GeneratedReport> {
    const { signer, renderer } = this;
    const comparators = [...new Set(input.comparators ?? [])].sort();
    const snapshot = await this.snapshot(input.runId, input.audience, comparators);
    const evidence = buildEvidence(snapshot);
    const signed = await signer.sign(evidence);
    const html = await renderer.html(signed);
    const sealedHtml = Buffer.from(await signer.sealHtml(html, signed), 'utf8');
    const htmlSha256 = sha256Hex(sealedHtml);
    const htmlKey = reportObjectKey(evidence.reportId, htmlSha256, 'html');
    await this.putOnce(htmlKey, sealedHtml, 'text/html; charset=utf-8');
    const pdf = await renderer.pdf(html);
    const sealedPdf = await signer.sealPdf(pdf, signed);
    const pdfSha256 = sha256Hex(sealedPdf);
    const pdfKey = reportObjectKey(evidence.reportId, pdfSha256, 'pdf');
    await this.putOnce(pdfKey, sealedPdf, 'application/pdf');
    await this.db.transaction(async (tx) => {
      await this.repository.upsert(tx, {
        id: evidence.reportId,
        runId: snapshot.run.id,
        submissionId: snapshot.run.submissionId,
        benchmarkVersionId: snapshot.run.benchmarkVersionId,
        phase: snapshot.run.phase,
        audience: input.audience,
        evidenceSha256: signed.signature.evidenceSha256,
        keyId: signed.signature.keyId,
        signature: signed.signature.value,
        evidence: signed,
        htmlKey,
        pdfKey,
        htmlSha256,
        pdfSha256,
        comparators,
      });
      await this.audit.record(tx, {
        actorUserId: input.actorUserId ?? null,
        action: 'report.generated',
        entityType: 'validation_report',
        entityId: evidence.reportId,
        payload: { runId: snapshot.run.id, audience: input.audience, evidenceSha256: signed.signature.evidenceSha256, keyId: signed.signature.keyId, htmlSha256, pdfSha256, comparators },
      });
    });
    this.logger.log(`report ${evidence.reportId} (${input.audience}) of run ${snapshot.run.id}: evidence ${signed.signature.evidenceSha256.slice(0, 12)}`);
    return { reportId: evidence.reportId, audience: input.audience, evidenceSha256: signed.signature.evidenceSha256, htmlKey, pdfKey };
  }

  /** The report id a run's report of this audience has (and the job id that generates it). */
  async reportIdOfRun(runId: string, audience: ReportAudience): Promise<string> {
    const run = await this.evaluation.requireRun(runId);
    return reportIdOf({ submissionId: run.submissionId, benchmarkVersionId: run.benchmarkVersionId, phase: run.phase, audience });
  }

  /** Checks comparator ids before a request is accepted: each a different submission with a succeeded run on the same phase. */
  async checkComparators(runId: string, comparators: readonly string[]): Promise<void> {
    const run = await this.evaluation.requireRun(runId);
    for (const [i, id] of comparators.entries()) {
      if (id === run.submissionId) throw new DomainError(ErrorCode.ValidationFailed, `comparators.${i}: the run's own submission`, [{ field: `comparators.${i}`, problem: "the run's own submission; compare against another" }]);
      if (!(await this.repository.succeededRunWithResult(id, run.benchmarkVersionId, run.phase))) {
        throw new DomainError(ErrorCode.ValidationFailed, `comparators.${i}: submission '${id}' has no scored run on the ${run.phase} phase of this benchmark version`, [{ field: `comparators.${i}`, problem: 'no scored run on the same benchmark version and phase' }]);
      }
    }
  }

  private async putOnce(key: string, bytes: Buffer, contentType: string): Promise<void> {
    if (await this.storage.exists('reports', key)) return;
    await this.storage.putBuffer('reports', key, bytes, contentType);
  }

  /** Everything the builder needs, read once from what the run stored (never the truth). */
  async snapshot(runId: string, audience: ReportAudience, comparators: readonly string[]): Promise<EvidenceInput> {
    const run = await this.evaluation.requireRun(runId);
    if (run.status !== RunStatus.Succeeded && run.status !== RunStatus.Failed) {
      throw new DomainError(ErrorCode.Conflict, `run ${run.id} is ${run.status}: a report is made of a finished run (succeeded or failed)`);
    }
    const result = run.status === RunStatus.Succeeded ? await this.evaluation.findResult(run.id) : null;
    const submission = await this.submissions.findById(run.submissionId);
    if (!submission) throw new Error(`run ${run.id}: submission ${run.submissionId} is gone`);
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    const def = version.definition;
    const phase = await this.benchmarks.findPhase(version.id, run.phase);
    const cohortVersion = await this.cohorts.requireVersion(version.cohortVersionId);
    const cohort = await this.repository.findCohort(cohortVersion.cohortId);
    const metadata = await this.cohorts.caseMetadata(cohortVersion.id, run.split as SplitName);
    const board = await this.repository.leaderboardOf(version.id, run.phase);
    const entry = board.entries.find((e) => e.submissionId === submission.id && e.runId === run.id);
    const compared: EvidenceInput['comparators'] = [];
    if (comparators.length > 0) {
      await this.checkComparators(run.id, comparators);
      const own = result?.perCase ?? null;
      if (!own) throw new DomainError(ErrorCode.ValidationFailed, 'comparators: this run has no stored per-case results to pair', [{ field: 'comparators', problem: 'the run has no per-case results' }]);
      for (const id of comparators) {
        const other = await this.repository.succeededRunWithResult(id, run.benchmarkVersionId, run.phase);
        const byCase = new Map((other?.result.perCase ?? []).map((r) => [r.caseId, r]));
        const b = own.map((r) => byCase.get(r.caseId));
        if (!other || b.some((r) => r === undefined)) throw new DomainError(ErrorCode.ValidationFailed, `comparators: submission '${id}' has no stored per-case results on the same cases`, [{ field: 'comparators', problem: `'${id}' has no per-case results on the same cases` }]);
        compared.push({
          against: { submissionId: id, name: other.submission.name, organisation: await this.repository.organisationName(other.submission.organisationId) },
          n: own.length,
          comparison: taskDefinition(def.task).compare({ definition: def, a: own, b: b as CaseResult[] }),
        });
      }
    }
    return {
      audience,
      run: { ...run, timings: run.timings as Record<string, number | undefined> },
      result: result ? { n: result.n, metrics: result.metrics, details: result.details, perCase: result.perCase } : null,
      submission: { id: submission.id, name: submission.name, kind: submission.kind, manifest: submission.manifest, sha256: submission.sha256, createdAt: submission.createdAt, intendedUse: submission.intendedUse ?? null },
      organisationName: await this.repository.organisationName(submission.organisationId),
      benchmark: { slug: def.slug, title: def.title, version: version.version, contentHash: version.contentHash, definition: def },
      phase: { released: phase?.leaderboardVisibility === 'public' },
      // A federated phase's cases are the nodes' (metadata at most reached the facility): the cohort is named by its
      // nodes and the hash over their pinned content hashes; its per-case table is the nodes' to keep.
      cohort: run.federation
        ? {
            slug: `federated:${run.federation.nodes.map((n) => `${n.node}/${n.cohort}`).join(',')}`,
            title: `Held out at ${run.federation.nodes.length} federated node(s): ${run.federation.nodes.map((n) => n.node).join(', ')}`,
            attribution: 'each node’s cohort stays at its data provider; see §5.5',
            version: version.version,
            contentHash: sha256OfCanonical((def.phases.find((p) => p.name === run.phase)?.federation?.nodes ?? []).map((n) => ({ node: n.node, contentHash: n.contentHash ?? null }))),
            synthetic: false,
            cases: [],
          }
        : {
            slug: cohort?.slug ?? def.cohort.slug,
            title: cohort?.title ?? def.cohort.slug,
            attribution: cohort?.attribution ?? '',
            version: cohortVersion.version,
            contentHash: cohortVersion.contentHash,
            synthetic: cohortVersion.manifest.imaging?.synthetic ?? false,
            cases: [...metadata.entries()].map(([caseId, m]) => ({ caseId, metadata: m })),
          },
      leaderboard: entry
        ? { entries: board.entries.length, rank: entry.rank, medianRank: entry.medianRank, rankInterval: entry.rankInterval, rankShare: entry.rankShare, kendallTau: board.snapshot?.details.kendallTau ?? null }
        : null,
      comparators: compared,
      software: this.softwareVersions(),
    };
  }

  /** Assay's version and its libraries' as installed (read once per process; the same for every report it makes). */
  private softwareVersions(): EvidenceInput['software'] {
    if (this.software) return this.software;
    const versionOf = (dir: string): string | null => {
      try {
        return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
      } catch {
        return null;
      }
    };
    const root = packageRoot();
    const libraries: Record<string, string> = {};
    for (const name of LIBRARIES) {
      const v = versionOf(join(root, 'node_modules', name));
      if (v) libraries[name] = v;
    }
    this.software = { assayVersion: versionOf(root) ?? 'unknown', libraries };
    return this.software;
  }
}

/** The worker's handler of `generate-report` jobs. */
@Injectable()
export class ReportJobs {
  private readonly logger = new Logger('ReportJobs');
  constructor(private readonly pipeline: ReportPipeline) {}

  async handle(payload: { runId: string; audience: ReportAudience; comparators?: string[]; actorUserId?: string }): Promise<void> {
    try {
      await this.pipeline.generate({ runId: payload.runId, audience: payload.audience, comparators: payload.comparators ?? [], actorUserId: payload.actorUserId ?? null });
    } catch (error) {
      // A refusal (vendor form not allowed yet) or a bad request is final: retrying gives the same answer.
      if (error instanceof DomainError) {
        this.logger.warn(`report of run ${payload.runId} (${payload.audience}) not made: ${error.message}`);
        return;
      }
      this.logger.warn(`report of run ${payload.runId} (${payload.audience}) failed, retried: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      throw error;
    }
  }
}
