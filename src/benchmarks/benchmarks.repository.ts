import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Database } from '../database/database.module';
import { snapshotStampSql } from '../leaderboards/leaderboard-stamp';
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

  /**
   * A benchmark by slug with what resolveCurrent reads fresh on every call, in one statement: the benchmark row, its
   * current version's id and row stamp (`xmin`, which any write of the version's row changes), that version's phases
   * (their status and visibility change without a new version), and the stamp of each phase's last leaderboard
   * rebuild (null: never built), which every leaderboard read checks its kept views against. The version's
   * definition is not read here: the caller keeps versions by id and stamp.
   */
  async findCurrent(slug: string): Promise<{ benchmark: BenchmarkEntity; versionId: string; versionStamp: string; phases: BenchmarkPhaseEntity[]; boardStamps: Map<string, string | null> } | null> {
    const rows = (await this.db.manager().query(
      `SELECT b.id, b.slug, b.title, b.current_version_id, b.created_at, v.xmin::text AS version_stamp,
              COALESCE(json_agg(json_build_object('id', p.id, 'name', p.name, 'split', p.split, 'status', p.status, 'leaderboardVisibility', p.leaderboard_visibility,
                                                  'boardStamp', ${snapshotStampSql('s')}))
                FILTER (WHERE p.id IS NOT NULL), '[]') AS phases
         FROM benchmarks b
         JOIN benchmark_versions v ON v.id = b.current_version_id
         LEFT JOIN benchmark_phases p ON p.benchmark_version_id = v.id
         LEFT JOIN leaderboard_snapshots s ON s.benchmark_version_id = v.id AND s.phase = p.name
        WHERE b.slug = $1
        GROUP BY b.id, v.id`,
      [slug],
    )) as { id: string; slug: string; title: string; current_version_id: string; created_at: Date; version_stamp: string; phases: (Omit<BenchmarkPhaseEntity, 'benchmarkVersionId'> & { boardStamp: string | null })[] }[];
    const row = rows[0];
    if (!row) return null;
    const benchmark = Object.assign(new BenchmarkEntity(), { id: row.id, slug: row.slug, title: row.title, currentVersionId: row.current_version_id, createdAt: row.created_at });
    const phases = row.phases.map(({ boardStamp: _, ...p }) => Object.assign(new BenchmarkPhaseEntity(), { ...p, benchmarkVersionId: row.current_version_id }));
    const boardStamps = new Map(row.phases.map((p) => [p.name, p.boardStamp] as const));
    return { benchmark, versionId: row.current_version_id, versionStamp: row.version_stamp, phases, boardStamps };
  }

  /** A version with its row stamp (`xmin`), for keeping it by id and stamp. */
  async findVersionWithStamp(id: string): Promise<{ version: BenchmarkVersionEntity; stamp: string } | null> {
    const { entities, raw } = await this.db
      .manager()
      .createQueryBuilder(BenchmarkVersionEntity, 'v')
      .addSelect('v.xmin::text', 'version_stamp')
      .where('v.id = :id', { id })
      .getRawAndEntities<{ version_stamp: string }>();
    const version = entities[0];
    const stamp = raw[0]?.version_stamp;
    return version && stamp ? { version, stamp } : null;
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
