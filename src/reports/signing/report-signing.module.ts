import { Module } from '@nestjs/common';
import { AccessModule } from '../../grants/access.module';
import { REPORT_SIGNER } from '../report-ports';
import { ReportsRepository } from '../reports.repository';
import { ReportKeysController } from './report-keys.controller';
import { ReportKeyStore } from './report-keys';
import { ReportKeysRepository } from './report-keys.repository';
import { ReportSignerService } from './report-signer';

/** Report signing keys and the signer (REPORT_SIGNER), for the API, the worker and the CLI. Needs Database, Audit, Clock. */
@Module({
  providers: [ReportKeysRepository, ReportKeyStore, ReportSignerService, { provide: REPORT_SIGNER, useExisting: ReportSignerService }],
  exports: [ReportKeyStore, REPORT_SIGNER],
})
export class ReportSigningModule {}

/** The HTTP side: published keys and verification (GET /api/reports/keys, GET|POST /api/reports/verify). */
@Module({ imports: [ReportSigningModule, AccessModule], controllers: [ReportKeysController], providers: [ReportsRepository] })
export class ReportSigningHttpModule {}
