import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { ComparisonResponse, LeaderboardMetricResponse, LeaderboardResponse } from './leaderboards.dto';
import { LeaderboardsService } from './leaderboards.service';

@ApiTags('leaderboards')
@ApiBearerAuth()
@ApiExtraModels(LeaderboardMetricResponse)
@Controller('api/benchmarks/:slug/leaderboard')
export class LeaderboardsController {
  constructor(private readonly leaderboards: LeaderboardsService) {}

  @Get()
  @Roles(Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin)
  @ApiQuery({ name: 'phase', required: false, description: "Phase name (default 'test')" })
  @ApiOperation({ summary: 'Ranked rows with primary and secondary metrics and their 95% CIs, for published phases' })
  read(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string, @Query('phase') phase?: string): Promise<LeaderboardResponse> {
    return this.leaderboards.read(principal, slug, phase ?? 'test');
  }

  @Get('compare')
  @Roles(Role.Evaluator, Role.Regulator, Role.Admin)
  @ApiQuery({ name: 'a', description: 'submission id of A' })
  @ApiQuery({ name: 'b', description: 'submission id of B' })
  @ApiQuery({ name: 'phase', required: false })
  @ApiOperation({ summary: 'Paired comparison of two entries on the same cases: difference A − B with 95% CI and p (paired DeLong, paired bootstrap, Wilcoxon), Holm-adjusted' })
  compare(@Param('slug') slug: string, @Query('a', ParseUUIDPipe) a: string, @Query('b', ParseUUIDPipe) b: string, @Query('phase') phase?: string): Promise<ComparisonResponse> {
    return this.leaderboards.compare(slug, phase ?? 'test', a, b);
  }
}
