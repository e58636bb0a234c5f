import { Controller, Get, Header, Param, ParseUUIDPipe, Query, Req, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request } from 'express';
import { Access, EVERY_ROLE, OWNER_STAFF_GRANTED, VENDOR_ONLY } from '../auth/access.decorator';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { ApiHandlers } from './api-handlers';
import { WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

type PageRequest = Request & AuthenticatedRequest;
const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Submissions: the list, the upload forms, and one submission with its runs' live progress and results. */
@ApiExcludeController()
@UseFilters(WebExceptionFilter)
@Controller('submissions')
export class SubmissionPagesController {
  constructor(
    private readonly views: WebViews,
    private readonly api: ApiHandlers,
  ) {}

  @Get()
  @Roles(Role.Vendor, Role.Evaluator, Role.Admin, Role.Regulator)
  @Access(EVERY_ROLE)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async list(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal): Promise<string> {
    const submissions = await this.api.submissions.list(principal);
    return this.views.render(req, 'submissions', { title: 'Submissions', submissions });
  }

  /** The upload forms post to the API's own upload routes (XHR, with the CSRF header and upload progress). */
  @Get('new')
  @Roles(Role.Vendor)
  @Access(VENDOR_ONLY)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async upload(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Query('benchmark') benchmark?: string): Promise<string> {
    const benchmarks = (await this.api.benchmarks.list()).filter((b) => b.phases.some((p) => p.status === 'open'));
    const selected = benchmarks.find((b) => b.slug === benchmark)?.slug ?? benchmarks[0]?.slug ?? null;
    const quota = selected ? await this.api.intake.quota(principal, selected) : null;
    const manifest = selected ? manifestTemplate(benchmarks.find((b) => b.slug === selected)?.definition) : '';
    return this.views.render(req, 'upload', { title: 'Submit an algorithm', benchmarks, selected, quota, manifest });
  }

  @Get(':id')
  @Roles(Role.Vendor, Role.Evaluator, Role.Admin, Role.Regulator)
  @Access(OWNER_STAFF_GRANTED)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async submission(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Query('done') _done?: string, @Query('n') _n?: string): Promise<string> {
    const submission = await this.api.submissions.get(principal, id);
    // Each run as GET /api/runs/:id gives it: scores through the held-out feedback rules, detail only where allowed.
    const runs = [];
    for (const r of submission.runs) runs.push({ ...r, terminal: TERMINAL.includes(r.status), detail: TERMINAL.includes(r.status) ? await this.api.runs.get(principal, r.id) : null });
    const mayGrant = principal.role !== Role.Regulator;
    const grants = mayGrant ? (await this.api.grants.list(principal)).filter((g) => g.submissionId === id) : [];
    return this.views.render(req, 'submission', { title: `Submission ${submission.name}`, submission, runs, live: runs.some((r) => !r.terminal) || submission.status === 'validating', mayGrant, grants });
  }
}

/** A starting manifest for the benchmark's interface (the vendor maps names to its model's tensors). */
function manifestTemplate(definition: { interface?: { inputs?: { name: string }[]; outputs?: { name: string }[] } } | undefined): string {
  const inputs = Object.fromEntries((definition?.interface?.inputs ?? []).map((i) => [i.name, i.name]));
  const outputs = Object.fromEntries((definition?.interface?.outputs ?? []).map((o) => [o.name, o.name]));
  return JSON.stringify({ name: 'my-model', version: '1.0.0', inputs, outputs }, null, 2);
}
