import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigValidationError } from './config/config.schema';
import { loadConfigFromProcess } from './config/config.module';
import { createProcessLogger, PinoNestLogger } from './observability/logger';
import { WorkerModule } from './worker.module';

async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  // Structured logs (pino): Nest's Logger lines as JSON, each carrying the ids of the job it was written in.
  const logger = new PinoNestLogger(createProcessLogger({ config, role: 'worker' }));
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
