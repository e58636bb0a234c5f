import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, STAFF_ONLY } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { GrantsService } from '../grants/grants.service';
import { Role } from '../auth/auth.entity';
import { AuditListQueryDto } from './audit.dto';
import { AuditService, AuditVerification } from './audit.service';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('api/audit')
export class AuditController {
  constructor(
    private readonly audit: AuditService,
    private readonly grants: GrantsService,
  ) {}

  @Get()
  @Roles(Role.Admin, Role.Regulator, Role.Evaluator)
  @Access({ ...STAFF_ONLY, regulator: '2xx', regulatorGranted: '2xx' })
  @ApiOperation({ summary: 'Audit log entries in order (paged by sequence number); a regulator sees its own acts and what its grants cover' })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: AuditListQueryDto): Promise<unknown[]> {
    const afterSeq = Number(query.after ?? 0);
    const max = Number(query.limit ?? 100);
    const rows = principal.role === Role.Regulator ? await this.grants.auditFor(principal, afterSeq, max) : await this.audit.list(afterSeq, max);
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  @Get('verify')
  @Roles(Role.Admin, Role.Regulator, Role.Evaluator)
  // The chain's integrity (counts and head hash), not its content: every auditor may check it.
  @Access({ ...STAFF_ONLY, regulator: '2xx', regulatorGranted: '2xx' })
  @ApiOperation({ summary: 'Recompute the hash chain over the whole audit log' })
  verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}
