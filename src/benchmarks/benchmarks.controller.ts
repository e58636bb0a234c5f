import { Body, Controller, Get, HttpCode, Param, Patch, Post, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Access, EVERY_ROLE, STAFF_ONLY } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { SecurityAudit } from '../auth/security-audit.service';
import { Role } from '../auth/auth.entity';
import { CohortsService } from '../cohorts/cohorts.service';
import { BODY_LIMITS, BodyLimit } from '../common/json-body';
import { StorageService } from '../storage/storage.service';
import { BenchmarkResponse, PhaseResponse, toBenchmarkResponse, UpdatePhaseDto } from './benchmarks.dto';
import { BenchmarksService } from './benchmarks.service';

const ANY_ROLE = [Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin];

@ApiTags('benchmarks')
@ApiBearerAuth()
@Controller('api/benchmarks')
export class BenchmarksController {
  constructor(
    private readonly benchmarks: BenchmarksService,
    private readonly cohorts: CohortsService,
    private readonly storage: StorageService,
    private readonly security: SecurityAudit,
  ) {}

  @Get()
  @Roles(...ANY_ROLE)
  @Access(EVERY_ROLE)
  async list(): Promise<BenchmarkResponse[]> {
    const all = await this.benchmarks.listAll();
    return Promise.all(all.map(async (b) => toBenchmarkResponse(await this.benchmarks.resolveCurrent(b.slug))));
  }

  @Get(':slug')
  @Roles(...ANY_ROLE)
  @Access(EVERY_ROLE)
  async get(@Param('slug') slug: string): Promise<BenchmarkResponse> {
    return toBenchmarkResponse(await this.benchmarks.resolveCurrent(slug));
  }

  @Post()
  @HttpCode(201)
  @BodyLimit(BODY_LIMITS.benchmarkDefinition)
  @Roles(Role.Evaluator, Role.Admin)
  @Access(STAFF_ONLY)
  @ApiOperation({ summary: 'Create a benchmark (or a new version of one) from the benchmark.yaml schema; invalid definitions are rejected field by field' })
  @ApiBody({ schema: { type: 'object', description: 'Same schema as benchmarks/<slug>/benchmark.yaml' } })
  async create(@CurrentPrincipal() actor: Principal, @Body() body: unknown): Promise<BenchmarkResponse & { created: boolean }> {
    const { version, created } = await this.benchmarks.upsertDefinition(actor, body, 'api');
    return { ...toBenchmarkResponse(await this.benchmarks.resolveCurrent(version.definition.slug)), created };
  }

  @Patch(':slug/phases/:phase')
  @Roles(Role.Evaluator, Role.Admin)
  @Access(STAFF_ONLY)
  @ApiOperation({ summary: 'Open or close a phase, release or hide its leaderboard (audited)' })
  async updatePhase(@CurrentPrincipal() actor: Principal, @Param('slug') slug: string, @Param('phase') phase: string, @Body() body: UpdatePhaseDto): Promise<PhaseResponse> {
    const p = await this.benchmarks.updatePhase(actor, slug, phase, body);
    return { name: p.name, split: p.split, status: p.status, leaderboard: p.leaderboardVisibility };
  }

  @Get(':slug/sample-data')
  @Roles(...ANY_ROLE)
  @Access(EVERY_ROLE)
  @ApiProduces('text/csv')
  @ApiOperation({ summary: "The benchmark's sample split with labels, for vendors to self-test (case_id,label,features…; label 1 = positive)" })
  async sampleData(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string): Promise<StreamableFile> {
    const { version } = await this.benchmarks.resolveCurrent(slug);
    await this.security.download(principal, { action: 'download.sample_data', entityType: 'benchmark_version', entityId: version.id });
    const cohortVersion = await this.cohorts.requireVersion(version.cohortVersionId);
    const file = this.cohorts.fileOf(cohortVersion, 'inputs', 'sample/sample-with-labels.csv');
    return new StreamableFile(await this.storage.getStream('inputs', file.key), {
      type: 'text/csv',
      disposition: `attachment; filename="${slug}-sample.csv"`,
    });
  }
}
