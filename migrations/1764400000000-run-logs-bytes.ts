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
    // Back to text: bytes that are not UTF-8 (or NUL) cannot go there, so they come back escaped.
    await q.query(`ALTER TABLE runs ALTER COLUMN logs TYPE text USING encode(logs, 'escape')`);
  }
}
