import { DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from './audit/audit.module';
import { BenchmarksModule } from './benchmarks/benchmarks.module';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config.schema';
import { DatabaseModule } from './database/database.module';
import { EvaluationCoreModule } from './runs/evaluation-core.module';
import { RunExecutor } from './runs/evaluation.processor';
import { RunRecoveryService } from './runs/run-recovery.service';
import { BatchExecutors } from './runs/batch-executor';
import { TruthCache } from './tasks/truth-cache';
import { HealthModule } from './health/health.module';
import { LeaderboardsModule } from './leaderboards/leaderboards.module';
import { ObservabilityModule } from './observability/observability.module';
import { QueueModule } from './queue/queue.module';
import { ReportsModule } from './reports/reports.module';
import { SandboxModule } from './sandbox/sandbox.module';
import { StorageModule } from './storage/storage.module';
import { ModelCheckStep } from './runs/model-check.processor';
import { SubmissionsModule } from './submissions/submissions.module';
import { WorkerService } from './worker.service';
import { FederationModule } from './federation/federation.module';
import { FederatedRuns } from './runs/federated-runs';

/** The worker: queue consumers with Docker and onnxruntime; no HTTP. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule.forRoot({ role: 'worker' }),
        DatabaseModule,
        StorageModule,
        QueueModule,
        AuditModule,
        BenchmarksModule,
        SubmissionsModule,
        EvaluationCoreModule,
        LeaderboardsModule,
        HealthModule,
        SandboxModule,
        ReportsModule,
        FederationModule,
      ],
      providers: [RunExecutor, BatchExecutors, { provide: TruthCache, useValue: new TruthCache() }, ModelCheckStep, RunRecoveryService, FederatedRuns, WorkerService],
    };
  }
}
