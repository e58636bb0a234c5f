import { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1763870000000 implements MigrationInterface {
  name = 'Init1763870000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE organisations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email text NOT NULL UNIQUE,
      display_name text NOT NULL,
      role text NOT NULL CHECK (role IN ('vendor','evaluator','regulator','admin')),
      organisation_id uuid REFERENCES organisations(id),
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((role = 'vendor') = (organisation_id IS NOT NULL)))`);
    await q.query(`CREATE TABLE api_tokens (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id),
      label text NOT NULL,
      token_hash text NOT NULL UNIQUE,
      prefix text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz)`);
    await q.query(`CREATE TABLE audit_log (
      seq bigint PRIMARY KEY,
      at timestamptz NOT NULL,
      actor_user_id uuid,
      action text NOT NULL,
      entity_type text NOT NULL,
      entity_id text NOT NULL,
      payload jsonb NOT NULL,
      prev_hash text NOT NULL,
      hash text NOT NULL UNIQUE)`);
    // Append-only: the database itself refuses to change or remove audit rows.
    await q.query(`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`);
    await q.query(`CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`);
    await q.query(`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`);
    await q.query(`CREATE TABLE cohorts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      slug text NOT NULL UNIQUE,
      title text NOT NULL,
      description text NOT NULL,
      attribution text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE cohort_versions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      cohort_id uuid NOT NULL REFERENCES cohorts(id),
      version int NOT NULL,
      content_hash text NOT NULL,
      manifest jsonb NOT NULL,
      case_count int NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (cohort_id, version),
      UNIQUE (cohort_id, content_hash))`);
    await q.query(`CREATE TABLE cohort_cases (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      cohort_version_id uuid NOT NULL REFERENCES cohort_versions(id),
      case_id text NOT NULL,
      split text NOT NULL CHECK (split IN ('sample','test')),
      metadata jsonb NOT NULL,
      UNIQUE (cohort_version_id, case_id))`);
    await q.query(`CREATE TABLE benchmarks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      slug text NOT NULL UNIQUE,
      title text NOT NULL,
      current_version_id uuid,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE benchmark_versions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      benchmark_id uuid NOT NULL REFERENCES benchmarks(id),
      version int NOT NULL,
      content_hash text NOT NULL,
      definition jsonb NOT NULL,
      cohort_version_id uuid NOT NULL REFERENCES cohort_versions(id),
      source text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (benchmark_id, version),
      UNIQUE (benchmark_id, content_hash))`);
    await q.query(`ALTER TABLE benchmarks ADD CONSTRAINT benchmarks_current_version_fk
      FOREIGN KEY (current_version_id) REFERENCES benchmark_versions(id)`);
    await q.query(`CREATE TABLE benchmark_phases (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      name text NOT NULL,
      split text NOT NULL,
      status text NOT NULL CHECK (status IN ('open','closed')),
      leaderboard_visibility text NOT NULL CHECK (leaderboard_visibility IN ('public','hidden')),
      UNIQUE (benchmark_version_id, name))`);
    await q.query(`CREATE TABLE submissions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      organisation_id uuid NOT NULL REFERENCES organisations(id),
      submitted_by uuid NOT NULL REFERENCES users(id),
      kind text NOT NULL CHECK (kind IN ('onnx','container')),
      name text NOT NULL,
      manifest jsonb NOT NULL,
      object_key text NOT NULL,
      sha256 text NOT NULL,
      size_bytes bigint NOT NULL,
      status text NOT NULL CHECK (status IN ('validating','accepted','rejected')),
      rejection_reason text,
      check_report jsonb,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX submissions_org_idx ON submissions (organisation_id, created_at)`);
    await q.query(`CREATE TABLE runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      submission_id uuid NOT NULL REFERENCES submissions(id),
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      phase text NOT NULL,
      split text NOT NULL,
      status text NOT NULL CHECK (status IN ('queued','preparing','running','scoring','succeeded','failed','cancelled')),
      failure_reason text CHECK (failure_reason IN ('timeout','out_of_memory','exit_nonzero','invalid_output',
        'missing_predictions','rejected_image','internal')),
      failure_detail text,
      attempts int NOT NULL DEFAULT 0,
      cases_total int NOT NULL,
      cases_done int NOT NULL DEFAULT 0,
      model_sha256 text NOT NULL,
      cohort_content_hash text NOT NULL,
      benchmark_content_hash text NOT NULL,
      metric_code_version text,
      runner_image_id text,
      sandbox_runtime text,
      worker_id text,
      heartbeat_at timestamptz,
      timings jsonb NOT NULL DEFAULT '{}',
      logs text,
      queued_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
      UNIQUE (submission_id, phase))`);
    await q.query(`CREATE INDEX runs_status_idx ON runs (status)`);
    await q.query(`CREATE TABLE run_predictions (
      run_id uuid NOT NULL REFERENCES runs(id),
      case_id text NOT NULL,
      prediction jsonb NOT NULL,
      PRIMARY KEY (run_id, case_id))`);
    await q.query(`CREATE TABLE evaluation_results (
      run_id uuid PRIMARY KEY REFERENCES runs(id),
      n int NOT NULL,
      metrics jsonb NOT NULL,
      details jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE leaderboard_entries (
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      phase text NOT NULL,
      submission_id uuid NOT NULL REFERENCES submissions(id),
      run_id uuid NOT NULL REFERENCES runs(id),
      organisation_id uuid NOT NULL REFERENCES organisations(id),
      organisation_name text NOT NULL,
      submission_name text NOT NULL,
      rank int NOT NULL,
      primary_value double precision NOT NULL,
      metrics jsonb NOT NULL,
      evaluated_at timestamptz NOT NULL,
      PRIMARY KEY (benchmark_version_id, phase, submission_id))`);
    await q.query(`CREATE TABLE workers (
      id text PRIMARY KEY,
      hostname text NOT NULL,
      capabilities jsonb NOT NULL,
      started_at timestamptz NOT NULL,
      heartbeat_at timestamptz NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['workers', 'leaderboard_entries', 'evaluation_results', 'run_predictions', 'runs', 'submissions',
      'benchmark_phases']) {
      await q.query(`DROP TABLE ${table}`);
    }
    await q.query('ALTER TABLE benchmarks DROP CONSTRAINT benchmarks_current_version_fk');
    for (const table of ['benchmark_versions', 'benchmarks', 'cohort_cases', 'cohort_versions', 'cohorts', 'audit_log',
      'api_tokens', 'users', 'organisations']) {
      await q.query(`DROP TABLE ${table}`);
    }
    await q.query('DROP FUNCTION audit_log_append_only');
  }
}
