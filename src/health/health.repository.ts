import { Injectable } from '@nestjs/common';
import { MoreThan } from 'typeorm';
import { Database } from '../database/database.module';
import { WorkerEntity } from './health.entity';

@Injectable()
export class HealthRepository {
  constructor(private readonly db: Database) {}

  async ping(): Promise<void> {
    await this.db.manager().query('SELECT 1');
  }

  async upsertWorker(worker: WorkerEntity): Promise<void> {
    await this.db.manager().upsert(WorkerEntity, worker, ['id']);
  }

  async touchWorker(id: string, at: Date): Promise<void> {
    await this.db.manager().update(WorkerEntity, { id }, { heartbeatAt: at });
  }

  findLiveWorkers(since: Date): Promise<WorkerEntity[]> {
    return this.db.manager().find(WorkerEntity, { where: { heartbeatAt: MoreThan(since) }, order: { id: 'ASC' } });
  }
}
