import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Access, EVERY_ROLE, OWNER_STAFF_GRANTED } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { SecurityAudit } from '../auth/security-audit.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { canonicalJson } from '../common/canonical-json';
import { StorageService } from '../storage/storage.service';
import { ReportDetailResponse, ReportQueuedResponse, ReportRequestDto, ReportSummaryResponse, toReportDetail, toReportSummary } from './reports.dto';
import { ReportsService } from './reports.service';

const READERS = [Role.Vendor, Role.Evaluator, Role.Admin, Role.Regulator];
/**
 * The fixture report is the vendor form of the fixture vendor's held-out run, whose leaderboard the fixture hides: staff
 * and a granted regulator read it; its owner no longer does (a hidden phase withdraws the vendor form); others 404.
 */
/** The fixture report (a hidden held-out phase): staff and a granted regulator read it; its vendor form is withdrawn while the phase is hidden. */
export const REPORT_READERS = { ...OWNER_STAFF_GRANTED, vendor: '404' } as const;
/** The report's HTML carries its own inline style and SVG only: nothing else may load or run. */
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

@ApiTags('reports')
@ApiBearerAuth()
@Controller('api/reports')
export class ReportsController {
  constructor(
    private readonly reports: ReportsService,
    private readonly storage: StorageService,
    private readonly security: SecurityAudit,
  ) {}

  @Get()
  @Roles(...READERS)
  @Access(EVERY_ROLE)
  @ApiQuery({ name: 'run', required: false, description: 'only the reports of this run' })
  @ApiOkResponse({ type: [ReportSummaryResponse] })
  @ApiOperation({ summary: 'Validation reports the caller may read: staff all, a regulator what its grants cover, a vendor its own submissions’ vendor-form reports' })
  async list(@CurrentPrincipal() principal: Principal, @Query('run') run?: unknown): Promise<ReportSummaryResponse[]> {
    if (run !== undefined && (typeof run !== 'string' || !/^[0-9a-f-]{36}$/i.test(run))) throw new DomainError(ErrorCode.ValidationFailed, 'run must be a run id (UUID)', [{ field: 'run', problem: 'must be a UUID' }]);
    return (await this.reports.list(principal, run ? { runId: run } : {})).map(toReportSummary);
  }

  @Get(':id')
  @Roles(...READERS)
  @Access(REPORT_READERS)
  @ApiOkResponse({ type: ReportDetailResponse })
  @ApiOperation({ summary: 'A report’s metadata and its signed evidence record' })
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<ReportDetailResponse> {
    return toReportDetail(await this.reports.readable(principal, id, 'GET /api/reports/:id'));
  }

  @Get(':id/evidence.json')
  @Roles(...READERS)
  @Access(REPORT_READERS)
  @ApiProduces('application/json')
  @ApiOperation({ summary: 'Download evidence.json: the evidence record and its Ed25519 signature (SignedEvidence)' })
  async evidence(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Res() res: Response): Promise<void> {
    const report = await this.reports.readable(principal, id, 'GET /api/reports/:id/evidence.json');
    await this.security.download(principal, { action: 'download.report', entityType: 'validation_report', entityId: report.id });
    res
      .set({ 'Content-Type': 'application/json; charset=utf-8', 'Content-Disposition': `attachment; filename="assay-report-${report.id}.evidence.json"`, 'X-Content-Type-Options': 'nosniff' })
      .send(canonicalJson(report.evidence));
  }

  @Get(':id/report.html')
  @Roles(...READERS)
  @Access(REPORT_READERS)
  @ApiProduces('text/html')
  @ApiQuery({ name: 'download', required: false, enum: ['1'], description: '1: as an attachment' })
  @ApiOperation({ summary: 'The rendered, sealed HTML report (self-contained; served with a CSP that allows its inline style only)' })
  async html(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query('download') download: unknown, @Res() res: Response): Promise<void> {
    const report = await this.reports.readable(principal, id, 'GET /api/reports/:id/report.html');
    await this.security.download(principal, { action: 'download.report', entityType: 'validation_report', entityId: report.id });
    const bytes = await this.storage.getBuffer('reports', report.htmlKey);
    res
      .set({
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': REPORT_CSP,
        'X-Content-Type-Options': 'nosniff',
        'Content-Disposition': `${download === '1' ? 'attachment' : 'inline'}; filename="assay-report-${report.id}.html"`,
      })
      .send(bytes);
  }

  @Get(':id/report.pdf')
  @Roles(...READERS)
  @Access(REPORT_READERS)
  @ApiProduces('application/pdf')
  @ApiOperation({ summary: 'Download the sealed PDF report (evidence.json attached)' })
  async pdf(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Res() res: Response): Promise<void> {
    const report = await this.reports.readable(principal, id, 'GET /api/reports/:id/report.pdf');
    await this.security.download(principal, { action: 'download.report', entityType: 'validation_report', entityId: report.id });
    const bytes = await this.storage.getBuffer('reports', report.pdfKey);
    res.set({ 'Content-Type': 'application/pdf', 'Content-Disposition': `attachment; filename="assay-report-${report.id}.pdf"`, 'X-Content-Type-Options': 'nosniff' }).send(bytes);
  }
}

@ApiTags('reports')
@ApiBearerAuth()
@Controller('api/runs')
export class RunReportsController {
  constructor(private readonly reports: ReportsService) {}

  @Post(':id/report')
  @HttpCode(202)
  @Roles(Role.Vendor, Role.Evaluator, Role.Admin)
  // The fixture run is held out and its leaderboard hidden: the owner is answered 409 (no vendor form before release).
  @Access({ anonymous: '401', vendor: '2xx', vendorOther: '404', evaluator: '2xx', regulator: '403', regulatorGranted: '403', admin: '2xx' })
  @ApiAcceptedResponse({ type: ReportQueuedResponse })
  @ApiOperation({ summary: 'Queue the validation report of a finished run: staff get the full form (with chosen comparators) and the vendor form where allowed; the owning vendor the vendor form' })
  request(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: ReportRequestDto): Promise<ReportQueuedResponse> {
    return this.reports.request(principal, id, body.comparators ?? []);
  }

  @Get(':id/audit')
  @Roles(Role.Evaluator, Role.Admin, Role.Regulator)
  @Access({ anonymous: '401', vendor: '403', vendorOther: '403', evaluator: '2xx', regulator: '404', regulatorGranted: '2xx', admin: '2xx' })
  @ApiQuery({ name: 'after', required: false, description: 'sequence number to start after (default 0)' })
  @ApiQuery({ name: 'limit', required: false, description: 'at most this many entries (1-1000, default 100)' })
  @ApiOperation({ summary: 'The audit trail of one run (entries on the run, its submission and its reports): staff, or a regulator whose grant covers it' })
  async audit(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Query('after') after?: unknown, @Query('limit') limit?: unknown): Promise<unknown[]> {
    const int = (v: unknown, field: string, fallback: number): number => {
      if (v === undefined) return fallback;
      if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new DomainError(ErrorCode.ValidationFailed, `${field} must be a non-negative integer`, [{ field, problem: 'must be a non-negative integer' }]);
      return Number(v);
    };
    const rows = await this.reports.runAudit(principal, id, int(after, 'after', 0), int(limit, 'limit', 100));
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }
}
