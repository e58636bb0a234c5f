import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, STAFF_ONLY } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { GrantsService } from '../grants/grants.service';
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
  constructor(
    private readonly cohorts: CohortsService,
    private readonly grants: GrantsService,
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
}
