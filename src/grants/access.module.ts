import { Global, Module } from '@nestjs/common';
import { SecurityAudit } from '../auth/security-audit.service';
import { GrantsRepository } from './grants.repository';
import { GrantsService } from './grants.service';

/**
 * The access policy (grants) and the security audit, for every controller. Global and imported by AuditModule,
 * which every context (API, worker, CLI) loads, so a module's controller may use them wherever the module is used.
 */
@Global()
@Module({ providers: [GrantsRepository, GrantsService, SecurityAudit], exports: [GrantsService, SecurityAudit] })
export class AccessModule {}
