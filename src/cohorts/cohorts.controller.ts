import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { notFound } from '../common/domain-error';
import { BODY_LIMITS, BodyLimit } from '../common/json-body';
import { validateCohortDescriptor } from './cohort-ingest';
import { CohortResponse, CohortVersionResponse, CreateCohortVersionDto, toCohortResponse, toCohortVersionResponse } from './cohorts.dto';
import { CohortsService } from './cohorts.service';

@ApiTags('cohorts')
@ApiBearerAuth()
@Controller('api/cohorts')
export class CohortsController {
  constructor(private readonly cohorts: CohortsService) {}

  @Get()
  @Roles(Role.Evaluator, Role.Regulator, Role.Admin)
  async list(): Promise<CohortResponse[]> {
    return (await this.cohorts.listCohorts()).map(toCohortResponse);
  }

  @Get(':slug/versions')
  @Roles(Role.Evaluator, Role.Regulator, Role.Admin)
  async versions(@Param('slug') slug: string): Promise<CohortVersionResponse[]> {
    const cohort = (await this.cohorts.listCohorts()).find((c) => c.slug === slug);
    if (!cohort) throw notFound('cohort', slug);
    return (await this.cohorts.listVersions(cohort.id)).map(toCohortVersionResponse);
  }

  @Post()
  @HttpCode(201)
  @BodyLimit(BODY_LIMITS.cohort)
  @Roles(Role.Evaluator, Role.Admin)
  @ApiOperation({ summary: 'Ingest a tabular cohort as an immutable, content-hashed version (every bad row is named; nothing is stored on error)' })
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateCohortVersionDto): Promise<CohortVersionResponse & { created: boolean }> {
    const descriptor = validateCohortDescriptor(body.descriptor, 'descriptor');
    const result = await this.cohorts.ingestTabular(actor, descriptor, Buffer.from(body.csv, 'utf8'));
    return { ...toCohortVersionResponse(result.version), created: result.created };
  }
}
