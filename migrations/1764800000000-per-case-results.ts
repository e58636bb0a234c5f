import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-case scored results beside each run's aggregate result: what leaderboards, paired comparisons and the Ladder
 * read (one JSON record per case, in the truth's order), so that nothing after the scorer reads the truth again.
 * Results scored before this column existed have NULL (their leaderboards lose rank intervals until re-scored).
 */
export class PerCaseResults1764800000000 implements MigrationInterface {
  name = 'PerCaseResults1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE evaluation_results ADD COLUMN per_case jsonb');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE evaluation_results DROP COLUMN per_case');
  }
}
