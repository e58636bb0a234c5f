import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Database } from '../database/database.module';
import { BenchmarkEntity, BenchmarkPhaseEntity, BenchmarkVersionEntity } from './benchmarks.entity';

@Injectable()
export class BenchmarksRepository {
  constructor(private readonly db: Database) {}

  findBySlug(slug: string, tx?: EntityManager): Promise<BenchmarkEntity | null> {
    return this.db.manager(tx).findOneBy(BenchmarkEntity, { slug });
  }

  listAll(): Promise<BenchmarkEntity[]> {
    return this.db.manager().find(BenchmarkEntity, { order: { slug: 'ASC' } });
  }

  insertBenchmark(tx: EntityManager, b: Pick<BenchmarkEntity, 'slug' | 'title'>): Promise<BenchmarkEntity> {
    return tx.save(tx.create(BenchmarkEntity, { ...b, currentVersionId: null }));
  }

  async lockBenchmark(tx: EntityManager, id: string): Promise<void> {
    await tx.query('SELECT id FROM benchmarks WHERE id = $1 FOR UPDATE', [id]);
  }

  findVersionByHash(benchmarkId: string, contentHash: string, tx?: EntityManager): Promise<BenchmarkVersionEntity | null> {
    return this.db.manager(tx).findOneBy(BenchmarkVersionEntity, { benchmarkId, contentHash });
  }

  findVersionById(id: string, tx?: EntityManager): Promise<BenchmarkVersionEntity | null> {
    return this.db.manager(tx).findOneBy(BenchmarkVersionEntity, { id });
  }

  findLatestVersion(benchmarkId: string, tx?: EntityManager): Promise<BenchmarkVersionEntity | null> {
    return this.db.manager(tx).findOne(BenchmarkVersionEntity, { where: { benchmarkId }, order: { version: 'DESC' } });
  }

  insertVersion(tx: EntityManager, v: Omit<BenchmarkVersionEntity, 'id' | 'createdAt'>): Promise<BenchmarkVersionEntity> {
    return tx.save(tx.create(BenchmarkVersionEntity, v));
  }

  async insertPhases(tx: EntityManager, phases: Omit<BenchmarkPhaseEntity, 'id'>[]): Promise<void> {
    await tx.insert(BenchmarkPhaseEntity, phases);
  }

  async setCurrentVersion(tx: EntityManager, benchmarkId: string, versionId: string, title: string): Promise<void> {
    await tx.update(BenchmarkEntity, { id: benchmarkId }, { currentVersionId: versionId, title });
  }

  findPhases(benchmarkVersionId: string): Promise<BenchmarkPhaseEntity[]> {
    return this.db.manager().find(BenchmarkPhaseEntity, { where: { benchmarkVersionId } });
  }

  async updatePhase(tx: EntityManager, id: string, patch: Partial<Pick<BenchmarkPhaseEntity, 'status' | 'leaderboardVisibility'>>): Promise<void> {
    await tx.update(BenchmarkPhaseEntity, { id }, patch);
  }

  findPhase(benchmarkVersionId: string, name: string): Promise<BenchmarkPhaseEntity | null> {
    return this.db.manager().findOneBy(BenchmarkPhaseEntity, { benchmarkVersionId, name });
  }
}
