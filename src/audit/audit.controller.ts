import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { AuditService, AuditVerification } from './audit.service';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @Roles(Role.Admin, Role.Regulator, Role.Evaluator)
  @ApiOperation({ summary: 'Audit log entries in order (paged by sequence number)' })
  async list(@Query('after') after?: string, @Query('limit') limit?: string): Promise<unknown[]> {
    const rows = await this.audit.list(Number(after ?? 0) || 0, Number(limit ?? 100) || 100);
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  @Get('verify')
  @Roles(Role.Admin, Role.Regulator, Role.Evaluator)
  @ApiOperation({ summary: 'Recompute the hash chain over the whole audit log' })
  verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}
