import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { AuditListQueryDto } from './audit.dto';
import { AuditService, AuditVerification } from './audit.service';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @Roles(Role.Admin, Role.Regulator, Role.Evaluator)
  @ApiOperation({ summary: 'Audit log entries in order (paged by sequence number)' })
  async list(@Query() query: AuditListQueryDto): Promise<unknown[]> {
    const rows = await this.audit.list(Number(query.after ?? 0), Number(query.limit ?? 100));
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  @Get('verify')
  @Roles(Role.Admin, Role.Regulator, Role.Evaluator)
  @ApiOperation({ summary: 'Recompute the hash chain over the whole audit log' })
  verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}
