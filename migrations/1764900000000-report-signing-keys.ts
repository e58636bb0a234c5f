import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The public keys that sign validation reports (issue 10), published with their ids; a retired key stays (old reports
 * stay verifiable). The private keys are files under ASSAY_REPORT_KEY_DIR, never in the database.
 */
export class ReportSigningKeys1764900000000 implements MigrationInterface {
  name = 'ReportSigningKeys1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE report_signing_keys (
      key_id text PRIMARY KEY CHECK (key_id ~ '^ed25519-[0-9a-f]{16}$'),
      public_key text NOT NULL UNIQUE CHECK (length(public_key) = 44),
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz,
      CHECK (retired_at IS NULL OR retired_at >= created_at)
    )`);
    await q.query(`COMMENT ON COLUMN report_signing_keys.key_id IS 'ed25519- + first 16 hex digits of sha256(raw public key)'`);
    await q.query(`COMMENT ON COLUMN report_signing_keys.public_key IS 'base64 of the raw 32-byte Ed25519 public key'`);
    await q.query(`COMMENT ON COLUMN report_signing_keys.retired_at IS 'when a newer key took over signing; the key still verifies what it signed'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE report_signing_keys');
  }
}
