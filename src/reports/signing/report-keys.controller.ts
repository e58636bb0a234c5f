import { Controller, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Access, AccessTable } from '../../auth/access.decorator';
import { Public } from '../../auth/auth.decorators';
import { DomainError, ErrorCode, FieldProblem } from '../../common/domain-error';
import { KEY_ID_PATTERN, SHA256_HEX_PATTERN, SIGNATURE_PATTERN } from './ed25519';
import { readRawBody, VERIFY_BODY_LIMIT, VERIFY_CONTENT_TYPES } from './raw-body';
import { ReportKeyStore } from './report-keys';
import { DigestVerifyResponse, PublicKeysResponse, VerifyResponse } from './report-keys.dto';
import { keyLookupOf, verifyDigestSignature, verifyReport } from './verify';

/** Anyone may verify a report, signed in or not: that is the point of publishing the keys. */
const ANYONE: AccessTable = { anonymous: '2xx', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' };

const FIELD_RULES = {
  evidenceSha256: { pattern: SHA256_HEX_PATTERN, problem: 'must be 64 lower-case hex digits (sha256)' },
  keyId: { pattern: KEY_ID_PATTERN, problem: 'must look like ed25519-<16 lower-case hex digits>' },
  signature: { pattern: SIGNATURE_PATTERN, problem: 'must be an Ed25519 signature in base64url (86 characters, no padding)' },
} as const;

@ApiTags('reports')
@Controller('api/reports')
export class ReportKeysController {
  constructor(private readonly keys: ReportKeyStore) {}

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
  @ApiOkResponse({ type: DigestVerifyResponse })
  @ApiOperation({ summary: "Checks Assay's signature over a claimed evidence hash (for a reader holding only what the report prints); says which key or signature does not match" })
  async verifyDigest(@Query('evidenceSha256') evidenceSha256: unknown, @Query('keyId') keyId: unknown, @Query('signature') signature: unknown): Promise<DigestVerifyResponse> {
    const given = { evidenceSha256, keyId, signature };
    const problems: FieldProblem[] = [];
    for (const [field, rule] of Object.entries(FIELD_RULES)) {
      const value = given[field as keyof typeof given];
      if (value === undefined || value === '') problems.push({ field, problem: 'missing' });
      else if (typeof value !== 'string' || !rule.pattern.test(value)) problems.push({ field, problem: rule.problem });
    }
    if (problems.length > 0) throw new DomainError(ErrorCode.ValidationFailed, `query: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
    const key = await this.keys.lookup(keyId as string);
    return verifyDigestSignature({ evidenceSha256: evidenceSha256 as string, keyId: keyId as string, signature: signature as string }, (id) => (id === key?.keyId ? key : undefined));
  }

  @Post('verify')
  @HttpCode(200)
  @Public()
  @Access(ANYONE)
  @ApiConsumes(...VERIFY_CONTENT_TYPES)
  @ApiBody({ description: `the report as downloaded: evidence.json, report.html or report.pdf (up to ${VERIFY_BODY_LIMIT / 1024 / 1024} MB)`, schema: { type: 'string', format: 'binary' } })
  @ApiOkResponse({ type: VerifyResponse })
  @ApiOperation({ summary: 'Verifies a report file (JSON, HTML or PDF, told apart by content): valid, or each check that fails with what does not match (which hash, which key)' })
  async verifyFile(@Req() req: Request): Promise<VerifyResponse> {
    const bytes = await readRawBody(req, VERIFY_BODY_LIMIT, VERIFY_CONTENT_TYPES);
    return verifyReport(bytes, keyLookupOf(await this.keys.publicKeys()));
  }
}
