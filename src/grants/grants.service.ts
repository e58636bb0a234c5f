import { Injectable } from '@nestjs/common';
import { AuditEntryEntity } from '../audit/audit.entity';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { SecurityAudit } from '../auth/security-audit.service';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { Database } from '../database/database.module';
import { AccessGrantEntity } from './grants.entity';
import { GrantScope, GrantsRepository } from './grants.repository';

const isStaff = (p: Principal): boolean => p.role === Role.Admin || p.role === Role.Evaluator;

/** Something a grant can cover: a submission (and so its runs) on a benchmark version. */
export interface Grantable {
  submissionId: string;
  benchmarkVersionId: string;
}

/**
 * Regulator access: grants per benchmark or per submission, given by an admin or evaluator, or by a vendor for its own
 * organisation's submission (a vendor sharing its validation evidence with a notified body). Staff read everything;
 * a regulator reads only what an active grant covers; vendors' own-organisation rule stays where it was.
 */
@Injectable()
export class GrantsService {
  constructor(
    private readonly repository: GrantsRepository,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly security: SecurityAudit,
  ) {}

  scopeOf(principal: Principal): Promise<GrantScope> {
    return this.repository.scopeOf(principal.userId);
  }

  async create(actor: Principal, input: { regulatorEmail: string; benchmark?: string; submissionId?: string; note?: string }): Promise<AccessGrantEntity> {
    if ((input.benchmark === undefined) === (input.submissionId === undefined)) {
      throw new DomainError(ErrorCode.ValidationFailed, 'name exactly one of benchmark or submissionId', [{ field: input.benchmark === undefined ? 'benchmark' : 'submissionId', problem: 'exactly one of benchmark or submissionId' }]);
    }
    let benchmarkId: string | null = null;
    let submissionId: string | null = null;
    if (input.benchmark !== undefined) {
      if (!isStaff(actor)) throw new DomainError(ErrorCode.Forbidden, 'only admins and evaluators grant a whole benchmark; vendors grant their own submissions');
      const benchmark = await this.repository.findBenchmarkBySlug(input.benchmark);
      if (!benchmark) throw notFound('benchmark', input.benchmark);
      benchmarkId = benchmark.id;
    } else {
      const submission = await this.repository.findSubmission(input.submissionId as string);
      // Another organisation's submission is reported absent, as everywhere else.
      if (!submission || (actor.role === Role.Vendor && submission.organisationId !== actor.organisationId)) throw notFound('submission', input.submissionId as string);
      submissionId = submission.id;
    }
    const regulator = await this.repository.findUserByEmail(input.regulatorEmail);
    if (!regulator || regulator.role !== Role.Regulator) {
      throw new DomainError(ErrorCode.ValidationFailed, `regulatorEmail: no regulator user '${input.regulatorEmail}'`, [{ field: 'regulatorEmail', problem: 'not a regulator user' }]);
    }
    return this.db.transaction(async (tx) => {
      const grant = await this.repository.insert(tx, { regulatorUserId: regulator.id, benchmarkId, submissionId, grantedBy: actor.userId, note: input.note ?? '' });
      await this.audit.record(tx, {
        actorUserId: actor.userId,
        action: 'grant.created',
        entityType: 'access_grant',
        entityId: grant.id,
        payload: { regulatorUserId: regulator.id, benchmarkId, submissionId, note: grant.note },
      });
      return grant;
    });
  }

  /** Staff: every grant; a regulator: its own; a vendor: those on its organisation's submissions. */
  async list(actor: Principal): Promise<AccessGrantEntity[]> {
    if (isStaff(actor)) return this.repository.list({});
    if (actor.role === Role.Regulator) return this.repository.list({ regulatorUserId: actor.userId });
    return this.repository.list({ submissionIds: actor.organisationId ? await this.repository.submissionIdsOfOrganisation(actor.organisationId) : [] });
  }

  /** Who may give a grant may take it back; regulators cannot revoke (nor widen) their own. */
  async revoke(actor: Principal, id: string): Promise<AccessGrantEntity> {
    const grant = await this.repository.findById(id);
    if (!grant) throw notFound('grant', id);
    if (actor.role === Role.Vendor) {
      const submission = grant.submissionId ? await this.repository.findSubmission(grant.submissionId) : null;
      if (!submission || submission.organisationId !== actor.organisationId) throw notFound('grant', id);
    } else if (!isStaff(actor)) {
      throw new DomainError(ErrorCode.Forbidden, 'grants are revoked by whoever may give them');
    }
    return this.db.transaction(async (tx) => {
      if (!grant.revokedAt) {
        await this.repository.revoke(tx, id, actor.userId, this.clock.now());
        await this.audit.record(tx, { actorUserId: actor.userId, action: 'grant.revoked', entityType: 'access_grant', entityId: id, payload: { regulatorUserId: grant.regulatorUserId } });
      }
      return (await this.repository.findById(id, tx)) as AccessGrantEntity;
    });
  }

  /** Staff always; a regulator when a grant covers the submission or its benchmark; vendors are not decided here. */
  async regulatorMayRead(principal: Principal, item: Grantable): Promise<boolean> {
    if (isStaff(principal)) return true;
    if (principal.role !== Role.Regulator) return false;
    const scope = await this.scopeOf(principal);
    if (scope.submissionIds.includes(item.submissionId)) return true;
    const benchmarkId = (await this.repository.benchmarkIdsOfVersions([item.benchmarkVersionId])).get(item.benchmarkVersionId);
    return benchmarkId !== undefined && scope.benchmarkIds.includes(benchmarkId);
  }

  /** A benchmark as a whole (hidden leaderboards, comparisons): staff, or a regulator with a benchmark grant. */
  async mayReadBenchmark(principal: Principal, slug: string): Promise<boolean> {
    if (isStaff(principal)) return true;
    if (principal.role !== Role.Regulator) return false;
    const benchmark = await this.repository.findBenchmarkBySlug(slug);
    return benchmark !== null && (await this.scopeOf(principal)).benchmarkIds.includes(benchmark.id);
  }

  /** For lists: keeps what the regulator's grants cover. */
  async filterForRegulator<T extends Grantable>(principal: Principal, items: T[]): Promise<T[]> {
    const scope = await this.scopeOf(principal);
    const benchmarkOf = await this.repository.benchmarkIdsOfVersions(items.map((i) => i.benchmarkVersionId));
    return items.filter((i) => scope.submissionIds.includes(i.submissionId) || scope.benchmarkIds.includes(benchmarkOf.get(i.benchmarkVersionId) ?? ''));
  }

  /** Of these submissions, those the regulator's grants cover. */
  async visibleSubmissionIds(principal: Principal, ids: string[]): Promise<string[]> {
    return this.repository.submissionIdsInScope(await this.scopeOf(principal), ids);
  }

  async cohortIdsFor(principal: Principal): Promise<string[]> {
    return this.repository.cohortIdsInScope(await this.scopeOf(principal));
  }

  async auditFor(principal: Principal, afterSeq: number, limit: number): Promise<AuditEntryEntity[]> {
    return this.repository.auditPage(principal.userId, await this.scopeOf(principal), afterSeq, Math.min(Math.max(limit, 1), 1000));
  }

  /** Throws the not-found that hides the resource, and writes the denial to the audit log. */
  async deny(principal: Principal, what: string, id: string, route: string): Promise<never> {
    await this.security.denied(principal, 404, { entityType: what, entityId: id, route });
    throw notFound(what, id);
  }
}
