import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A federated phase's leaderboard rows carry each node's (site's) values beside the pooled ones (issue 11: "the
 * leaderboard with pooled and per-site rows"). NULL for every entry scored at the facility.
 */
export class LeaderboardSites1764970000000 implements MigrationInterface {
  name = 'LeaderboardSites1764970000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE leaderboard_entries ADD COLUMN sites jsonb');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE leaderboard_entries DROP COLUMN sites');
  }
}
