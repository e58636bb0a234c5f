import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory, Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger as HttpLogger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { ApiModule } from './api.module';
import { CatalogueService } from './benchmarks/catalogue.service';
import { EdgeInputInterceptor } from './common/edge-input.interceptor';
import { createValidationPipe } from './common/validation-pipe';
import type { AppConfig } from './config/config.schema';
import { securePrivateDirs } from './config/data-dir';
import { Database } from './database/database.module';
import { httpMetricsMiddleware } from './observability/http-observability';
import { createProcessLogger } from './observability/logger';
import { AssayMetrics } from './observability/metrics';
import { StorageService } from './storage/storage.service';

export interface HttpAppOptions {
  /** Load the shipped catalogue (cohorts/, benchmarks/) at start. */
  loadCatalogue: boolean;
  /** Where the JSON log lines go (default: stdout); tests capture them here. */
  logDestination?: DestinationStream;
}

/** Builds the HTTP API (used by src/main.ts and by the e2e tests). */
export async function createHttpApp(config: AppConfig, options: HttpAppOptions): Promise<INestApplication> {
  securePrivateDirs(config.dataDir);
  // Structured logs (pino, through nestjs-pino): every Nest Logger line of this process, and one line per request.
  const logger = createProcessLogger({ config, role: 'api', ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config, { httpLogger: logger }), { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(HttpLogger));
  // What Nest logged while the modules were built, now through pino (otherwise held until listen()).
  app.flushLogs();
  // First of all middleware: every request is timed, including those a later middleware or guard refuses.
  app.use(httpMetricsMiddleware(app.get(AssayMetrics)));
  // Security headers (helmet's defaults: CSP, HSTS, nosniff, no X-Powered-By, …). The web pages (src/web) load only
  // their own script and style files: no inline script, no other origin; forms post to Assay only;
  // only Assay's own pages may frame Assay (the report page frames the rendered report).
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'default-src': ["'self'"],
          'script-src': ["'self'"],
          'script-src-attr': ["'none'"],
          // Style attributes stay allowed for the OpenAPI UI (/docs), which sets them from its script; Assay's pages use none.
          'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'],
          'font-src': ["'self'"],
          'connect-src': ["'self'"],
          'object-src': ["'none'"],
          'base-uri': ["'self'"],
          'form-action': ["'self'"],
          'frame-ancestors': ["'self'"],
        },
      },
    }),
  );
  // No body parser here: JSON bodies are read after the route's guards, each with its route's limit
  // (EdgeInputInterceptor). The simple query parser builds no objects (?email[$ne]=x stays a key, and is refused).
  app.set('query parser', 'simple');
  // Behind a reverse proxy every client would share its address (one attacker locks everyone out): name the proxy.
  app.set('trust proxy', config.http.trustProxy);
  app.useGlobalInterceptors(new EdgeInputInterceptor(app.get(Reflector)));
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  const db = app.get(Database);
  const pending = await db.dataSource.showMigrations();
  if (pending) throw new Error('the database has pending migrations: run `node dist/src/cli/main.js migrate` (npm run migration:run) first');
  await app.get(StorageService).connect();
  if (options.loadCatalogue) await app.get(CatalogueService).load();
  const doc = new DocumentBuilder()
    .setTitle('Assay API')
    .setDescription('Testing and benchmarking facility for cancer-imaging AI: cohorts, benchmarks, sandboxed submissions, runs, leaderboards and the audit log. Authenticate with `Authorization: Bearer <token>`.')
    .setVersion('0.1.0')
    .addBearerAuth()
    // Federated nodes (src/federation): no token; four headers and an Ed25519 signature (docs/federation-protocol.md).
    .addSecurity('node-signature', { type: 'apiKey', in: 'header', name: 'X-Assay-Signature', description: 'Ed25519 over the canonical request string, with X-Assay-Node, X-Assay-Timestamp and X-Assay-Nonce' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, doc), { jsonDocumentUrl: 'docs/openapi.json' });
  new Logger('Assay').log('HTTP API ready');
  return app;
}
