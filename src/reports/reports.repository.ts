import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AuditEntryEntity } from '../audit/audit.entity';
import { OrganisationEntity } from '../auth/auth.entity';
import { CohortEntity } from '../cohorts/cohorts.entity';
import { Database } from '../database/database.module';
import { LeaderboardEntryEntity, LeaderboardSnapshotEntity } from '../leaderboards/leaderboards.entity';
import { EvaluationResultEntity, RunEntity, RunStatus } from '../runs/evaluation.entity';
import { SubmissionEntity } from '../submissions/submissions.entity';
import { ValidationReportEntity } from './reports.entity';
import { issuedReportSummary, type IssuedReportSummary } from './report-summary';

/** What the report pipeline reads beyond the services it uses, and the validation_reports table. */
@Injectable()
export class ReportsRepository {
  constructor(private readonly db: Database) {}

  /** Insert, or replace the row of the same report id (a regeneration): one row per report. */
  async upsert(tx: EntityManager, row: Omit<ValidationReportEntity, 'createdAt'>): Promise<void> {
    await tx
      .createQueryBuilder()
      .insert()
      .into(ValidationReportEntity)
      .values(row as QueryDeepPartialEntity<ValidationReportEntity>)
      .orUpdate(['run_id', 'evidence_sha256', 'key_id', 'signature', 'evidence', 'html_key', 'pdf_key', 'html_sha256', 'pdf_sha256', 'comparators'], ['id'])
      .execute();
    // Every version issued stays findable by its hash (a printout of it is verified later), in the same commit.
    await tx.query('INSERT INTO report_evidence_issued (evidence_sha256, report_id, summary) VALUES ($1, $2, $3::jsonb) ON CONFLICT (evidence_sha256) DO NOTHING', [row.evidenceSha256, row.id, JSON.stringify(issuedReportSummary(row.evidence))]);
  }

  /** The version of a report issued under this evidence hash, and whether it is still the report's current one. */
  async issuedUnder(evidenceSha256: string): Promise<{ summary: IssuedReportSummary; issuedAt: Date; current: boolean } | null> {
    const rows = (await this.db.manager().query(
      `SELECT i.summary, i.issued_at, (r.evidence_sha256 = i.evidence_sha256) AS current
         FROM report_evidence_issued i LEFT JOIN validation_reports r ON r.id = i.report_id
        WHERE i.evidence_sha256 = $1`,
      [evidenceSha256],
    )) as { summary: IssuedReportSummary; issued_at: Date; current: boolean | null }[];
    const row = rows[0];
    return row ? { summary: row.summary, issuedAt: new Date(row.issued_at), current: row.current === true } : null;
  }

  findById(id: string): Promise<ValidationReportEntity | null> {
    return this.db.manager().findOneBy(ValidationReportEntity, { id });
  }

  /** Newest first, then by id; without the evidence column (lists carry metadata only). */
  listAll(filter: { submissionIds?: string[]; audience?: 'full' | 'vendor'; runId?: string } = {}): Promise<ValidationReportEntity[]> {
    const q = this.db
      .manager()
      .createQueryBuilder(ValidationReportEntity, 'r')
      .select(['r.id', 'r.runId', 'r.submissionId', 'r.benchmarkVersionId', 'r.phase', 'r.audience', 'r.evidenceSha256', 'r.keyId', 'r.htmlSha256', 'r.pdfSha256', 'r.comparators', 'r.createdAt']);
    if (filter.submissionIds) q.andWhere('r.submission_id = ANY(CAST(:subs AS uuid[]))', { subs: filter.submissionIds });
    if (filter.audience) q.andWhere('r.audience = :audience', { audience: filter.audience });
    if (filter.runId) q.andWhere('r.run_id = :runId', { runId: filter.runId });
    return q.orderBy('r.created_at', 'DESC').addOrderBy('r.id', 'ASC').limit(1000).getMany();
  }

  async submissionIdsOfOrganisation(organisationId: string): Promise<string[]> {
    const rows = await this.db.manager().find(SubmissionEntity, { select: { id: true }, where: { organisationId } });
    return rows.map((r) => r.id);
  }

  async organisationName(id: string): Promise<string> {
    return (await this.db.manager().findOneBy(OrganisationEntity, { id }))?.name ?? 'unknown organisation';
  }

  findCohort(id: string): Promise<CohortEntity | null> {
    return this.db.manager().findOneBy(CohortEntity, { id });
  }

  async leaderboardOf(benchmarkVersionId: string, phase: string): Promise<{ entries: LeaderboardEntryEntity[]; snapshot: LeaderboardSnapshotEntity | null }> {
    const entries = await this.db.manager().find(LeaderboardEntryEntity, { where: { benchmarkVersionId, phase }, order: { rank: 'ASC', submissionId: 'ASC' } });
    return { entries, snapshot: await this.db.manager().findOneBy(LeaderboardSnapshotEntity, { benchmarkVersionId, phase }) };
  }

  /** A comparator: the submission's succeeded run on the same benchmark version and phase, with its stored result. */
  async succeededRunWithResult(submissionId: string, benchmarkVersionId: string, phase: string): Promise<{ run: RunEntity; result: EvaluationResultEntity; submission: SubmissionEntity } | null> {
    const run = await this.db.manager().findOneBy(RunEntity, { submissionId, benchmarkVersionId, phase, status: RunStatus.Succeeded });
    if (!run) return null;
    const result = await this.db.manager().findOneBy(EvaluationResultEntity, { runId: run.id });
    const submission = await this.db.manager().findOneBy(SubmissionEntity, { id: submissionId });
    return result && submission ? { run, result, submission } : null;
  }

  /** The audit trail of one run: entries on the run and on its submission, in chain order. */
  auditOfRun(runId: string, submissionId: string, afterSeq: number, limit: number): Promise<AuditEntryEntity[]> {
    return this.db
      .manager()
      .createQueryBuilder(AuditEntryEntity, 'a')
      .where('a.seq > :after', { after: afterSeq })
      .andWhere("((a.entity_type = 'run' AND a.entity_id = :run) OR (a.entity_type = 'submission' AND a.entity_id = :sub) OR (a.entity_type = 'validation_report' AND a.payload->>'runId' = :run))", { run: runId, sub: submissionId })
      .orderBy('a.seq', 'ASC')
      .limit(limit)
      .getMany();
  }
}
