import { Controller, Get, Header, Param, ParseUUIDPipe, Req, UseFilters } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request } from 'express';
import { Access, OWNER_STAFF_GRANTED, AccessTable } from '../auth/access.decorator';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { DomainError, ErrorCode } from '../common/domain-error';
import { ReportsForPages, WEB_REPORTS } from './report-pages.port';
import { WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

type PageRequest = Request & AuthenticatedRequest;
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
    private readonly modules: ModuleRef,
  ) {}

  private backend(): ReportsForPages {
    try {
      return this.modules.get<ReportsForPages>(WEB_REPORTS, { strict: false });
    } catch {
      throw new DomainError(ErrorCode.NotFound, 'validation reports are not available on this server (the reports module is not installed)');
    }
  }

  @Get()
  @Roles(...READERS)
  @Access(REPORT_LIST)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async list(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal): Promise<string> {
    const reports = await this.backend().list(principal);
    return this.views.render(req, 'reports', { title: 'Validation reports', reports });
  }

  @Get(':id')
  @Roles(...READERS)
  @Access(OWNER_STAFF_GRANTED)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async report(@Req() req: PageRequest, @CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<string> {
    const report = await this.backend().get(principal, id);
    return this.views.render(req, 'report', { title: `Validation report ${report.id.slice(0, 8)}`, report });
  }
}
