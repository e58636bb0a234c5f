import { MigrationInterface, QueryRunner } from 'typeorm';

/** Regulator access grants (per benchmark or per submission) and token expiry. */
export class AccessGrantsTokenExpiry1764700000000 implements MigrationInterface {
  name = 'AccessGrantsTokenExpiry1764700000000';

  async up(q: QueryRunner): Promise<void> {
    // Tokens minted before expiry existed get 90 days from now rather than living for ever.
    await q.query('ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz');
    await q.query(`UPDATE api_tokens SET expires_at = now() + interval '90 days' WHERE expires_at IS NULL`);
    await q.query('ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL');
    await q.query('CREATE INDEX api_tokens_user_idx ON api_tokens (user_id)');
    await q.query(`CREATE TABLE access_grants (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      regulator_user_id uuid NOT NULL REFERENCES users(id),
      benchmark_id uuid REFERENCES benchmarks(id),
      submission_id uuid REFERENCES submissions(id),
      granted_by uuid NOT NULL REFERENCES users(id),
      note text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz,
      revoked_by uuid REFERENCES users(id),
      CONSTRAINT access_grants_one_scope CHECK ((benchmark_id IS NULL) <> (submission_id IS NULL)))`);
    await q.query('CREATE INDEX access_grants_active_idx ON access_grants (regulator_user_id) WHERE revoked_at IS NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE access_grants');
    await q.query('DROP INDEX api_tokens_user_idx');
    await q.query('ALTER TABLE api_tokens DROP COLUMN expires_at');
  }
}
