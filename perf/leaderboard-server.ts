import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request, Response } from 'express';
import { constants as perfConstants, createHistogram, monitorEventLoopDelay, performance, PerformanceObserver, RecordableHistogram } from 'node:perf_hooks';
import { Client } from 'pg';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { loadConfigFromProcess } from '../src/config/config.module';
import { createHttpApp } from '../src/http-app';

/**
 * The API process of perf/leaderboard-load.ts: the real HTTP app (createHttpApp, configured from the environment as
 * src/main.ts is), plus, for this harness only, a static directory at /perf-static (PERF_STATIC_DIR) served by the
 * same process through express.static: the floor the leaderboard is measured against. Prints `ready <port>`.
 *
 * GET /perf-stats (this harness only, ahead of the app's routes) answers what the process itself saw since the last
 * call, and starts over: event-loop delay (how late a 1 ms timer ran: time no request could be served), garbage
 * collection pauses, CPU time, each request's time in the process (from its 'request' event to the response's
 * 'finish') and each database statement's (from pg's query() to its answer, pool wait excluded). The harness reads it
 * around each measurement, so that a tail in the latencies can be put down to the server's loop, its collector, the
 * database, or none of them (the machine, the client).
 */
function timeStatements(histogram: RecordableHistogram): void {
  const query = Client.prototype.query as (...args: unknown[]) => unknown;
  // Instrumentation of this harness's process only: every statement TypeORM sends goes through Client#query.
  (Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function timed(this: Client, ...args: unknown[]): unknown {
    const start = performance.now();
    const record = (): void => histogram.record(Math.max(1, Math.round((performance.now() - start) * 1e6)));
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      args[args.length - 1] = (...r: unknown[]) => {
        record();
        return (last as (...x: unknown[]) => unknown)(...r);
      };
      return query.apply(this, args);
    }
    const out = query.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === 'function') (out as Promise<unknown>).then(record, record);
    return out;
  };
}

/** Starts the sampling heap profiler with collected objects included; the function returned stops it and gives the profile. */
async function startAllocationSampling(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  await post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => ((await post('HeapProfiler.stopSampling')) as { profile: unknown }).profile;
}

async function main(): Promise<void> {
  process.umask(0o077);
  const config = loadConfigFromProcess();
  const app = (await createHttpApp(config, { loadCatalogue: false })) as NestExpressApplication;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const zero = () => ({ pauses: 0, major: 0, totalMs: 0, maxMs: 0 });
  let gc = zero();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.pauses++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
    }
  }).observe({ entryTypes: ['gc'] });
  let cpu = process.cpuUsage();
  const inProcess = createHistogram();
  const statements = createHistogram();
  timeStatements(statements);
  app.getHttpServer().on('request', (req: Request, res: Response) => {
    if (req.url?.startsWith('/perf-stats')) return;
    const start = performance.now();
    res.once('finish', () => inProcess.record(Math.max(1, Math.round((performance.now() - start) * 1e6))));
  });
  app.use('/perf-stats', (_req: Request, res: Response) => {
    const used = process.cpuUsage(cpu);
    const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
    const summary = (h: { percentile(p: number): number; max: number; count: number }) => ({ count: h.count, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) });
    res.json({ loopDelayMs: summary(loop), gc, cpuMs: (used.user + used.system) / 1000, inProcessMs: summary(inProcess), statementMs: summary(statements) });
    for (const h of [loop, inProcess, statements]) h.reset();
    gc = zero();
    cpu = process.cpuUsage();
  });
  const dir = process.env.PERF_STATIC_DIR;
  if (dir) app.useStaticAssets(dir, { prefix: '/perf-static/' });
  await app.listen(config.http.port, config.http.host);
  process.stdout.write(`ready ${config.http.port}\n`);
  // --alloc-prof: every allocation sampled, kept or collected since (--heap-prof keeps only what is still alive), to
  // say where the garbage the collector pauses for comes from.
  const allocations = process.env.PERF_ALLOC_PROFILE ? await startAllocationSampling() : null;
  // The harness stops it with SIGUSR2: a normal exit, so that --cpu-prof writes its profile.
  process.once('SIGUSR2', () => {
    void (async () => {
      if (allocations && process.env.PERF_ALLOC_PROFILE) writeFileSync(process.env.PERF_ALLOC_PROFILE, JSON.stringify(await allocations()));
      await app.close();
      process.exit(0);
    })();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
