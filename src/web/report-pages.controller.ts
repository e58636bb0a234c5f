import { Controller, Get, Header, Param, Req, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request } from 'express';
import { Access, AccessTable } from '../auth/access.decorator';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import type { ReportDetailResponse } from '../reports/reports.dto';
import { REPORT_READERS } from '../reports/reports.controller';
import { ApiHandlers } from './api-handlers';
import { WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

type PageRequest = Request & AuthenticatedRequest;
const LIST_LIMIT = 200;

/** A report as its pages show it: the API's detail, with the names its evidence record carries. */
function listItem(r: ReportDetailResponse): { id: string; submissionId: string; benchmark: string; phase: string; evidenceSha256: string; keyId: string; createdAt: string; audience: string; submissionName: string; organisation: string } {
  const id = r.signed.evidence.identity;
  return {
    id: r.id,
    submissionId: r.submissionId,
    benchmark: `${id.benchmark.title} (${id.benchmark.slug} v${id.benchmark.version})`,
    phase: r.phase,
    evidenceSha256: r.evidenceSha256,
    keyId: r.keyId,
    createdAt: r.createdAt,
    audience: r.audience,
    submissionName: id.submission.name,
    organisation: id.submission.organisation,
  };
}
const READERS = [Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin];
/** Everyone signed in lists the reports it may read (a vendor: its own; a regulator: those granted). */
const REPORT_LIST: AccessTable = { anonymous: '401', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' };

/**
 * Validation reports: the list, and one report shown as its rendered HTML (the backend's report.html, framed from this
 * origin), with download links (HTML, PDF, evidence record) and a verify button (POST /api/reports/verify).
 */
@ApiExcludeController()
@UseFilters(WebExceptionFilter)
@Controller('reports')
export class ReportPagesController {
  constructor(
    private readonly views: WebViews,
    private readonly api: ApiHandlers,
  ) {}

  @Get()
  @Roles(...READERS)
  @Access(REPORT_LIST)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async list(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal): Promise<string> {
    // The list's rows name benchmark and submission from each record (what GET /api/reports/:id returns).
    const summaries = await this.api.reports.list(principal, undefined);
    const reports = await Promise.all(summaries.slice(0, LIST_LIMIT).map(async (r) => listItem(await this.api.reports.get(principal, r.id))));
    return this.views.render(req, 'reports', { title: 'Validation reports', reports });
  }

  @Get(':id')
  @Roles(...READERS)
  @Access(REPORT_READERS)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async report(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<string> {
    const report = listItem(await this.api.reports.get(principal, id));
    return this.views.render(req, 'report', { title: `Validation report ${report.id.slice(0, 8)}`, report });
  }
}
