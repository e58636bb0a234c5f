import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { Database } from '../database/database.module';
import type { SubgroupResult } from '../metrics/subgroups';
import type { MetricValue } from '../runs/evaluation.entity';
import type { CaseResult } from '../tasks/task-definition';
import type { LadderState, RunFeedbackRecord } from './held-out-feedback';
import { LeaderboardEntryEntity, LeaderboardSnapshotEntity } from './leaderboards.entity';
import { snapshotStampSql } from './leaderboard-stamp';

export interface LadderKey {
  benchmarkVersionId: string;
  phase: string;
  organisationId: string;
  metric: string;
}

export interface FinishedEvaluationRow {
  runId: string;
  submissionId: string;
  submissionName: string;
  organisationId: string;
  organisationName: string;
  metrics: Record<string, MetricValue>;
  evaluatedAt: Date;
  /** A federated run's per-node table (its result's `node` subgroups); null for a run scored at the facility. */
  sites: Record<string, SubgroupResult[]> | null;
}

@Injectable()
export class LeaderboardsRepository {
  constructor(private readonly db: Database) {}

  /** Succeeded runs of one phase with their results, submissions and organisations. */
  async findFinishedEvaluations(tx: EntityManager, benchmarkVersionId: string, phase: string): Promise<FinishedEvaluationRow[]> {
    const rows: { run_id: string; submission_id: string; submission_name: string; organisation_id: string; organisation_name: string; metrics: Record<string, MetricValue>; evaluated_at: Date; sites: Record<string, SubgroupResult[]> | null }[] = await tx.query(
      `SELECT r.id AS run_id, s.id AS submission_id, s.name AS submission_name, o.id AS organisation_id, o.name AS organisation_name,
              e.metrics, e.created_at AS evaluated_at,
              CASE WHEN r.federation IS NOT NULL AND e.details ? 'federation' THEN e.details->'subgroups'->'node' END AS sites
         FROM runs r
         JOIN evaluation_results e ON e.run_id = r.id
         JOIN submissions s ON s.id = r.submission_id
         JOIN organisations o ON o.id = s.organisation_id
        WHERE r.benchmark_version_id = $1 AND r.phase = $2 AND r.status = 'succeeded'
        ORDER BY e.created_at, r.id`,
      [benchmarkVersionId, phase],
    );
    return rows.map((r) => ({ runId: r.run_id, submissionId: r.submission_id, submissionName: r.submission_name, organisationId: r.organisation_id, organisationName: r.organisation_name, metrics: r.metrics, evaluatedAt: new Date(r.evaluated_at), sites: r.sites ?? null }));
  }

