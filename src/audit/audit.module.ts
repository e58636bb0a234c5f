import { Global, Module } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AccessModule } from '../grants/access.module';
import { AuditController } from './audit.controller';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';

@Global()
@Module({ imports: [AccessModule], providers: [AuditRepository, AuditService, Clock], controllers: [AuditController], exports: [AuditService, Clock] })
export class AuditModule {}
