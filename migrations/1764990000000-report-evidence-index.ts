import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GET /api/reports/verify (public) names the report behind a printed evidence hash: looked up by that hash, so an
 * index, not a scan per anonymous request.
 */
export class ReportEvidenceIndex1764990000000 implements MigrationInterface {
  name = 'ReportEvidenceIndex1764990000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX validation_reports_evidence_sha256 ON validation_reports (evidence_sha256)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX validation_reports_evidence_sha256');
  }
}
