import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Database } from '../database/database.module';
import { CohortCaseEntity, CohortEntity, CohortVersionEntity, SplitName } from './cohorts.entity';

@Injectable()
export class CohortsRepository {
  constructor(private readonly db: Database) {}

  findCohortBySlug(slug: string, tx?: EntityManager): Promise<CohortEntity | null> {
    return this.db.manager(tx).findOneBy(CohortEntity, { slug });
  }

  listCohorts(): Promise<CohortEntity[]> {
    return this.db.manager().find(CohortEntity, { order: { slug: 'ASC' } });
  }

  insertCohort(tx: EntityManager, cohort: Pick<CohortEntity, 'slug' | 'title' | 'description' | 'attribution'>): Promise<CohortEntity> {
    return tx.save(tx.create(CohortEntity, cohort));
  }

  findVersionByHash(cohortId: string, contentHash: string, tx?: EntityManager): Promise<CohortVersionEntity | null> {
    return this.db.manager(tx).findOneBy(CohortVersionEntity, { cohortId, contentHash });
  }

  findVersionById(id: string, tx?: EntityManager): Promise<CohortVersionEntity | null> {
    return this.db.manager(tx).findOneBy(CohortVersionEntity, { id });
  }

  findLatestVersion(cohortId: string, tx?: EntityManager): Promise<CohortVersionEntity | null> {
    return this.db.manager(tx).findOne(CohortVersionEntity, { where: { cohortId }, order: { version: 'DESC' } });
  }

  listVersions(cohortId: string): Promise<CohortVersionEntity[]> {
    return this.db.manager().find(CohortVersionEntity, { where: { cohortId }, order: { version: 'ASC' } });
  }

  async lockCohort(tx: EntityManager, cohortId: string): Promise<void> {
    await tx.query('SELECT id FROM cohorts WHERE id = $1 FOR UPDATE', [cohortId]);
  }

  insertVersion(tx: EntityManager, version: Omit<CohortVersionEntity, 'id' | 'createdAt'>): Promise<CohortVersionEntity> {
    return tx.save(tx.create(CohortVersionEntity, version));
  }

  async insertCases(tx: EntityManager, rows: Omit<CohortCaseEntity, 'id'>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1000) await tx.insert(CohortCaseEntity, rows.slice(i, i + 1000));
  }

  async findCaseMetadata(cohortVersionId: string, split: SplitName): Promise<Map<string, Record<string, string>>> {
    const rows = await this.db.manager().find(CohortCaseEntity, { where: { cohortVersionId, split }, select: { caseId: true, metadata: true } });
    return new Map(rows.map((r) => [r.caseId, r.metadata]));
  }

  async findCaseIds(cohortVersionId: string, split: SplitName): Promise<string[]> {
    const rows = await this.db.manager().find(CohortCaseEntity, { where: { cohortVersionId, split }, select: { caseId: true }, order: { caseId: 'ASC' } });
    return rows.map((r) => r.caseId);
  }
}
