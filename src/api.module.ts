import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuditModule } from './audit/audit.module';
import { AuthGuard } from './auth/auth.guard';
import { AuthModule } from './auth/auth.module';
import { BenchmarksModule } from './benchmarks/benchmarks.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config.schema';
import type { Logger as PinoLogger } from 'pino';
import { DatabaseModule } from './database/database.module';
import { EvaluationModule } from './runs/evaluation.module';
import { FederationModule } from './federation/federation.module';
import { GrantsModule } from './grants/grants.module';
import { HealthModule } from './health/health.module';
import { LeaderboardsModule } from './leaderboards/leaderboards.module';
import { ObservabilityModule } from './observability/observability.module';
import { QueueModule } from './queue/queue.module';
import { ReportSigningHttpModule } from './reports/signing/report-signing.module';
import { ReportsApiModule } from './reports/reports.module';
import { StorageModule } from './storage/storage.module';
import { SubmissionsModule } from './submissions/submissions.module';
import { UploadSweepModule } from './submissions/upload-sweep.service';
import { WebModule } from './web/web.module';

/** The HTTP API: no queue consumers, no Docker socket. */
@Module({})
export class ApiModule {
  /** httpLogger: the process's pino logger (createProcessLogger), for the request log; none: no request log. */
  static forRoot(config: AppConfig, options: { httpLogger?: PinoLogger } = {}): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule.forRoot({ role: 'api', ...(options.httpLogger ? { httpLogger: options.httpLogger } : {}) }),
        DatabaseModule,
        StorageModule,
        QueueModule,
        AuditModule,
        AuthModule,
        BenchmarksModule,
        SubmissionsModule,
        UploadSweepModule,
        EvaluationModule,
        LeaderboardsModule,
        HealthModule,
        GrantsModule,
        ReportSigningHttpModule,
        ReportsApiModule,
        FederationModule,
        WebModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
      ],
    };
  }
}
