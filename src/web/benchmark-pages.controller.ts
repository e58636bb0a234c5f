import { Controller, Get, Header, Param, ParseUUIDPipe, Post, Query, Req, Res, UseFilters, UseInterceptors } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access, EVERY_ROLE, STAFF_ONLY } from '../auth/access.decorator';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { toBenchmarkResponse, UpdatePhaseDto } from '../benchmarks/benchmarks.dto';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { GrantsService } from '../grants/grants.service';
import { CreateGrantDto } from '../grants/grants.dto';
import type { LeaderboardResponse } from '../leaderboards/leaderboards.dto';
import { ApiHandlers } from './api-handlers';
import { Form, FormFields, FormRoute } from './form-body';
import { HtmlCompressionInterceptor } from './html-compression.interceptor';
import { FragmentSlots, HtmlPage } from './html-page';
import { rankPlotSvg } from './rank-plot';
import { validateForm } from './validate-form';
import { safeNext, WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

const ANY_ROLE = [Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin];
type PageRequest = Request & AuthenticatedRequest;

/** A leaderboard as the page shows it: the API's response, its plot, and the rounding rule in words. */
export interface LeaderboardView {
  phase: string;
  status: string;
  visibility: string;
  board: LeaderboardResponse | null;
  plot: string | null;
  rule: string | null;
  /** Where the phase's section (leaderboard-section.njk, kept as bytes) goes in the page: its FragmentSlots marker. */
  html: string;
}

/** The rule the API applied to these values, said in words (held-out feedback; METRICS.md). */
export function roundingRule(board: LeaderboardResponse): string | null {
  if (board.fullPrecision) return `Full precision (your role sees unrounded values and counts). Public readers see values rounded to ${board.precision} decimal places${board.feedback.mechanism === 'round' ? '' : ` through the ${board.feedback.mechanism} mechanism${board.feedback.step !== null ? ` (step ${board.feedback.step})` : ''}`}.`;
  if (board.feedback.mechanism === 'round') return `Values are rounded to ${board.precision} decimal places; counts are not shown.`;
  return `The primary metric is shown through the ${board.feedback.mechanism} mechanism${board.feedback.step !== null ? ` (it changes only by at least ${board.feedback.step})` : ''}; other values are rounded to ${board.precision} decimal places; counts are not shown.`;
}

/**
 * The rank plot and the rendered section of a leaderboard page, drawn once per served page: the view cache hands out
 * the same frozen response for a page until the board is rebuilt (LeaderboardViewCache), so what is drawn from it is
 * kept with it and goes with it. The section also shows the phase's status and visibility and the benchmark's
 * metrics, which change without a rebuild (an evaluator releases a phase): they are part of the section's key. It
 * shows nothing of the reader beyond the board's own view (public or full precision), which the page already is.
 * Rendering the 100-row table per request held the page at about 100 requests/s (perf/RESULTS.md). Kept as UTF-8
 * bytes, spliced into the page as they are (HtmlPage).
 */
const plots = new WeakMap<LeaderboardResponse, string | null>();
const sections = new WeakMap<LeaderboardResponse, Map<string, Buffer>>();
const SECTIONS_PER_PAGE = 8;

function plotOf(board: LeaderboardResponse, phase: string): string | null {
  if (plots.has(board)) return plots.get(board) as string | null;
  const plot = rankPlotSvg(
    board.rows.map((r) => ({ label: `${r.organisation} · ${r.submission}`, rank: r.rank, medianRank: r.medianRank, rankInterval: r.rankInterval, rankShare: r.rankShare, rankShareFrom: r.rankShareFrom })),
    { id: `rank-plot-${phase}`, title: `Rank distribution over bootstrap replicates, phase ${phase}` },
  );
  plots.set(board, plot);
  return plot;
}

type SectionData = Omit<LeaderboardView, 'html'>;

function sectionOf(views: WebViews, lb: SectionData, slug: string, metrics: string[]): Buffer {
  const render = () => Buffer.from(views.renderFragment('leaderboard-section', { lb, metrics, benchmark: { slug } }), 'utf8');
  if (!lb.board) return render();
  const key = JSON.stringify([slug, lb.phase, lb.status, lb.visibility, lb.rule, metrics]);
  let kept = sections.get(lb.board);
  if (!kept) sections.set(lb.board, (kept = new Map()));
  const hit = kept.get(key);
  if (hit !== undefined) return hit;
  const html = render();
  if (kept.size >= SECTIONS_PER_PAGE) kept.delete(kept.keys().next().value as string);
  kept.set(key, html);
  return html;
}

/** The benchmark catalogue, a benchmark with its leaderboards, and the evaluator's page to release phases and grant regulators. */
@ApiExcludeController()
@UseFilters(WebExceptionFilter)
@UseInterceptors(HtmlCompressionInterceptor)
@Controller()
export class BenchmarkPagesController {
  constructor(
    private readonly views: WebViews,
    private readonly api: ApiHandlers,
    private readonly grantsService: GrantsService,
    private readonly benchmarksService: BenchmarksService,
  ) {}

  @Get()
  @Roles(...ANY_ROLE)
  @Access(EVERY_ROLE)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async catalogue(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal): Promise<string> {
    const benchmarks = await this.api.benchmarks.list();
    return this.views.render(req, 'catalogue', { title: 'Benchmarks', benchmarks, principal });
  }

  @Get('benchmarks/:slug')
  @Roles(...ANY_ROLE)
  @Access(EVERY_ROLE)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async benchmark(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Param('slug') slug: string): Promise<HtmlPage> {
    // The benchmark as GET /api/benchmarks/:slug answers, resolved once for the page and all its phases' boards.
    const resolved = await this.benchmarksService.resolveCurrent(slug);
    const benchmark = toBenchmarkResponse(resolved);
    // The cohort's description and attribution: for those the cohort API serves (staff, regulators with a grant).
    const cohort = principal.role === Role.Vendor ? null : ((await this.api.cohorts.list(principal)).find((c) => c.slug === benchmark.definition.cohort.slug) ?? null);
    const mayReadHidden = await this.grantsService.mayReadBenchmark(principal, slug);
    const metrics = [benchmark.definition.metrics.primary, ...(benchmark.definition.metrics.secondary ?? [])];
    const leaderboards: LeaderboardView[] = [];
    const slots = new FragmentSlots();
    for (const phase of benchmark.phases) {
      let lb: SectionData;
      // A hidden board the caller may not read is "not released" (the API answers 404 for it, and audits the refusal).
      if (phase.leaderboard === 'hidden' && !mayReadHidden) {
        lb = { phase: phase.name, status: phase.status, visibility: phase.leaderboard, board: null, plot: null, rule: null };
      } else {
        // The API's default page (the first LEADERBOARD_DEFAULT_LIMIT rows), through the same handler as GET …/leaderboard.
        const board = (await this.api.leaderboards.page(principal, slug, phase.name, undefined, { resolved, granted: mayReadHidden })).response;
        lb = { phase: phase.name, status: phase.status, visibility: phase.leaderboard, board, plot: plotOf(board, phase.name), rule: roundingRule(board) };
      }
      leaderboards.push({ ...lb, html: slots.slot(sectionOf(this.views, lb, benchmark.slug, metrics)) });
    }
    return this.views.renderPage(req, 'benchmark', { title: benchmark.title, benchmark, cohort, leaderboards, metrics, principal }, slots);
  }

  @Get('benchmarks/:slug/manage')
  @Roles(Role.Evaluator, Role.Admin)
  @Access(STAFF_ONLY)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async manage(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Param('slug') slug: string, @Query('done') _done?: string, @Query('n') _n?: string): Promise<string> {
    const benchmark = await this.api.benchmarks.get(slug);
    const { benchmark: entity } = await this.benchmarksService.resolveCurrent(slug);
    const grants = (await this.api.grants.list(principal)).filter((g) => g.benchmarkId === entity.id);
    return this.views.render(req, 'manage', { title: `Manage ${benchmark.title}`, benchmark, grants });
  }

  /** Open or close a phase, release or hide its leaderboard: the API's PATCH /api/benchmarks/:slug/phases/:phase. */
  @Post('benchmarks/:slug/phases/:phase')
  @Roles(Role.Evaluator, Role.Admin)
  @FormRoute()
  @Access(STAFF_ONLY)
  async updatePhase(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Param('slug') slug: string, @Param('phase') phase: string, @Form() form: FormFields, @Res() res: Response): Promise<void> {
    const patch = await validateForm(UpdatePhaseDto, form);
    if (patch.status === undefined && patch.leaderboard === undefined) throw new DomainError(ErrorCode.ValidationFailed, 'choose what to change: status or leaderboard', [{ field: 'leaderboard', problem: 'missing' }]);
    const p = await this.api.benchmarks.updatePhase(actor, slug, phase, patch);
    res.redirect(303, await this.views.noticeUrl(req, `/benchmarks/${encodeURIComponent(slug)}/manage`, `Phase ${p.name}: ${p.status}, leaderboard ${p.leaderboard}.`));
  }

  /** Grant a regulator a benchmark (staff) or a submission (also its vendor): the API's POST /api/grants. */
  @Post('grants')
  @Roles(Role.Admin, Role.Evaluator, Role.Vendor)
  @FormRoute()
  @Access({ anonymous: '401', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '403', regulatorGranted: '403', admin: '2xx' })
  async createGrant(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Form() form: FormFields, @Res() res: Response): Promise<void> {
    const body = await validateForm(CreateGrantDto, form, ['back']);
    await this.api.grants.create(actor, body);
    res.redirect(303, await this.views.noticeUrl(req, safeNext(form['back']), `Granted ${body.regulatorEmail} read access.`));
  }

  /** Revoke a grant: the API's DELETE /api/grants/:id. */
  @Post('grants/:id/revoke')
  @Roles(Role.Admin, Role.Evaluator, Role.Vendor)
  @FormRoute()
  @Access({ anonymous: '401', vendor: '2xx', vendorOther: '404', evaluator: '2xx', regulator: '403', regulatorGranted: '403', admin: '2xx' })
  async revokeGrant(@Req() req: PageRequest, @CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string, @Form() form: FormFields, @Res() res: Response): Promise<void> {
    await this.api.grants.revoke(actor, id);
    res.redirect(303, await this.views.noticeUrl(req, safeNext(form['back']), 'Grant revoked.'));
  }
}

