import { Controller, Get, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, EVERY_ROLE, OWNER_STAFF_GRANTED } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { Clock } from '../common/clock';
import { GrantsService } from '../grants/grants.service';
import { SubmissionResponse, toSubmissionResponse } from '../submissions/submissions.dto';
import type { SubmissionEntity } from '../submissions/submissions.entity';
import { SubmissionsService } from '../submissions/submissions.service';
import { EvaluationService } from './evaluation.service';
import { toRunSummary } from './run-summary';

/**
 * GET /api/submissions[/:id]: a submission with its runs. It lives on the runs side so that intake (src/submissions)
 * never reads runs: flow goes one way, upload → queue → check → runs, and runs are added to the submission here.
 * The uploads (POST) and the quota stay in SubmissionsController under the same prefix.
 */
@ApiTags('submissions')
@ApiBearerAuth()
@Controller('api/submissions')
export class SubmissionViewController {
  constructor(
    private readonly submissions: SubmissionsService,
    private readonly evaluation: EvaluationService,
    private readonly benchmarks: BenchmarksService,
    private readonly grants: GrantsService,
    private readonly clock: Clock,
  ) {}

  @Get()
  @Roles(Role.Vendor, Role.Evaluator, Role.Admin, Role.Regulator)
  @Access(EVERY_ROLE)
  @ApiOperation({ summary: "Vendors: their organisation's submissions; regulators: those their grants cover; evaluators and admins: all" })
  async list(@CurrentPrincipal() principal: Principal): Promise<SubmissionResponse[]> {
    const rows = await this.submissions.listVisible(principal);
    return Promise.all(rows.map((s) => this.withRuns(s, principal)));
  }

  @Get(':id')
  @Roles(Role.Vendor, Role.Evaluator, Role.Admin, Role.Regulator)
  @Access(OWNER_STAFF_GRANTED)
  async get(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<SubmissionResponse> {
    const route = 'GET /api/submissions/:id';
    if (principal.role === Role.Regulator) {
      const s = await this.submissions.requireAccessible(principal, id);
      if (!(await this.grants.regulatorMayRead(principal, { submissionId: s.id, benchmarkVersionId: s.benchmarkVersionId }))) await this.grants.deny(principal, 'submission', id, route);
      return this.withRuns(s, principal);
    }
    // Absent and another organisation's look the same (404), and the refusal is audited.
    const s = await this.submissions.requireAccessible(principal, id).catch(() => null);
    return this.withRuns(s ?? (await this.grants.deny(principal, 'submission', id, route)), principal);
  }

  private async withRuns(s: SubmissionEntity, principal: Principal): Promise<SubmissionResponse> {
    const version = await this.benchmarks.requireVersion(s.benchmarkVersionId);
    const runs = await this.evaluation.runsOfSubmission(s.id);
    const now = this.clock.now();
    const waiting = await this.evaluation.waitingForGpuWorker(version);
    return toSubmissionResponse(
      s,
      version.definition.slug,
      runs.map((r) => toRunSummary(r, { showDetail: this.evaluation.mayShowDetail(principal, r), waitingForGpuWorker: waiting }, now)),
    );
  }
}
