import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Run logs become bytes: a container's log may hold NUL or invalid UTF-8, which a text column refuses (the run
 * was then retried and ended `internal`). Existing text logs convert losslessly as their UTF-8 encoding.
 */
export class RunLogsBytes1764400000000 implements MigrationInterface {
  name = 'RunLogsBytes1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs ALTER COLUMN logs TYPE bytea USING convert_to(logs, 'UTF8')`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Back to text: a log that is valid UTF-8 without NUL comes back as it was; any other cannot go there, so it
    // comes back escaped (encode … 'escape').
    await q.query(`CREATE FUNCTION pg_temp.assay_log_text(b bytea) RETURNS text LANGUAGE plpgsql AS $$
      BEGIN RETURN convert_from(b, 'UTF8'); EXCEPTION WHEN others THEN RETURN encode(b, 'escape'); END $$`);
    await q.query(`ALTER TABLE runs ALTER COLUMN logs TYPE text USING pg_temp.assay_log_text(logs)`);
    await q.query(`DROP FUNCTION pg_temp.assay_log_text(bytea)`);
  }
}
