import { MigrationInterface, QueryRunner } from 'typeorm';

/** The upload sweep and a failed upload ask whether any submission references an object key. */
export class SubmissionObjectKeyIndex1764100000000 implements MigrationInterface {
  name = 'SubmissionObjectKeyIndex1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX submissions_object_key_idx ON submissions (object_key)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX submissions_object_key_idx');
  }
}
