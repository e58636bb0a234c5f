import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
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

  /** Never the declared intended use: it is immutable after upload (a trigger refuses it as well). */
  async update(tx: EntityManager, id: string, patch: Partial<Omit<SubmissionEntity, 'intendedUse'>>): Promise<void> {
    await tx.update(SubmissionEntity, { id }, patch as QueryDeepPartialEntity<SubmissionEntity>);
  }

  findByOrganisation(organisationId: string): Promise<SubmissionEntity[]> {
    return this.db.manager().find(SubmissionEntity, { where: { organisationId }, order: { createdAt: 'DESC' } });
  }

  findAll(limit: number): Promise<SubmissionEntity[]> {
    return this.db.manager().find(SubmissionEntity, { order: { createdAt: 'DESC' }, take: limit });
  }

  /** What a regulator's grants cover, newest first, selected in SQL (not by filtering a capped list of everything). */
  async findGranted(scope: { submissionIds: string[]; benchmarkIds: string[] }, limit: number): Promise<SubmissionEntity[]> {
    if (scope.submissionIds.length === 0 && scope.benchmarkIds.length === 0) return [];
    return this.db
      .manager()
      .createQueryBuilder(SubmissionEntity, 's')
      .where('s.id = ANY(:ids)', { ids: scope.submissionIds })
      .orWhere('s.benchmark_version_id IN (SELECT v.id FROM benchmark_versions v WHERE v.benchmark_id = ANY(:benchmarks))', { benchmarks: scope.benchmarkIds })
      .orderBy('s.created_at', 'DESC')
      .take(limit)
      .getMany();
  }

  findValidating(): Promise<SubmissionEntity[]> {
    return this.db.manager().find(SubmissionEntity, { where: { status: 'validating' } });
  }

  /**
   * Submissions of an organisation to a benchmark since a time, split by whether they count against its limits: a
   * submission one of whose runs failed for an internal reason (Assay's fault) does not count; everything else does,
   * a rejection at the in-sandbox check included (the vendor's fault).
   */
  async countForLimits(input: { organisationId: string; benchmarkVersionIds: string[]; since?: Date }, tx?: EntityManager): Promise<{ counted: number; assayFaults: number }> {
    const rows: { counted: number; assay_faults: number }[] = await this.db.manager(tx).query(
      `SELECT count(*) FILTER (WHERE NOT faulted)::int AS counted, count(*) FILTER (WHERE faulted)::int AS assay_faults
         FROM (SELECT EXISTS (SELECT 1 FROM runs r WHERE r.submission_id = s.id AND r.failure_reason = 'internal') AS faulted
                 FROM submissions s
                WHERE s.organisation_id = $1 AND s.benchmark_version_id = ANY($2::uuid[]) AND ($3::timestamptz IS NULL OR s.created_at > $3)) t`,
      [input.organisationId, input.benchmarkVersionIds, input.since ?? null],
    );
    return { counted: rows[0]?.counted ?? 0, assayFaults: rows[0]?.assay_faults ?? 0 };
  }

  async versionIdsOfBenchmark(benchmarkId: string, tx?: EntityManager): Promise<string[]> {
    const rows: { id: string }[] = await this.db.manager(tx).query('SELECT id FROM benchmark_versions WHERE benchmark_id = $1', [benchmarkId]);
    return rows.map((r) => r.id);
  }

  async isObjectReferenced(tx: EntityManager, objectKey: string): Promise<boolean> {
    const rows: unknown[] = await tx.query('SELECT 1 FROM submissions WHERE object_key = $1 LIMIT 1', [objectKey]);
    return rows.length > 0;
  }
}
