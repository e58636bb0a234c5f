import { Controller, Get, Param, ParseUUIDPipe, Query, Req, Res, StreamableFile } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiBearerAuth, ApiExtraModels, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { SecurityAudit } from '../auth/security-audit.service';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { GrantsService } from '../grants/grants.service';
import { Role } from '../auth/auth.entity';
import { ComparisonResponse, LeaderboardMetricResponse, LeaderboardResponse } from './leaderboards.dto';
import { LeaderboardsService } from './leaderboards.service';
import type { SerializedLeaderboard } from './leaderboard-views';

@ApiTags('leaderboards')
@ApiBearerAuth()
@ApiExtraModels(LeaderboardMetricResponse)
@Controller('api/benchmarks/:slug/leaderboard')
export class LeaderboardsController {
  constructor(
    private readonly leaderboards: LeaderboardsService,
    private readonly grants: GrantsService,
    private readonly benchmarks: BenchmarksService,
    private readonly security: SecurityAudit,
  ) {}

  @Get()
  @Roles(Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin)
  // The fixture's `test` leaderboard is hidden: only staff and a regulator granted the benchmark see it.
  @Access({ anonymous: '401', vendor: '404', vendorOther: '404', evaluator: '2xx', regulator: '404', regulatorGranted: '2xx', admin: '2xx' })
  @ApiQuery({ name: 'phase', required: false, description: "Phase name (default 'test')" })
  @ApiOperation({ summary: 'Ranked rows with primary and secondary metrics and their 95% CIs, for published phases' })
  @ApiOkResponse({ type: LeaderboardResponse })
  async read(
    @CurrentPrincipal() principal: Principal,
    @Param('slug') slug: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @Query('phase') phase?: string,
  ): Promise<StreamableFile> {
    const board = await this.board(principal, slug, phase ?? 'test');
    // The serialized view as built once per rebuild; gzip when the client takes it (a 1,000-entry board is ~9 MB of JSON).
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res.setHeader('Vary', 'Accept-Encoding');
    res.setHeader('ETag', board.etag);
    if (gzip) res.setHeader('Content-Encoding', 'gzip');
    const bytes = gzip ? board.gzip : board.json;
    return new StreamableFile(bytes, { type: 'application/json; charset=utf-8', length: bytes.length });
  }

  /** The board as this caller may see it, with the route's refusals audited: what GET …/leaderboard sends, and what the web page shows. */
  async board(principal: Principal, slug: string, name: string): Promise<SerializedLeaderboard> {
    const granted = await this.grants.mayReadBenchmark(principal, slug);
    const resolved = await this.benchmarks.resolveCurrent(slug);
    if (!granted && resolved.phases.find((p) => p.name === name)?.leaderboardVisibility === 'hidden') await this.grants.deny(principal, 'leaderboard', `${slug}/${name}`, 'GET /api/benchmarks/:slug/leaderboard');
    return this.leaderboards.readSerialized(principal, resolved, name, granted);
  }

  private async isHidden(slug: string, phase: string): Promise<boolean> {
    const { phases } = await this.benchmarks.resolveCurrent(slug);
    return phases.find((p) => p.name === phase)?.leaderboardVisibility === 'hidden';
  }

  @Get('compare')
  @Roles(Role.Evaluator, Role.Regulator, Role.Admin)
  @Access({ anonymous: '401', vendor: '403', vendorOther: '403', evaluator: '2xx', regulator: '404', regulatorGranted: '2xx', admin: '2xx' })
  @ApiQuery({ name: 'a', description: 'submission id of A' })
  @ApiQuery({ name: 'b', description: 'submission id of B' })
  @ApiQuery({ name: 'phase', required: false })
  @ApiOperation({ summary: 'Paired comparison of two entries on the same cases: difference A − B with 95% CI and p (paired DeLong, paired bootstrap, Wilcoxon), Holm-adjusted' })
  async compare(
    @CurrentPrincipal() principal: Principal,
    @Param('slug') slug: string,
    @Query('a', ParseUUIDPipe) a: string,
    @Query('b', ParseUUIDPipe) b: string,
    @Query('phase') phase?: string,
  ): Promise<ComparisonResponse> {
    const name = phase ?? 'test';
    const route = 'GET /api/benchmarks/:slug/leaderboard/compare';
    // It reads per-case results of both entries: a regulator needs the benchmark, or both submissions, granted.
    if (!(await this.grants.mayReadBenchmark(principal, slug))) {
      if (await this.isHidden(slug, name)) await this.grants.deny(principal, 'leaderboard', `${slug}/${name}`, route);
      if ((await this.grants.visibleSubmissionIds(principal, [a, b])).length !== 2) {
        await this.security.denied(principal, 403, { entityType: 'leaderboard', entityId: `${slug}/${name}`, route });
        throw new DomainError(ErrorCode.Forbidden, 'comparing needs a grant on the benchmark or on both submissions');
      }
    }
    return this.leaderboards.compare(slug, name, a, b);
  }
}
