import { Injectable } from '@nestjs/common';
import { EntityManager, In, MoreThan } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { Database } from '../database/database.module';
import { SubmissionEntity } from './submissions.entity';

@Injectable()
export class SubmissionsRepository {
  constructor(private readonly db: Database) {}

  insert(tx: EntityManager, s: Omit<SubmissionEntity, 'id' | 'createdAt'>): Promise<SubmissionEntity> {
    return tx.save(tx.create(SubmissionEntity, s));
  }

  findById(id: string, tx?: EntityManager): Promise<SubmissionEntity | null> {
    return this.db.manager(tx).findOneBy(SubmissionEntity, { id });
  }

  lockForUpdate(tx: EntityManager, id: string): Promise<SubmissionEntity | null> {
    return tx.findOne(SubmissionEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async update(tx: EntityManager, id: string, patch: Partial<SubmissionEntity>): Promise<void> {
    await tx.update(SubmissionEntity, { id }, patch as QueryDeepPartialEntity<SubmissionEntity>);
  }

  findByOrganisation(organisationId: string): Promise<SubmissionEntity[]> {
    return this.db.manager().find(SubmissionEntity, { where: { organisationId }, order: { createdAt: 'DESC' } });
  }

  findAll(limit: number): Promise<SubmissionEntity[]> {
    return this.db.manager().find(SubmissionEntity, { order: { createdAt: 'DESC' }, take: limit });
  }

  findValidating(): Promise<SubmissionEntity[]> {
    return this.db.manager().find(SubmissionEntity, { where: { status: 'validating' } });
  }

  /** Submissions that count against the limits: everything not rejected. */
  countCounting(input: { organisationId: string; benchmarkVersionIds: string[]; since?: Date }): Promise<number> {
    return this.db.manager().countBy(SubmissionEntity, {
      organisationId: input.organisationId,
      benchmarkVersionId: In(input.benchmarkVersionIds),
      status: In(['validating', 'accepted']),
      ...(input.since ? { createdAt: MoreThan(input.since) } : {}),
    });
  }
}
