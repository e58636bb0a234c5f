import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { GrantsService } from '../grants/grants.service';
import { feedbackSpec } from '../leaderboards/held-out-feedback';
import { JobName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';
import { type RunEntity, RunStatus } from '../runs/evaluation.entity';
import { EvaluationService } from '../runs/evaluation.service';
import { SubmissionsService } from '../submissions/submissions.service';
import { reportIdOf } from './evidence-builder';
import type { ReportAudience } from './evidence';
import { ReportPipeline } from './report-pipeline';
import { ReportsRepository } from './reports.repository';
import type { ValidationReportEntity } from './reports.entity';

const isStaff = (p: Principal): boolean => p.role === Role.Admin || p.role === Role.Evaluator;

/**
 * Who may read and request validation reports (DESIGN.md, issue 10): admins and evaluators everything; a regulator
 * what a grant covers (per benchmark or per submission); a vendor its own submission's vendor-form reports only;
 * everyone else is told the report does not exist. Requests queue the generation (the worker does it).
 */
@Injectable()
export class ReportsService {
  constructor(
    private readonly repository: ReportsRepository,
    private readonly grants: GrantsService,
    private readonly queue: QueueService,
    private readonly evaluation: EvaluationService,
    private readonly submissions: SubmissionsService,
    private readonly benchmarks: BenchmarksService,
    private readonly pipeline: ReportPipeline,
  ) {}

  /** Queues both forms when a run succeeds; job id = report id, so repeats (a re-run score job) collapse. */
  async enqueueForRun(run: Pick<RunEntity, 'id' | 'submissionId' | 'benchmarkVersionId' | 'phase'>): Promise<string[]> {
    const ids: string[] = [];
    for (const audience of ['full', 'vendor'] as const) {
      const jobId = reportIdOf({ submissionId: run.submissionId, benchmarkVersionId: run.benchmarkVersionId, phase: run.phase, audience });
      await this.queue.enqueue({ name: JobName.GenerateReport, payload: { runId: run.id, audience }, jobId });
      ids.push(jobId);
    }
    return ids;
  }

  /** Why the vendor form of this run cannot be made now, or null (mirrors buildEvidence's refusal, for a clear 409). */
  async vendorFormRefusal(run: Pick<RunEntity, 'benchmarkVersionId' | 'phase'>): Promise<string | null> {
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    if (version.definition.phases.find((p) => p.name === run.phase)?.split !== 'test') return null;
    const phase = await this.benchmarks.findPhase(run.benchmarkVersionId, run.phase);
    if (phase?.leaderboardVisibility !== 'public') return `the ${run.phase} phase's results are not released: no vendor report of a held-out run before its leaderboard is public`;
    const spec = feedbackSpec(version.definition);
    if (spec.mechanism !== 'round') return `this benchmark gives held-out feedback through the Ladder (${spec.mechanism}): there is no vendor report of a held-out run`;
    return null;
  }

  /**
   * POST /api/runs/:id/report: staff get the full form (with the comparators they chose) and the vendor form where
   * allowed; the owning vendor gets the vendor form. Regenerates: a finished job under the same id is replaced.
   */
  async request(principal: Principal, runId: string, comparators: string[] = []): Promise<{ runId: string; reports: { reportId: string; audience: ReportAudience }[] }> {
    const run = await this.evaluation.requireRun(runId).catch(() => null);
    if (!run) return this.grants.deny(principal, 'run', runId, 'POST /api/runs/:id/report');
    if (!isStaff(principal)) {
      const own = await this.submissions.requireAccessible(principal, run.submissionId).then(
        () => principal.role === Role.Vendor,
        () => false,
      );
      if (!own) return this.grants.deny(principal, 'run', runId, 'POST /api/runs/:id/report');
      if (comparators.length > 0) throw new DomainError(ErrorCode.Forbidden, 'comparators are chosen by evaluators: a vendor requests its own report without them', [{ field: 'comparators', problem: 'evaluators only' }]);
    }
    if (run.status !== RunStatus.Succeeded && run.status !== RunStatus.Failed) {
      throw new DomainError(ErrorCode.Conflict, `run ${run.id} is ${run.status}: a report is made of a finished run`, [{ field: 'id', problem: `run is ${run.status}` }]);
    }
    await this.pipeline.checkComparators(run.id, comparators);
    const refusal = await this.vendorFormRefusal(run);
    if (!isStaff(principal) && refusal) throw new DomainError(ErrorCode.Conflict, refusal, [{ field: 'audience', problem: refusal }]);
    const audiences: ReportAudience[] = isStaff(principal) ? (refusal ? ['full'] : ['full', 'vendor']) : ['vendor'];
    const reports: { reportId: string; audience: ReportAudience }[] = [];
    for (const audience of audiences) {
      const reportId = reportIdOf({ submissionId: run.submissionId, benchmarkVersionId: run.benchmarkVersionId, phase: run.phase, audience });
      await this.queue.ensureQueued({
        name: JobName.GenerateReport,
        payload: { runId: run.id, audience, ...(audience === 'full' && comparators.length > 0 ? { comparators } : {}), actorUserId: principal.userId },
        jobId: reportId,
      });
      reports.push({ reportId, audience });
    }
    return { runId: run.id, reports };
  }

  /** What the caller may read of this report, or the not-found that hides it (and is audited). */
  async readable(principal: Principal, id: string, route: string): Promise<ValidationReportEntity> {
    const report = /^[0-9a-f]{32}$/.test(id) ? await this.repository.findById(id) : null;
    if (!report || !(await this.mayRead(principal, report))) return this.grants.deny(principal, 'validation report', id, route);
    return report;
  }

  private async mayRead(principal: Principal, report: Pick<ValidationReportEntity, 'submissionId' | 'benchmarkVersionId' | 'phase' | 'audience'>): Promise<boolean> {
    if (isStaff(principal)) return true;
    if (principal.role === Role.Regulator) return this.grants.regulatorMayRead(principal, { submissionId: report.submissionId, benchmarkVersionId: report.benchmarkVersionId });
    if (principal.role !== Role.Vendor || report.audience !== 'vendor') return false;
    const own = await this.submissions.requireAccessible(principal, report.submissionId).then(
      () => true,
      () => false,
    );
    // A held-out phase hidden again (or put under the Ladder) withdraws its vendor form, as it withdraws the run's scores.
    return own && (await this.vendorFormRefusal(report)) === null;
  }

  async list(principal: Principal, filter: { runId?: string } = {}): Promise<ValidationReportEntity[]> {
    if (isStaff(principal)) return this.repository.listAll(filter);
    if (principal.role === Role.Regulator) return this.grants.filterForRegulator(principal, await this.repository.listAll(filter));
    if (principal.role !== Role.Vendor || !principal.organisationId) return [];
    const own = await this.repository.listAll({ ...filter, audience: 'vendor', submissionIds: await this.repository.submissionIdsOfOrganisation(principal.organisationId) });
    const refused = new Map<string, boolean>();
    const out: ValidationReportEntity[] = [];
    for (const r of own) {
      const key = `${r.benchmarkVersionId}:${r.phase}`;
      if (!refused.has(key)) refused.set(key, (await this.vendorFormRefusal(r)) !== null);
      if (!refused.get(key)) out.push(r);
    }
    return out;
  }

  /** The audit trail of a run: staff, or a regulator whose grant covers it. */
  async runAudit(principal: Principal, runId: string, afterSeq: number, limit: number) {
    const run = await this.evaluation.requireRun(runId).catch(() => null);
    const allowed = run !== null && (isStaff(principal) || (await this.grants.regulatorMayRead(principal, { submissionId: run.submissionId, benchmarkVersionId: run.benchmarkVersionId })));
    if (!run || !allowed) return this.grants.deny(principal, 'run', runId, 'GET /api/runs/:id/audit');
    return this.repository.auditOfRun(run.id, run.submissionId, afterSeq, Math.min(Math.max(limit, 1), 1000));
  }
}
