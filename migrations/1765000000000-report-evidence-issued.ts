import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every evidence hash Assay has issued a report under, append-only. validation_reports keeps one row per report id
 * and a regeneration replaces its evidence: a printout of the earlier version must still be found by its hash
 * (GET /api/reports/verify), with what that version said, and said to be superseded.
 */
export class ReportEvidenceIssued1765000000000 implements MigrationInterface {
  name = 'ReportEvidenceIssued1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE report_evidence_issued (
      evidence_sha256 text PRIMARY KEY CHECK (evidence_sha256 ~ '^[0-9a-f]{64}$'),
      report_id text NOT NULL,
      issued_at timestamptz NOT NULL DEFAULT now(),
      summary jsonb NOT NULL
    )`);
    await q.query('CREATE INDEX report_evidence_issued_report ON report_evidence_issued (report_id)');
    await q.query(`COMMENT ON TABLE report_evidence_issued IS 'append-only: each evidence hash a report was issued under, with its identity and primary endpoint as that version stated them'`);
    // The reports already stored: their current version.
    await q.query(`INSERT INTO report_evidence_issued (evidence_sha256, report_id, issued_at, summary)
      SELECT r.evidence_sha256, r.id, r.created_at, jsonb_build_object(
        'reportId', e->>'reportId', 'audience', e->>'audience', 'date', e->>'date',
        'benchmark', e->'identity'->'benchmark'->>'slug', 'benchmarkVersion', (e->'identity'->'benchmark'->>'version')::int,
        'phase', e->'identity'->'benchmark'->>'phase', 'submission', e->'identity'->'submission'->>'name',
        'organisation', e->'identity'->'submission'->>'organisation',
        'primary', jsonb_build_object('metric', e->'primary'->'endpoint'->>'metric', 'value', e->'primary'->'endpoint'->'value', 'ci', e->'primary'->'endpoint'->'ci'))
      FROM validation_reports r, LATERAL (SELECT r.evidence->'evidence' AS e) x
      ON CONFLICT DO NOTHING`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE report_evidence_issued');
  }
}
