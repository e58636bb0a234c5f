import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Crash-safety counters that live with the persisted state (the row, not the job, is the truth): how often a
 * submission's check started, and how often a run was handed back because of a transient infrastructure fault.
 */
export class CrashSafety1764500000000 implements MigrationInterface {
  name = 'CrashSafety1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE submissions ADD COLUMN check_attempts int NOT NULL DEFAULT 0');
    await q.query('ALTER TABLE runs ADD COLUMN infra_faults int NOT NULL DEFAULT 0');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs DROP COLUMN infra_faults');
    await q.query('ALTER TABLE submissions DROP COLUMN check_attempts');
  }
}