  /** Serialises rebuilds of one leaderboard. */
  async lockLeaderboard(tx: EntityManager, benchmarkVersionId: string, phase: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`leaderboard:${benchmarkVersionId}:${phase}`]);
  }

  async replaceEntries(tx: EntityManager, benchmarkVersionId: string, phase: string, entries: LeaderboardEntryEntity[]): Promise<void> {
    await tx.delete(LeaderboardEntryEntity, { benchmarkVersionId, phase });
    if (entries.length > 0) await tx.insert(LeaderboardEntryEntity, entries as QueryDeepPartialEntity<LeaderboardEntryEntity>[]);
  }

  /** Stored per-case scored results of several runs (run id → records in the truth's order; null when not stored). */
  async findPerCaseOfRuns(tx: EntityManager, runIds: string[]): Promise<Map<string, CaseResult[] | null>> {
    const out = new Map<string, CaseResult[] | null>(runIds.map((id) => [id, null]));
    if (runIds.length === 0) return out;
    const rows: { run_id: string; per_case: CaseResult[] | null }[] = await tx.query('SELECT run_id, per_case FROM evaluation_results WHERE run_id = ANY($1::uuid[])', [runIds]);
    for (const r of rows) out.set(r.run_id, r.per_case);
    return out;
  }

  /** The vendor's ladder row, created empty (R_0) when missing, then locked FOR UPDATE until commit. */
  async lockLadder(tx: EntityManager, key: LadderKey): Promise<LadderState | null> {
    const args = [key.benchmarkVersionId, key.phase, key.organisationId, key.metric];
    await tx.query('INSERT INTO ladder_states (benchmark_version_id, phase, organisation_id, metric) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', args);
    const rows: { shown_value: number | null; leader_run_id: string | null }[] = await tx.query(
      'SELECT shown_value, leader_run_id FROM ladder_states WHERE benchmark_version_id = $1 AND phase = $2 AND organisation_id = $3 AND metric = $4 FOR UPDATE',
      args,
    );
    const row = rows[0];
    return row && row.shown_value !== null && row.leader_run_id !== null ? { shown: row.shown_value, leaderRunId: row.leader_run_id } : null;
  }

  /** Writes one ladder round: the vendor's new state and what this run's vendor is told (once per run). */
  async recordLadderRound(tx: EntityManager, key: LadderKey, round: { runId: string; mechanism: 'ladder' | 'ladder-parameter-free'; state: LadderState; improved: boolean; threshold: number }): Promise<void> {
    await tx.query(
      `UPDATE ladder_states SET shown_value = $5, leader_run_id = $6, rounds = rounds + 1, updated_at = now()
        WHERE benchmark_version_id = $1 AND phase = $2 AND organisation_id = $3 AND metric = $4`,
      [key.benchmarkVersionId, key.phase, key.organisationId, key.metric, round.state.shown, round.state.leaderRunId],
    );
    await tx.query('INSERT INTO held_out_feedback (run_id, mechanism, threshold, shown_value, improved) VALUES ($1, $2, $3, $4, $5)', [
      round.runId,
      round.mechanism,
      round.threshold,
      round.state.shown,
      round.improved,
    ]);
  }

  /** Runs among these that the ladder has already processed. */
  async findRunsWithFeedback(tx: EntityManager, runIds: string[]): Promise<Set<string>> {
    if (runIds.length === 0) return new Set();
    const rows: { run_id: string }[] = await tx.query('SELECT run_id FROM held_out_feedback WHERE run_id = ANY($1::uuid[])', [runIds]);
    return new Set(rows.map((r) => r.run_id));
  }

  async findRunFeedback(runId: string): Promise<RunFeedbackRecord | null> {
    const rows: { mechanism: 'ladder' | 'ladder-parameter-free'; shown_value: number; improved: boolean }[] = await this.db
      .manager()
      .query('SELECT mechanism, shown_value, improved FROM held_out_feedback WHERE run_id = $1', [runId]);
    const row = rows[0];
    return row ? { mechanism: row.mechanism, shownValue: row.shown_value, improved: row.improved } : null;
  }

  /** Ladder states of one leaderboard by organisation (the leader run and the shown value). */
  async findLadderStates(tx: EntityManager, benchmarkVersionId: string, phase: string, metric: string): Promise<Map<string, LadderState>> {
    const rows: { organisation_id: string; shown_value: number | null; leader_run_id: string | null }[] = await tx.query(
      'SELECT organisation_id, shown_value, leader_run_id FROM ladder_states WHERE benchmark_version_id = $1 AND phase = $2 AND metric = $3',
      [benchmarkVersionId, phase, metric],
    );
    return new Map(rows.filter((r) => r.shown_value !== null && r.leader_run_id !== null).map((r) => [r.organisation_id, { shown: r.shown_value as number, leaderRunId: r.leader_run_id as string }]));
  }

  async replaceSnapshot(tx: EntityManager, snapshot: LeaderboardSnapshotEntity): Promise<void> {
    await tx.delete(LeaderboardSnapshotEntity, { benchmarkVersionId: snapshot.benchmarkVersionId, phase: snapshot.phase });
    await tx.insert(LeaderboardSnapshotEntity, snapshot as QueryDeepPartialEntity<LeaderboardSnapshotEntity>);
  }

  findSnapshot(benchmarkVersionId: string, phase: string): Promise<LeaderboardSnapshotEntity | null> {
    return this.db.manager().findOneBy(LeaderboardSnapshotEntity, { benchmarkVersionId, phase });
  }

  /**
   * The stamp of one leaderboard's last rebuild (snapshotStampSql); null: never built. One indexed primary-key read,
   * for a read whose benchmark did not come with its boards' stamps (ResolvedBenchmark.boardStamps).
   */
  async findSnapshotStamp(benchmarkVersionId: string, phase: string): Promise<string | null> {
    const rows: { stamp: string }[] = await this.db
      .manager()
      .query(`SELECT ${snapshotStampSql('s')} AS stamp FROM leaderboard_snapshots s WHERE s.benchmark_version_id = $1 AND s.phase = $2`, [benchmarkVersionId, phase]);
    return rows[0]?.stamp ?? null;
  }

  /** The snapshot (with its stamp) and the entries of one leaderboard, read in one snapshot of the database. */
  findBoard(benchmarkVersionId: string, phase: string): Promise<{ stamp: string | null; snapshot: LeaderboardSnapshotEntity | null; entries: LeaderboardEntryEntity[] }> {
    return this.db.dataSource.transaction('REPEATABLE READ', async (tx) => {
      const rows: { stamp: string }[] = await tx.query(
        `SELECT ${snapshotStampSql('s')} AS stamp FROM leaderboard_snapshots s WHERE s.benchmark_version_id = $1 AND s.phase = $2`,
        [benchmarkVersionId, phase],
      );
      const snapshot = await tx.findOneBy(LeaderboardSnapshotEntity, { benchmarkVersionId, phase });
      const entries = await tx.find(LeaderboardEntryEntity, { where: { benchmarkVersionId, phase }, order: { rank: 'ASC', submissionName: 'ASC' } });
      return { stamp: rows[0]?.stamp ?? null, snapshot, entries };
    });
  }

  findEntries(benchmarkVersionId: string, phase: string): Promise<LeaderboardEntryEntity[]> {
    return this.db.manager().find(LeaderboardEntryEntity, { where: { benchmarkVersionId, phase }, order: { rank: 'ASC', submissionName: 'ASC' } });
  }
}
