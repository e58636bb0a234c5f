import { DynamicModule, Global, Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { httpLoggingParams } from './http-observability';
import { AssayMetrics, type ProcessRole } from './metrics';
import { MetricsServer } from './metrics-server';

/**
 * Starts this process's scrape listener (ASSAY_METRICS_PORT; none when unset) once the application is up, and stops
 * it at shutdown. `port` says where it listens (tests configure 0, any free port).
 */
@Injectable()
export class MetricsListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: MetricsServer | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: AssayMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { port, host, token } = this.config.metrics;
    if (port === null) return;
    const server = new MetricsServer(this.metrics, { host, port, token });
    await server.start();
    this.server = server;
    this.logger.log(`${this.metrics.role} metrics on http://${host}:${server.port}/metrics (${token ? 'bearer token required' : 'no token'})`);
  }

  get port(): number | null {
    return this.server?.port ?? null;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }
}

/**
 * Metrics and logs of one process, shared by the API, the worker and (later) a federation node: one AssayMetrics
 * (its own prom-client registry) per application, the scrape listener, and for the API the request logging of
 * nestjs-pino over the process's pino logger (src/observability/logger.ts). Global, so the code paths that count
 * (queue, runs, sandbox, submissions) inject AssayMetrics without importing this module; they take it @Optional(),
 * so a module assembled without it (unit tests, tools) still builds.
 */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(input: { role: ProcessRole; httpLogger?: PinoLogger }): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: input.httpLogger ? [LoggerModule.forRoot(httpLoggingParams(input.httpLogger))] : [],
      providers: [{ provide: AssayMetrics, useFactory: () => new AssayMetrics(input.role) }, MetricsListener],
      exports: [AssayMetrics],
    };
  }
}
