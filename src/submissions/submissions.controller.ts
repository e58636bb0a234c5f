import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Access, VENDOR_ONLY } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { INTENDED_USE_FIELD_DOC, QuotaResponse, SubmissionResponse } from './submissions.dto';
import { SubmissionsService } from './submissions.service';

@ApiTags('submissions')
@ApiBearerAuth()
/** Intake: uploads and the quota. Reading a submission with its runs is the runs side's (SubmissionViewController). */
@Controller('api/submissions')
export class SubmissionsController {
  constructor(private readonly submissions: SubmissionsService) {}

  @Post()
  @HttpCode(202)
  @Roles(Role.Vendor)
  @Access(VENDOR_ONLY)
  @ApiConsumes('multipart/form-data')
  @ApiOperation({
    summary: 'Submit an ONNX model (streamed, sha256-pinned, size-limited); it is checked in the sandbox before runs start',
    description: 'Answers 202 with the submission in `validating` once the file is stored and the check is queued; follow GET /api/submissions/:id until `accepted` or `rejected` (with the reason naming the field and the problem).',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['benchmark', 'manifest', 'model'],
      properties: {
        benchmark: { type: 'string', example: 'wdbc-malignancy' },
        manifest: { type: 'string', description: 'JSON: {"name","version","inputs":{"features":"<tensor>"},"outputs":{"probability":"<tensor>"}}' },
        intendedUse: INTENDED_USE_FIELD_DOC,
        model: { type: 'string', format: 'binary', description: 'model.onnx (send the text fields first)' },
      },
    },
  })
  upload(@CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<SubmissionResponse> {
    return this.submissions.uploadOnnx(principal, req);
  }

  @Post('container')
  @HttpCode(202)
  @Roles(Role.Vendor)
  @Access(VENDOR_ONLY)
  @ApiConsumes('multipart/form-data')
  @ApiOperation({
    summary: 'Submit a container image (`docker save` tarball, .tar or .tar.gz; streamed, sha256-pinned, size-limited)',
    description: 'The worker inspects the tarball before loading it (non-root user, architecture, entrypoint, one image, no escaping layer paths, size and decompression limits); answers 202 with the submission in `validating`; a rejected image shows its reason code on GET /api/submissions/:id.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['benchmark', 'name', 'version', 'image'],
      properties: {
        benchmark: { type: 'string', example: 'wdbc-malignancy' },
        name: { type: 'string', example: 'acme-classifier' },
        version: { type: 'string', example: '2.1.0' },
        description: { type: 'string' },
        intendedUse: INTENDED_USE_FIELD_DOC,
        image: { type: 'string', format: 'binary', description: 'the `docker save` tarball (send the text fields first)' },
      },
    },
  })
  uploadContainer(@CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<SubmissionResponse> {
    return this.submissions.uploadContainer(principal, req);
  }

  @Get('quota/:benchmark')
  @Roles(Role.Vendor)
  @Access(VENDOR_ONLY)
  @ApiOperation({ summary: "Your organisation's submissions against a benchmark's limits (Assay's own failures are shown but not counted)" })
  quota(@CurrentPrincipal() principal: Principal, @Param('benchmark') benchmark: string): Promise<QuotaResponse> {
    return this.submissions.quota(principal, benchmark);
  }
}
