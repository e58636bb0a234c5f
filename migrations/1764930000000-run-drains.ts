import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How often a run was handed back because its worker shut down (SIGTERM, a deploy) while it ran. Such a hand-back is
 * nobody's fault and uses up nothing; the count keeps each re-queued job's id distinct and shows on the run.
 */
export class RunDrains1764930000000 implements MigrationInterface {
  name = 'RunDrains1764930000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs ADD COLUMN drains int NOT NULL DEFAULT 0');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs DROP COLUMN drains');
  }
}
