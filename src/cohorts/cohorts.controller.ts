import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { join } from 'node:path';
import { Access, STAFF_ONLY } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { GrantsService } from '../grants/grants.service';
import { Role } from '../auth/auth.entity';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { BODY_LIMITS, BodyLimit } from '../common/json-body';
import { validateCohortDescriptor } from './cohort-ingest';
import { CohortResponse, CohortVersionResponse, CreateCohortVersionDto, toCohortResponse, toCohortVersionResponse } from './cohorts.dto';
import { CohortsService } from './cohorts.service';
import { validateImagingDescriptor } from './imaging-ingest';
import { COHORT_ARCHIVE_TYPES, withUnpackedCohort } from './imaging-upload';

@ApiTags('cohorts')
@ApiBearerAuth()
@Controller('api/cohorts')
export class CohortsController {
  constructor(
    private readonly cohorts: CohortsService,
    private readonly grants: GrantsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Staff: every cohort; a regulator: those behind what its grants cover. */
  private async visible(principal: Principal): Promise<Awaited<ReturnType<CohortsService['listCohorts']>>> {
    const all = await this.cohorts.listCohorts();
    if (principal.role !== Role.Regulator) return all;
    const ids = new Set(await this.grants.cohortIdsFor(principal));
    return all.filter((c) => ids.has(c.id));
  }

  @Get()
  @Roles(Role.Evaluator, Role.Regulator, Role.Admin)
  @Access({ ...STAFF_ONLY, regulator: '2xx', regulatorGranted: '2xx' })
  async list(@CurrentPrincipal() principal: Principal): Promise<CohortResponse[]> {
    return (await this.visible(principal)).map(toCohortResponse);
  }

  @Get(':slug/versions')
  @Roles(Role.Evaluator, Role.Regulator, Role.Admin)
  @Access({ ...STAFF_ONLY, regulator: '404', regulatorGranted: '2xx' })
  async versions(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string): Promise<CohortVersionResponse[]> {
    const cohort = (await this.visible(principal)).find((c) => c.slug === slug);
    if (!cohort) {
      if (principal.role === Role.Regulator && (await this.cohorts.listCohorts()).some((c) => c.slug === slug)) await this.grants.deny(principal, 'cohort', slug, 'GET /api/cohorts/:slug/versions');
      throw notFound('cohort', slug);
    }
    return (await this.cohorts.listVersions(cohort.id)).map(toCohortVersionResponse);
  }

  @Post()
  @HttpCode(201)
  @BodyLimit(BODY_LIMITS.cohort)
  @Roles(Role.Evaluator, Role.Admin)
  @Access(STAFF_ONLY)
  @ApiOperation({ summary: 'Ingest a tabular cohort as an immutable, content-hashed version (every bad row is named; nothing is stored on error)' })
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateCohortVersionDto): Promise<CohortVersionResponse & { created: boolean }> {
    const descriptor = validateCohortDescriptor(body.descriptor, 'descriptor');
    const result = await this.cohorts.ingestTabular(actor, descriptor, Buffer.from(body.csv, 'utf8'));
    return { ...toCohortVersionResponse(result.version), created: result.created };
  }

  @Post('imaging')
  @HttpCode(201)
  @Roles(Role.Evaluator, Role.Admin)
  @Access(STAFF_ONLY)
  @ApiConsumes(...COHORT_ARCHIVE_TYPES)
  @ApiBody({ description: 'A tar archive (optionally gzip-compressed) of a cohort folder: cohort.yaml (format: imaging) at its root or inside one top-level folder, with the cases table, images (NIfTI, MetaImage or DICOM series) and masks and/or lesions it names. No links; ASSAY_MAX_COHORT_ARCHIVE_BYTES as sent and as unpacked.', schema: { type: 'string', format: 'binary' } })
  @ApiOperation({
    summary: 'Ingest an imaging cohort from a tar archive as an immutable, content-hashed version',
    description: 'Every case is read, its geometry checked (mask on the image grid) and rewritten as canonical NIfTI before anything is stored; a bad file is named in the 4xx and nothing is kept. Re-sending identical content answers created: false.',
  })
  async createImaging(@CurrentPrincipal() actor: Principal, @Req() req: Request): Promise<CohortVersionResponse & { created: boolean }> {
    return withUnpackedCohort(req, join(this.config.dataDir, 'work'), this.config.limits.maxCohortArchiveBytes, async (cohort) => {
      const descriptor = validateImagingDescriptor(cohort.descriptor, 'cohort.yaml');
      if (descriptor.generator) {
        throw new DomainError(ErrorCode.InvalidCohort, 'cohort.yaml.generator: generated (SYNTHETIC) cohorts are made from the catalogue, not uploaded', [{ field: 'cohort.yaml.generator', problem: 'not accepted over HTTP' }]);
      }
      const result = await this.cohorts.ingestImaging(actor, descriptor, cohort.source);
      return { ...toCohortVersionResponse(result.version), created: result.created };
    });
  }
}
