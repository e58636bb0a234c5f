import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Signed validation reports (issue 10): one row per (submission, benchmark version, phase, audience), keyed by the
 * deterministic report id, with the signed evidence record and the keys of its HTML and PDF renderings.
 */
export class ValidationReports1764910000000 implements MigrationInterface {
  name = 'ValidationReports1764910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE validation_reports (
      id text PRIMARY KEY,
      run_id uuid NOT NULL REFERENCES runs(id),
      submission_id uuid NOT NULL REFERENCES submissions(id),
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      phase text NOT NULL,
      audience text NOT NULL CHECK (audience IN ('full', 'vendor')),
      evidence_sha256 text NOT NULL,
      key_id text NOT NULL,
      signature text NOT NULL,
      evidence jsonb NOT NULL,
      html_key text NOT NULL,
      pdf_key text NOT NULL,
      html_sha256 text NOT NULL,
      pdf_sha256 text NOT NULL,
      comparators jsonb NOT NULL DEFAULT '[]',
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (submission_id, benchmark_version_id, phase, audience)
    )`);
    await q.query('CREATE INDEX validation_reports_run ON validation_reports (run_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE validation_reports');
  }
}
