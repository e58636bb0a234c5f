import { MigrationInterface, QueryRunner } from 'typeorm';

/** Rank intervals per leaderboard entry and one robustness snapshot per leaderboard. */
export class LeaderboardRobustness1763880000000 implements MigrationInterface {
  name = 'LeaderboardRobustness1763880000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE leaderboard_entries
      ADD COLUMN median_rank double precision,
      ADD COLUMN rank_interval jsonb,
      ADD COLUMN rank_share jsonb`);
    await q.query(`CREATE TABLE leaderboard_snapshots (
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      phase text NOT NULL,
      method text NOT NULL,
      details jsonb NOT NULL,
      computed_at timestamptz NOT NULL,
      PRIMARY KEY (benchmark_version_id, phase))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE leaderboard_snapshots');
    await q.query('ALTER TABLE leaderboard_entries DROP COLUMN median_rank, DROP COLUMN rank_interval, DROP COLUMN rank_share');
  }
}
