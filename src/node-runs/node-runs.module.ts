import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { SandboxModule } from '../sandbox/sandbox.module';
import { StorageModule } from '../storage/storage.module';
import { ObservabilityModule } from '../observability/observability.module';
import { NodeCohortCatalogue } from './node-cohorts';
import { NodeEvaluator } from './node-evaluator';

/**
 * What a federated node runs (issue 11): its own object store (cohort inputs and truth), its own Docker engine and
 * sandbox, the task registry and scorers, its metrics listener (ASSAY_METRICS_PORT). No Postgres and no Redis: the node talks to the hub over HTTPS only.
 */
@Module({})
export class NodeRunsModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: NodeRunsModule,
      imports: [ConfigModule.forRoot(config), ObservabilityModule.forRoot({ role: 'node' }), StorageModule, SandboxModule],
      providers: [NodeCohortCatalogue, NodeEvaluator],
      exports: [NodeCohortCatalogue, NodeEvaluator],
    };
  }
}
