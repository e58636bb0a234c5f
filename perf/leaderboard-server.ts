import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfigFromProcess } from '../src/config/config.module';
import { createHttpApp } from '../src/http-app';

/**
 * The API process of perf/leaderboard-load.ts: the real HTTP app (createHttpApp, configured from the environment as
 * src/main.ts is), plus, for this harness only, a static directory at /perf-static (PERF_STATIC_DIR) served by the
 * same process through express.static: the floor the leaderboard is measured against. Prints `ready <port>`.
 */
async function main(): Promise<void> {
  process.umask(0o077);
  const config = loadConfigFromProcess();
  const app = (await createHttpApp(config, { loadCatalogue: false })) as NestExpressApplication;
  const dir = process.env.PERF_STATIC_DIR;
  if (dir) app.useStaticAssets(dir, { prefix: '/perf-static/' });
  await app.listen(config.http.port, config.http.host);
  process.stdout.write(`ready ${config.http.port}\n`);
  // The harness stops it with SIGUSR2: a normal exit, so that --cpu-prof writes its profile.
  process.once('SIGUSR2', () => void app.close().then(() => process.exit(0)));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
