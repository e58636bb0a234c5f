import 'reflect-metadata';
import { ConfigValidationError } from './config/config.schema';
import { loadConfigFromProcess } from './config/config.module';
import { createHttpApp } from './http-app';

async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  const app = await createHttpApp(config, { loadCatalogue: true });
  await app.listen(config.http.port, config.http.host);
  const url = `http://${config.http.host}:${config.http.port}`;
  process.stdout.write(`Assay API on ${url} (OpenAPI docs: ${url}/docs, JSON: ${url}/docs/openapi.json)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
