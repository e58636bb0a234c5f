import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access } from '../auth/access.decorator';
import { Principal, Public } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { HealthReport, HealthService, HealthSummary, summarise } from './health.service';

@ApiTags('health')
@Controller('api/health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @Public()
  @Access({ anonymous: '2xx', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' })
  @ApiOperation({ summary: 'Postgres, Redis, object store and Docker (through live workers): up or down for everyone, 503 when any is down; versions, endpoints, errors and worker ids for admins only' })
  async get(@Req() req: Request & { principal?: Principal }, @Res({ passthrough: true }) res: Response): Promise<HealthReport | HealthSummary> {
    const report = await this.health.report();
    res.status(report.ok ? 200 : 503);
    return req.principal?.role === Role.Admin ? report : summarise(report);
  }
}
