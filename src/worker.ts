import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigValidationError } from './config/config.schema';
import { loadConfigFromProcess } from './config/config.module';
import { loggerLevels } from './http-app';
import { WorkerModule } from './worker.module';

async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: loggerLevels(config.logLevel) });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
