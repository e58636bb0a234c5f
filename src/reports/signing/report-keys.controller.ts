import { Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiQuery, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access, AccessTable } from '../../auth/access.decorator';
import { Public } from '../../auth/auth.decorators';
import { SecurityAudit } from '../../auth/security-audit.service';
import { DomainError, ErrorCode, FieldProblem } from '../../common/domain-error';
import { ReportsRepository } from '../reports.repository';
import { KEY_ID_PATTERN, SHA256_HEX_PATTERN, SIGNATURE_PATTERN } from './ed25519';
import { readRawBody, VERIFY_BODY_LIMIT, VERIFY_CONTENT_TYPES } from './raw-body';
import { ReportKeyStore } from './report-keys';
import { DigestVerifyWithReportResponse, PublicKeysResponse, VerifyResponse } from './report-keys.dto';
import { keyLookupOf, verifyDigestSignature, verifyReport } from './verify';

/** Anyone may verify a report, signed in or not: that is the point of publishing the keys. */
const ANYONE: AccessTable = { anonymous: '2xx', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' };

/**
 * Verifying a file parses up to VERIFY_BODY_LIMIT bytes (a PDF's objects, an HTML page) for anyone, unauthenticated:
 * per source IP at most this many a minute (Redis counters shared by every API process), then 429 with Retry-After.
 */
export const VERIFY_FILE_RATE = { max: 60, windowS: 60 } as const;

const FIELD_RULES = {
  evidenceSha256: { pattern: SHA256_HEX_PATTERN, problem: 'must be 64 lower-case hex digits (sha256)' },
  keyId: { pattern: KEY_ID_PATTERN, problem: 'must look like ed25519-<16 lower-case hex digits>' },
  signature: { pattern: SIGNATURE_PATTERN, problem: 'must be an Ed25519 signature in base64url (86 characters, no padding)' },
} as const;

@ApiTags('reports')
@Controller('api/reports')
export class ReportKeysController {
  constructor(
    private readonly keys: ReportKeyStore,
    private readonly security: SecurityAudit,
    private readonly reports: ReportsRepository,
  ) {}

  @Get('keys')
  @Public()
  @Access(ANYONE)
  @ApiOkResponse({ type: PublicKeysResponse })
  @ApiOperation({ summary: 'The public keys that sign validation reports, with their ids; retired keys stay listed (old reports stay verifiable)' })
  async list(): Promise<PublicKeysResponse> {
    return { keys: await this.keys.publicKeys() };
  }

  @Get('verify')
  @Public()
  @Access(ANYONE)
  @ApiQuery({ name: 'evidenceSha256', description: 'the evidence hash printed on the report' })
  @ApiQuery({ name: 'keyId', description: 'the key id printed on the report' })
  @ApiQuery({ name: 'signature', description: "the report's hash signature (signature.digestValue, base64url)" })
  @ApiOkResponse({ type: DigestVerifyWithReportResponse })
  @ApiOperation({ summary: "Checks Assay's signature over a claimed evidence hash (for a reader holding only what the report prints), says which key or signature does not match, and names the report signed under that hash (benchmark, phase, submission, primary endpoint) to compare with the page" })
  async verifyDigest(@Query('evidenceSha256') evidenceSha256: unknown, @Query('keyId') keyId: unknown, @Query('signature') signature: unknown): Promise<DigestVerifyWithReportResponse> {
    const given = { evidenceSha256, keyId, signature };
    const problems: FieldProblem[] = [];
    for (const [field, rule] of Object.entries(FIELD_RULES)) {
      const value = given[field as keyof typeof given];
      if (value === undefined || value === '') problems.push({ field, problem: 'missing' });
      else if (typeof value !== 'string' || !rule.pattern.test(value)) problems.push({ field, problem: rule.problem });
    }
    if (problems.length > 0) throw new DomainError(ErrorCode.ValidationFailed, `query: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
    const key = await this.keys.lookup(keyId as string);
    const verified = verifyDigestSignature({ evidenceSha256: evidenceSha256 as string, keyId: keyId as string, signature: signature as string }, (id) => (id === key?.keyId ? key : undefined));
    if (!verified.valid) return { ...verified, report: null };
    // A valid signature says only that Assay signed this hash. Which report that is (and what it says) is what a
    // reader must compare: a page that copied another report's hash, key and signature shows other content.
    const issued = await this.reports.issuedUnder(evidenceSha256 as string);
    if (!issued) return { valid: false, checks: [...verified.checks, { name: 'report-on-record', ok: false, detail: `Assay signed evidence ${evidenceSha256 as string} but holds no report issued under it` }], report: null };
    const r = issued.summary;
    const when = issued.current ? 'its current version' : `a version issued ${issued.issuedAt.toISOString()} and since superseded by a regeneration (GET /api/reports/${r.reportId} for the current one)`;
    return { valid: true, checks: [...verified.checks, { name: 'report-on-record', ok: true, detail: `report ${r.reportId}, ${when}: ${r.benchmark} v${r.benchmarkVersion}, phase ${r.phase}, ${r.submission} (${r.organisation}), ${r.audience} form, dated ${r.date}; compare these and the primary endpoint with the page` }], report: { ...r, current: issued.current } };
  }

  @Post('verify')
  @HttpCode(200)
  @Public()
  @Access(ANYONE)
  @ApiConsumes(...VERIFY_CONTENT_TYPES)
  @ApiBody({ description: `the report as downloaded: evidence.json, report.html or report.pdf (up to ${VERIFY_BODY_LIMIT / 1024 / 1024} MB)`, schema: { type: 'string', format: 'binary' } })
  @ApiOkResponse({ type: VerifyResponse })
  @ApiTooManyRequestsResponse({ description: `more than ${VERIFY_FILE_RATE.max} verifications a minute from this address (Retry-After says when to try again)` })
  @ApiOperation({ summary: 'Verifies a report file (JSON, HTML or PDF, told apart by content): valid, or each check that fails with what does not match (which hash, which key)' })
  async verifyFile(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<VerifyResponse> {
    // Counted before the body is read: a refused request costs a Redis round trip, not a parse.
    const wait = await this.security.throttled('verify-file', req.ip ?? req.socket.remoteAddress ?? 'unknown', VERIFY_FILE_RATE.max, VERIFY_FILE_RATE.windowS);
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      throw new DomainError(ErrorCode.TooManyRequests, `too many report verifications from this address (at most ${VERIFY_FILE_RATE.max} a minute); retry after ${wait} s`);
    }
    const bytes = await readRawBody(req, VERIFY_BODY_LIMIT, VERIFY_CONTENT_TYPES);
    return verifyReport(bytes, keyLookupOf(await this.keys.publicKeys()));
  }
}
