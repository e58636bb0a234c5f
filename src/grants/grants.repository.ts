import { Injectable } from '@nestjs/common';
import { EntityManager, In, IsNull } from 'typeorm';
import { AuditEntryEntity } from '../audit/audit.entity';
import { UserEntity } from '../auth/auth.entity';
import { BenchmarkEntity, BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { Database } from '../database/database.module';
import { SubmissionEntity } from '../submissions/submissions.entity';
import { AccessGrantEntity } from './grants.entity';

/** What a regulator's active grants cover. */
export interface GrantScope {
  benchmarkIds: string[];
  submissionIds: string[];
}

/** Reads other modules' tables directly (read-only), so grants depend on no module that would depend on them. */
@Injectable()
export class GrantsRepository {
  constructor(private readonly db: Database) {}

  async scopeOf(regulatorUserId: string): Promise<GrantScope> {
    const rows = await this.db.manager().find(AccessGrantEntity, { where: { regulatorUserId, revokedAt: IsNull() } });
    return {
      benchmarkIds: rows.flatMap((g) => (g.benchmarkId ? [g.benchmarkId] : [])),
      submissionIds: rows.flatMap((g) => (g.submissionId ? [g.submissionId] : [])),
    };
  }

  insert(tx: EntityManager, grant: Pick<AccessGrantEntity, 'regulatorUserId' | 'benchmarkId' | 'submissionId' | 'grantedBy' | 'note'>): Promise<AccessGrantEntity> {
    return tx.save(tx.create(AccessGrantEntity, grant));
  }

  findById(id: string, tx?: EntityManager): Promise<AccessGrantEntity | null> {
    return this.db.manager(tx).findOneBy(AccessGrantEntity, { id });
  }

  async revoke(tx: EntityManager, id: string, by: string, at: Date): Promise<void> {
    await tx.update(AccessGrantEntity, { id, revokedAt: IsNull() }, { revokedAt: at, revokedBy: by });
  }

  list(filter: { regulatorUserId?: string; submissionIds?: string[] }): Promise<AccessGrantEntity[]> {
    const where = filter.submissionIds ? { submissionId: In(filter.submissionIds) } : filter.regulatorUserId ? { regulatorUserId: filter.regulatorUserId } : {};
    return this.db.manager().find(AccessGrantEntity, { where, order: { createdAt: 'ASC' }, take: 1000 });
  }

  findUserByEmail(email: string): Promise<UserEntity | null> {
    return this.db.manager().findOneBy(UserEntity, { email });
  }

  findBenchmarkBySlug(slug: string): Promise<BenchmarkEntity | null> {
    return this.db.manager().findOneBy(BenchmarkEntity, { slug });
  }

  findSubmission(id: string): Promise<SubmissionEntity | null> {
    return this.db.manager().findOneBy(SubmissionEntity, { id });
  }

  async submissionIdsOfOrganisation(organisationId: string): Promise<string[]> {
    const rows = await this.db.manager().find(SubmissionEntity, { where: { organisationId }, select: { id: true } });
    return rows.map((r) => r.id);
  }

  /** benchmark version id → benchmark id. */
  async benchmarkIdsOfVersions(versionIds: string[]): Promise<Map<string, string>> {
    if (versionIds.length === 0) return new Map();
    const rows = await this.db.manager().find(BenchmarkVersionEntity, { where: { id: In([...new Set(versionIds)]) }, select: { id: true, benchmarkId: true } });
    return new Map(rows.map((r) => [r.id, r.benchmarkId]));
  }

  async submissionIdsInScope(scope: GrantScope, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows: { id: string }[] = await this.db.manager().query(
      `SELECT s.id FROM submissions s JOIN benchmark_versions v ON v.id = s.benchmark_version_id
        WHERE s.id = ANY($1::uuid[]) AND (s.id = ANY($2::uuid[]) OR v.benchmark_id = ANY($3::uuid[]))`,
      [ids, scope.submissionIds, scope.benchmarkIds],
    );
    return rows.map((r) => r.id);
  }

  /** The cohorts behind the granted benchmarks and the benchmarks of the granted submissions. */
  async cohortIdsInScope(scope: GrantScope): Promise<string[]> {
    const rows: { cohort_id: string }[] = await this.db.manager().query(
      `SELECT DISTINCT cv.cohort_id FROM benchmark_versions bv JOIN cohort_versions cv ON cv.id = bv.cohort_version_id
        WHERE bv.benchmark_id = ANY($1::uuid[])
           OR bv.benchmark_id IN (SELECT v.benchmark_id FROM submissions s JOIN benchmark_versions v ON v.id = s.benchmark_version_id WHERE s.id = ANY($2::uuid[]))`,
      [scope.benchmarkIds, scope.submissionIds],
    );
    return rows.map((r) => r.cohort_id);
  }

  /** The audit entries a regulator may read: its own acts, its grants, and the entities its grants cover. */
  auditPage(regulatorUserId: string, scope: GrantScope, afterSeq: number, limit: number): Promise<AuditEntryEntity[]> {
    const inScopeSubmissions = `SELECT s.id FROM submissions s JOIN benchmark_versions v ON v.id = s.benchmark_version_id WHERE s.id = ANY(CAST(:subs AS uuid[])) OR v.benchmark_id = ANY(CAST(:benches AS uuid[]))`;
    return this.db
      .manager()
      .createQueryBuilder(AuditEntryEntity, 'a')
      .where('a.seq > :after', { after: afterSeq })
      .andWhere(
        `(a.actor_user_id = :me
          OR (a.entity_type = 'access_grant' AND a.payload->>'regulatorUserId' = :meText)
          OR (a.entity_type = 'submission' AND a.entity_id IN (SELECT x.id::text FROM (${inScopeSubmissions}) x))
          OR (a.entity_type = 'run' AND a.entity_id IN (SELECT r.id::text FROM runs r WHERE r.submission_id IN (${inScopeSubmissions})))
          OR (a.entity_type = 'benchmark_version' AND a.entity_id IN (SELECT v.id::text FROM benchmark_versions v WHERE v.benchmark_id = ANY(CAST(:benches AS uuid[]))))
          OR (a.entity_type = 'benchmark_phase' AND a.entity_id IN (SELECT p.id::text FROM benchmark_phases p JOIN benchmark_versions v ON v.id = p.benchmark_version_id WHERE v.benchmark_id = ANY(CAST(:benches AS uuid[])))))`,
        { me: regulatorUserId, meText: regulatorUserId, subs: scope.submissionIds, benches: scope.benchmarkIds },
      )
      .orderBy('a.seq', 'ASC')
      .limit(limit)
      .getMany();
  }
}
