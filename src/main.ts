import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigValidationError } from './config/config.schema';
import { loadConfigFromProcess } from './config/config.module';
import { createHttpApp } from './http-app';

async function main(): Promise<void> {
  // The API process hosts the embedded object store (truth, models): files it creates are owner-only. (Not in the
  // worker, whose sandbox directories must be readable by the container's user.)
  process.umask(0o077);
  const config = loadConfigFromProcess();
  const app = await createHttpApp(config, { loadCatalogue: true });
  await app.listen(config.http.port, config.http.host);
  const url = `http://${config.http.host}:${config.http.port}`;
  // Through the process's logger: with JSON logs, stdout carries nothing but JSON lines.
  new Logger('Assay').log(`Assay API on ${url} (OpenAPI docs: ${url}/docs, JSON: ${url}/docs/openapi.json)`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
