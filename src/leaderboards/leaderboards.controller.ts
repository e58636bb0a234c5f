import { Controller, Get, Param, ParseUUIDPipe, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiBearerAuth, ApiExtraModels, ApiHeader, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { SecurityAudit } from '../auth/security-audit.service';
import { BenchmarksService, type ResolvedBenchmark } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { GrantsService } from '../grants/grants.service';
import { Role } from '../auth/auth.entity';
import { ComparisonResponse, LeaderboardMetricResponse, LeaderboardResponse } from './leaderboards.dto';
import { LeaderboardsService } from './leaderboards.service';
import { LEADERBOARD_DEFAULT_LIMIT, LEADERBOARD_MAX_LIMIT, LeaderboardPage, SerializedLeaderboard } from './leaderboard-views';

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
  @ApiQuery({ name: 'limit', required: false, description: `Rows in the page, 1..${LEADERBOARD_MAX_LIMIT} (default ${LEADERBOARD_DEFAULT_LIMIT})` })
  @ApiQuery({ name: 'offset', required: false, description: 'Rows skipped, in rank order (default 0)' })
  @ApiHeader({ name: 'If-None-Match', required: false, description: "The page's ETag: 304 without a body while the page is unchanged" })
  @ApiOperation({ summary: 'Ranked rows with primary and secondary metrics and their 95% CIs, for published phases, a page at a time (total, offset, limit)' })
  @ApiOkResponse({ type: LeaderboardResponse })
  async read(
    @CurrentPrincipal() principal: Principal,
    @Param('slug') slug: string,
    @Req() req: Request,
    @Res() res: Response,
    @Query('phase') phase?: string,
    @Query('limit') limit?: unknown,
    @Query('offset') offset?: unknown,
  ): Promise<void> {
    const page = { limit: pageParam('limit', limit, LEADERBOARD_DEFAULT_LIMIT, 1, LEADERBOARD_MAX_LIMIT), offset: pageParam('offset', offset, 0, 0, Number.MAX_SAFE_INTEGER) };
    const served = await this.page(principal, slug, phase ?? 'test', page);
    // The page's bytes as kept per rebuild; gzip when the client takes it.
    res.setHeader('Vary', 'Accept-Encoding');
    res.setHeader('ETag', served.etag);
    if (matches(req.headers['if-none-match'], served.etag)) {
      res.status(304).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) res.setHeader('Content-Encoding', 'gzip');
    const bytes = gzip ? served.gzip : served.json;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', String(bytes.length));
    res.status(200).end(bytes);
  }

  /** One page of the board as this caller may see it, with the route's refusals audited: what GET …/leaderboard sends, and what the web page shows. */
  async page(
    principal: Principal,
    slug: string,
    name: string,
    page: { offset: number; limit: number } = { offset: 0, limit: LEADERBOARD_DEFAULT_LIMIT },
    read?: { resolved: ResolvedBenchmark; granted: boolean },
  ): Promise<LeaderboardPage> {
    return (await this.board(principal, slug, name, read)).page(page.offset, page.limit);
  }

  /**
   * The board as this caller may see it, with the route's refusals audited: what GET …/leaderboard sends, and what
   * the web page shows. A page showing several phases passes the benchmark it resolved (for `slug`) and the caller's
   * grant on it, read once for all of them.
   */
  async board(principal: Principal, slug: string, name: string, read?: { resolved: ResolvedBenchmark; granted: boolean }): Promise<SerializedLeaderboard> {
    if (read && read.resolved.benchmark.slug !== slug) throw new Error(`board: resolved benchmark '${read.resolved.benchmark.slug}' is not '${slug}'`);
    const granted = read ? read.granted : await this.grants.mayReadBenchmark(principal, slug);
    const resolved = read ? read.resolved : await this.benchmarks.resolveCurrent(slug);
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

/** A paging parameter: absent → the default; else a decimal integer in [min, max], or 400 naming the field. */
function pageParam(field: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const text = typeof raw === 'string' ? raw : '';
  const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const problem = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    throw new DomainError(ErrorCode.ValidationFailed, `${field}: ${problem}`, [{ field, problem }]);
  }
  return value;
}

/** Whether an If-None-Match header names this strong ETag (or is `*`); weak comparison, as RFC 9110 asks for GET. */
function matches(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = (Array.isArray(header) ? header.join(',') : header).split(',').map((t) => t.trim().replace(/^W\//, ''));
  return tags.includes('*') || tags.includes(etag);
}
