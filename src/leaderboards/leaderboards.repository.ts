import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { Database } from '../database/database.module';
import type { MetricValue } from '../evaluation/evaluation.entity';
import { LeaderboardEntryEntity, LeaderboardSnapshotEntity } from './leaderboards.entity';

export interface FinishedEvaluationRow {
  runId: string;
  submissionId: string;
  submissionName: string;
  organisationId: string;
  organisationName: string;
  metrics: Record<string, MetricValue>;
  evaluatedAt: Date;
}

@Injectable()
export class LeaderboardsRepository {
  constructor(private readonly db: Database) {}

  /** Succeeded runs of one phase with their results, submissions and organisations. */
  async findFinishedEvaluations(tx: EntityManager, benchmarkVersionId: string, phase: string): Promise<FinishedEvaluationRow[]> {
    const rows: { run_id: string; submission_id: string; submission_name: string; organisation_id: string; organisation_name: string; metrics: Record<string, MetricValue>; evaluated_at: Date }[] = await tx.query(
      `SELECT r.id AS run_id, s.id AS submission_id, s.name AS submission_name, o.id AS organisation_id, o.name AS organisation_name,
              e.metrics, e.created_at AS evaluated_at
         FROM runs r
         JOIN evaluation_results e ON e.run_id = r.id
         JOIN submissions s ON s.id = r.submission_id
         JOIN organisations o ON o.id = s.organisation_id
        WHERE r.benchmark_version_id = $1 AND r.phase = $2 AND r.status = 'succeeded'`,
      [benchmarkVersionId, phase],
    );
    return rows.map((r) => ({ runId: r.run_id, submissionId: r.submission_id, submissionName: r.submission_name, organisationId: r.organisation_id, organisationName: r.organisation_name, metrics: r.metrics, evaluatedAt: new Date(r.evaluated_at) }));
  }

  /** Serialises rebuilds of one leaderboard. */
  async lockLeaderboard(tx: EntityManager, benchmarkVersionId: string, phase: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`leaderboard:${benchmarkVersionId}:${phase}`]);
  }

  async replaceEntries(tx: EntityManager, benchmarkVersionId: string, phase: string, entries: LeaderboardEntryEntity[]): Promise<void> {
    await tx.delete(LeaderboardEntryEntity, { benchmarkVersionId, phase });
    if (entries.length > 0) await tx.insert(LeaderboardEntryEntity, entries as QueryDeepPartialEntity<LeaderboardEntryEntity>[]);
  }

  /** Predictions of several runs, as run id → case id → prediction object. */
  async findPredictionsOfRuns(tx: EntityManager, runIds: string[]): Promise<Map<string, Map<string, Record<string, unknown>>>> {
    const out = new Map<string, Map<string, Record<string, unknown>>>(runIds.map((id) => [id, new Map()]));
    if (runIds.length === 0) return out;
    const rows: { run_id: string; case_id: string; prediction: Record<string, unknown> }[] = await tx.query(
      'SELECT run_id, case_id, prediction FROM run_predictions WHERE run_id = ANY($1::uuid[])',
      [runIds],
    );
    for (const r of rows) out.get(r.run_id)?.set(r.case_id, r.prediction);
    return out;
  }

  async replaceSnapshot(tx: EntityManager, snapshot: LeaderboardSnapshotEntity): Promise<void> {
    await tx.delete(LeaderboardSnapshotEntity, { benchmarkVersionId: snapshot.benchmarkVersionId, phase: snapshot.phase });
    await tx.insert(LeaderboardSnapshotEntity, snapshot as QueryDeepPartialEntity<LeaderboardSnapshotEntity>);
  }

  findSnapshot(benchmarkVersionId: string, phase: string): Promise<LeaderboardSnapshotEntity | null> {
    return this.db.manager().findOneBy(LeaderboardSnapshotEntity, { benchmarkVersionId, phase });
  }

  findEntries(benchmarkVersionId: string, phase: string): Promise<LeaderboardEntryEntity[]> {
    return this.db.manager().find(LeaderboardEntryEntity, { where: { benchmarkVersionId, phase }, order: { rank: 'ASC', submissionName: 'ASC' } });
  }
}
