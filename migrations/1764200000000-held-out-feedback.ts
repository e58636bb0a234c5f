import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Held-out feedback (docs/held-out-feedback.md): each vendor's Ladder state per leaderboard, what each held-out run's
 * vendor was told, the shown primary of each leaderboard entry; and stored method strings without confusion counts.
 */
export class HeldOutFeedback1764200000000 implements MigrationInterface {
  name = 'HeldOutFeedback1764200000000';

  async up(q: QueryRunner): Promise<void> {
    // One row per (leaderboard, vendor, metric), locked FOR UPDATE by every ladder round: R_{t-1} and its leader.
    await q.query(`CREATE TABLE ladder_states (
      benchmark_version_id uuid NOT NULL REFERENCES benchmark_versions(id),
      phase text NOT NULL,
      organisation_id uuid NOT NULL REFERENCES organisations(id),
      metric text NOT NULL,
      shown_value double precision,
      leader_run_id uuid REFERENCES runs(id),
      rounds int NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (benchmark_version_id, phase, organisation_id, metric),
      CHECK ((shown_value IS NULL) = (leader_run_id IS NULL)))`);
    await q.query(`CREATE TABLE held_out_feedback (
      run_id uuid PRIMARY KEY REFERENCES runs(id),
      mechanism text NOT NULL CHECK (mechanism IN ('ladder', 'ladder-parameter-free')),
      threshold double precision NOT NULL,
      shown_value double precision NOT NULL,
      improved boolean NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query('ALTER TABLE leaderboard_entries ADD COLUMN shown_primary double precision');
    // Counts ("TP/(TP+FN) = 190/205") and the held-out default τ leave the stored method strings; new results carry
    // counts in a separate field. Irreversible on purpose.
    for (const [table, column] of [['evaluation_results', 'metrics'], ['evaluation_results', 'details'], ['leaderboard_entries', 'metrics']] as const) {
      await q.query(
        `UPDATE ${table} SET ${column} = regexp_replace(regexp_replace(${column}::text, ' = [0-9]+/[0-9]+', '', 'g'), 'τ = [-+.0-9eE]+ \\(default', 'τ = (default', 'g')::jsonb
          WHERE ${column}::text ~ ' = [0-9]+/[0-9]+|τ = [-+.0-9eE]+ \\(default'`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE leaderboard_entries DROP COLUMN shown_primary');
    await q.query('DROP TABLE held_out_feedback');
    await q.query('DROP TABLE ladder_states');
  }
}
