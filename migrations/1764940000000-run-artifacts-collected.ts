import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When the artifact objects of a finished run that no stored prediction references were last removed
 * (src/runs/run-artifacts.ts). NULL for every run finished before this column: the recovery sweep works through them,
 * a bounded number per sweep, oldest first, by the partial index.
 */
export class RunArtifactsCollected1764940000000 implements MigrationInterface {
  name = 'RunArtifactsCollected1764940000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs ADD COLUMN artifacts_collected_at timestamptz');
    await q.query(`CREATE INDEX runs_artifacts_uncollected ON runs (finished_at) WHERE artifacts_collected_at IS NULL AND status IN ('succeeded', 'failed', 'cancelled')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX runs_artifacts_uncollected');
    await q.query('ALTER TABLE runs DROP COLUMN artifacts_collected_at');
  }
}
