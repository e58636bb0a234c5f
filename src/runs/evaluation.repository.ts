import { Injectable } from '@nestjs/common';
import { EntityManager, In, LessThan } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { Database } from '../database/database.module';
import { EvaluationResultEntity, RunEntity, RunPredictionEntity, RunStatus } from './evaluation.entity';

@Injectable()
export class EvaluationRepository {
  constructor(private readonly db: Database) {}

  insertRun(tx: EntityManager, run: Partial<RunEntity>): Promise<RunEntity> {
    return tx.save(tx.create(RunEntity, run));
  }

  /** Row lock for one state transition; released at commit. */
  lockRunForTransition(tx: EntityManager, id: string): Promise<RunEntity | null> {
    return tx.findOne(RunEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async updateRun(tx: EntityManager, id: string, patch: Partial<RunEntity>): Promise<void> {
    await tx.update(RunEntity, { id }, patch as QueryDeepPartialEntity<RunEntity>);
  }

  findRun(id: string): Promise<RunEntity | null> {
    return this.db.manager().findOneBy(RunEntity, { id });
  }

  findRunsBySubmission(submissionId: string): Promise<RunEntity[]> {
    return this.db.manager().find(RunEntity, { where: { submissionId }, order: { queuedAt: 'ASC' } });
  }

  findRunBySubmissionAndPhase(submissionId: string, phase: string, tx?: EntityManager): Promise<RunEntity | null> {
    return this.db.manager(tx).findOneBy(RunEntity, { submissionId, phase });
  }

  /** In-flight runs whose worker has not shown a sign of life since `before`. */
  findAbandonedRuns(statuses: readonly RunStatus[], before: Date): Promise<RunEntity[]> {
    return this.db.manager().find(RunEntity, { where: [...statuses.map((status) => ({ status, heartbeatAt: LessThan(before) }))] });
  }

  findQueuedRuns(): Promise<RunEntity[]> {
    return this.db.manager().find(RunEntity, { where: { status: In([RunStatus.Queued]) } });
  }

  async countLiveGpuWorkers(since: Date): Promise<number> {
    const rows: { n: number }[] = await this.db.manager().query(
      `SELECT count(*)::int AS n FROM workers WHERE heartbeat_at > $1 AND jsonb_array_length(capabilities->'gpus') > 0`,
      [since],
    );
    return rows[0]?.n ?? 0;
  }

  async heartbeat(id: string, at: Date, casesDone?: number): Promise<void> {
    await this.db.manager().update(RunEntity, { id }, casesDone === undefined ? { heartbeatAt: at } : { heartbeatAt: at, casesDone });
  }

  async insertPredictions(tx: EntityManager, rows: RunPredictionEntity[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 2000) {
      await tx.insert(RunPredictionEntity, rows.slice(i, i + 2000) as QueryDeepPartialEntity<RunPredictionEntity>[]);
    }
  }

  async deletePredictions(tx: EntityManager, runId: string): Promise<void> {
    await tx.delete(RunPredictionEntity, { runId });
  }

  findPredictions(runId: string): Promise<RunPredictionEntity[]> {
    return this.db.manager().find(RunPredictionEntity, { where: { runId }, order: { caseId: 'ASC' } });
  }

  /** Finished runs whose unreferenced artifact objects were never removed (the follow-up was lost), oldest first. */
  async findUncollectedFinishedRuns(limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.db.manager().query(
      `SELECT id FROM runs WHERE artifacts_collected_at IS NULL AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY finished_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  async markArtifactsCollected(id: string, at: Date): Promise<void> {
    await this.db.manager().update(RunEntity, { id, status: In([RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled]) }, { artifactsCollectedAt: at });
  }

  async insertResult(tx: EntityManager, result: Omit<EvaluationResultEntity, 'createdAt'>): Promise<void> {
    await tx.insert(EvaluationResultEntity, result as QueryDeepPartialEntity<EvaluationResultEntity>);
  }

  findResult(runId: string): Promise<EvaluationResultEntity | null> {
    return this.db.manager().findOneBy(EvaluationResultEntity, { runId });
  }
}
