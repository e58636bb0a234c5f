import 'reflect-metadata';
import { spawn, ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { get } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Client } from 'pg';
import { LEADERBOARD_DEFAULT_LIMIT } from '../src/leaderboards/leaderboard-views';
import { generateInChild, LoadSpec, Measured as Generated } from './load-generator';
import type { Arrivals } from './open-loop';
import { perfDatabase } from './perf-database';
import { seedScoredBoard } from './seed-scored';
import { freePort, REPO_ROOT, startTestStack } from '../test/support/test-stack';
import { TEST_REDIS_URL } from '../test/support/test-env';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SUBMISSIONS = flag('submissions', 1000);
const RATE = flag('rate', 200);
const DURATION = flag('duration', 20);
const ROUNDS = flag('rounds', 2);
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
const CONNECTIONS = flag('connections', 20);
const PROFILE = args.includes('--cpu-prof');
const HEAP_PROFILE = args.includes('--heap-prof');
const ALLOC_PROFILE = args.includes('--alloc-prof');
const option = (name: string, fallback: string): string => (args.includes(`--${name}`) ? (args[args.indexOf(`--${name}`) + 1] ?? fallback) : fallback);
// open: perf/open-loop.ts (requests on a fixed schedule, latency from the intended send time: the measure of "at
// 200 requests/s"); autocannon: its overallRate (bursts of 200 at 20 in flight, with its own latency correction).
const GENERATORS = option('generators', 'open,autocannon').split(',');
const ARRIVALS = option('arrivals', 'poisson') as Arrivals;
if (!GENERATORS.every((g) => g === 'open' || g === 'autocannon')) throw new Error(`--generators takes open and/or autocannon, got ${GENERATORS.join(',')}`);
if (ARRIVALS !== 'poisson' && ARRIVALS !== 'uniform') throw new Error(`--arrivals takes poisson or uniform, got ${String(ARRIVALS)}`);
const BENCHMARK = 'wdbc-malignancy';
const PHASE = 'test';

/** What Chromium sends: the API answers gzip to it, the web pages brotli (src/web/html-compression.interceptor.ts). */
const BROWSER_ENCODINGS = { 'accept-encoding': 'gzip, deflate, br' };
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Starts perf/leaderboard-server.js (the real HTTP app) in its own process; resolves when it listens. */
async function startServer(env: Record<string, string>, profileDir: string | null): Promise<ChildProcess> {
  const nodeArgs = [
    ...(profileDir && PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    // Sampled allocations (where the garbage the collector pauses for comes from).
    ...(profileDir && HEAP_PROFILE ? ['--heap-prof', `--heap-prof-dir=${profileDir}`] : []),
    join(__dirname, 'leaderboard-server.js'),
  ];
  const child = spawn(process.execPath, nodeArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[api] ${d.toString()}`));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (/ready \d+/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`API process exited (${code}) before listening: ${out}`)));
  });
  return child;
}

/** GET through node:http: no automatic Accept-Encoding or decompression, so the bytes on the wire are seen. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; encoding: string | undefined; etag: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, encoding: res.headers['content-encoding'], etag: res.headers.etag, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

interface ServerStats {
  loopDelayMs: Summary;
  gc: { pauses: number; major: number; totalMs: number; maxMs: number };
  cpuMs: number;
  /** Each request from its 'request' event to the response's 'finish'. */
  inProcessMs: Summary;
  /** Each database statement, pg's query() to its answer. */
  statementMs: Summary;
}

interface Measured extends Generated {
  /** What the API process saw during the measurement (perf/leaderboard-server.ts, GET /perf-stats). */
  server?: ServerStats;
}

/** Reads (and restarts) the API process's own counters. */
async function serverStats(base: string): Promise<ServerStats> {
  const r = await rawGet(`${base}/perf-stats`, {});
  if (r.status !== 200) throw new Error(`GET /perf-stats: HTTP ${r.status}`);
  return JSON.parse(r.body.toString()) as ServerStats;
}

/** One measurement, with the server's loop delay, GC pauses and CPU over exactly its span. */
async function measured(base: string, run: () => Promise<Measured>): Promise<Measured> {
  await serverStats(base);
  const r = await run();
  return { ...r, server: await serverStats(base) };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** The server's side of a measurement, as table cells: loop delay, GC pauses, CPU per request. */
function serverColumns(r: Measured): string[] {
  const s = r.server;
  if (!s) return ['-', '-', '-', '-', '-'];
  const perRequest = (x: number): string => (r.completed > 0 ? (x / r.completed).toFixed(2) : '-');
  return [
    `${s.inProcessMs.p50} / ${s.inProcessMs.p99}`,
    s.statementMs.count ? `${perRequest(s.statementMs.count)}, ${s.statementMs.p50} / ${s.statementMs.p99}` : '0',
    `${s.loopDelayMs.p99} / ${s.loopDelayMs.max}`,
    `${s.gc.pauses} (${s.gc.major}) / ${round1(s.gc.totalMs)} / ${round1(s.gc.maxMs)}`,
    perRequest(s.cpuMs),
  ];
}

/**
 * Leaderboard API (and page, where the web UI has one) at a fixed 200 requests/s with 1,000 submissions on the
 * board, side by side with a static file served by the same process (the floor). See perf/RESULTS.md (issue 10).
 */
async function main(): Promise<void> {
  const database = await perfDatabase(`assay_perf_lb_${process.pid}`);
  const stack = await startTestStack({ worker: false, database });
  let child: ChildProcess | null = null;
  const work = mkdtempSync(join(tmpdir(), 'assay-perf-lb-'));
  try {
    // Readers: a vendor (the public, rounded leaderboard is for vendors: anonymous callers get 401) and an evaluator.
    const token = async (role: 'vendor' | 'evaluator'): Promise<string> => {
      const organisation = role === 'vendor' ? await stack.admin.post<{ id: string }>('/api/organisations', { name: 'perf-reader' }) : null;
      const user = await stack.admin.post<{ id: string }>('/api/users', { email: `${role}@perf.test`, displayName: `perf ${role}`, role, ...(organisation ? { organisationId: organisation.id } : {}) });
      return (await stack.admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'perf' })).token;
    };
    const vendorToken = await token('vendor');
    const evaluatorToken = await token('evaluator');
    log(`seeding ${SUBMISSIONS} scored submissions on ${BENCHMARK}/${PHASE} …`);
    const seeded = await seedScoredBoard(stack.api, { benchmark: BENCHMARK, phase: PHASE, count: SUBMISSIONS, log });
    log(`seeded: scoring ${(seeded.timings.scoreMs / 1000).toFixed(1)} s, inserts ${(seeded.timings.insertMs / 1000).toFixed(1)} s, materialize ${(seeded.timings.materializeMs / 1000).toFixed(1)} s`);
    // The bulk inserts leave the tables to autovacuum, which would otherwise vacuum and analyze them during the first
    // measured round, on the same 2 cores: done here, as a database in service would have had it done. The same for
    // the checkpoint: the load and the vacuum leave the shared buffers dirty, and the next timed checkpoint
    // (checkpoint_timeout, 5 min by default) would write them out and fsync during a measured round; a CHECKPOINT
    // here writes them before the clock starts. The harness logs the checkpoints that still fall in a round.
    const vacuumStart = Date.now();
    const pg = new Client({ connectionString: database.url });
    await pg.connect();
    await pg.query('VACUUM (ANALYZE)');
    const vacuumMs = Date.now() - vacuumStart;
    const checkpointStart = Date.now();
    await pg.query('CHECKPOINT');
    await pg.end();
    log(`VACUUM (ANALYZE) after seeding: ${(vacuumMs / 1000).toFixed(1)} s; CHECKPOINT: ${((Date.now() - checkpointStart) / 1000).toFixed(1)} s`);

    // The API under test: its own process, same database and queue prefix, its own embedded object store and data dir.
    const port = await freePort();
    const staticDir = join(work, 'static');
    mkdirSync(staticDir);
    // A stylesheet-sized file (the web UI's CSS will be of this order).
    writeFileSync(join(staticDir, 'app.css'), `/* perf floor */\n${'.row{display:flex;gap:.5rem;padding:.25rem}\n'.repeat(64)}`);
    const env: Record<string, string> = {
      ASSAY_MODE: 'test',
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      ASSAY_QUEUE_PREFIX: stack.config.redis.queuePrefix,
      ASSAY_S3_EMBEDDED_PORT: String(await freePort()),
      ASSAY_DATA_DIR: join(work, 'data'),
      ASSAY_CATALOGUE_DIR: REPO_ROOT,
      ASSAY_GENERATED_DIR: join(REPO_ROOT, '.assay', 'generated'),
      ASSAY_HTTP_PORT: String(port),
      ASSAY_LOG_LEVEL: 'warn',
      ASSAY_WORKER_GPUS: 'none',
      ASSAY_WORKER_ID: `perf-${randomBytes(4).toString('hex')}`,
      PERF_STATIC_DIR: staticDir,
    };
    const profileDir = PROFILE || HEAP_PROFILE || ALLOC_PROFILE ? join(REPO_ROOT, '.assay', 'perf-profiles') : null;
    if (ALLOC_PROFILE && profileDir) {
      mkdirSync(profileDir, { recursive: true });
      env.PERF_ALLOC_PROFILE = join(profileDir, `alloc-${Date.now()}.heapprofile`);
    }
    child = await startServer(env, profileDir);
    const base = `http://127.0.0.1:${port}`;
    const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

    const targets: { name: string; url: string; headers: Record<string, string> }[] = [
      { name: 'static file (floor), /perf-static/app.css', url: `${base}/perf-static/app.css`, headers: {} },
      // As browsers and fetch() ask for it: gzip and br accepted (the API sends gzip).
      { name: 'leaderboard API, vendor (public, rounded), gzip', url: `${base}/api/benchmarks/${BENCHMARK}/leaderboard?phase=${PHASE}`, headers: { ...bearer(vendorToken), ...BROWSER_ENCODINGS } },
      { name: 'leaderboard API, evaluator (full precision), gzip', url: `${base}/api/benchmarks/${BENCHMARK}/leaderboard?phase=${PHASE}`, headers: { ...bearer(evaluatorToken), ...BROWSER_ENCODINGS } },
      // A client that takes no compression: the whole JSON.
      { name: 'leaderboard API, evaluator (full precision), identity', url: `${base}/api/benchmarks/${BENCHMARK}/leaderboard?phase=${PHASE}`, headers: bearer(evaluatorToken) },
    ];
    // The web page (GET /benchmarks/<slug>), signed in as a browser is: the session cookie.
    const pageUrl = `${base}/benchmarks/${BENCHMARK}`;
    const cookie = (token: string): Record<string, string> => ({ cookie: `assay_session=${token}` });
    const page = await fetch(pageUrl, { headers: cookie(vendorToken) });
    const notes: string[] = [];
    if (page.status === 404 && !(page.headers.get('content-type') ?? '').includes('text/html')) {
      notes.push(`leaderboard page GET /benchmarks/${BENCHMARK}: not served in this build (HTTP ${page.status}); skipped`);
    } else {
      targets.push({ name: `leaderboard page /benchmarks/${BENCHMARK}, vendor (cookie), br`, url: pageUrl, headers: { ...cookie(vendorToken), ...BROWSER_ENCODINGS } });
      // The page as markup (identity), kept for a look at what its bytes are.
      const html = (await rawGet(pageUrl, cookie(vendorToken))).body;
      const saved = join(REPO_ROOT, '.assay', 'perf-leaderboard-page.html');
      writeFileSync(saved, html);
      notes.push(`leaderboard page: ${(html.length / 1024).toFixed(0)} KiB of HTML (saved in ${saved}).`);
    }
    // A repeat reader: If-None-Match with the page's ETag (304, no body).
    const first = await rawGet(`${base}/api/benchmarks/${BENCHMARK}/leaderboard?phase=${PHASE}`, { ...bearer(vendorToken), ...BROWSER_ENCODINGS });
    const etag = first.etag ?? '';
    targets.push({ name: 'leaderboard API, vendor, If-None-Match (304)', url: `${base}/api/benchmarks/${BENCHMARK}/leaderboard?phase=${PHASE}`, headers: { ...bearer(vendorToken), ...BROWSER_ENCODINGS, 'if-none-match': etag } });
    // Body sizes on the wire (Content-Length) and a check of what each target serves.
    const sizes = new Map<string, number>();
    for (const t of targets) {
      const r = await rawGet(t.url, t.headers);
      if (t.headers['if-none-match']) {
        if (r.status !== 304) throw new Error(`${t.name}: HTTP ${r.status}, expected 304`);
        sizes.set(t.name, r.body.length);
        continue;
      }
      if (r.status !== 200) throw new Error(`${t.name}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
      sizes.set(t.name, r.body.length);
      if (t.url.includes('/leaderboard')) {
        const text = (r.encoding === 'gzip' ? gunzipSync(r.body) : r.body).toString();
        const json = JSON.parse(text) as { rows: unknown[]; fullPrecision: boolean; total: number };
        // The default page, as the web page and a client fetch it.
        if (json.total !== SUBMISSIONS || json.rows.length !== Math.min(LEADERBOARD_DEFAULT_LIMIT, SUBMISSIONS)) throw new Error(`${t.name}: ${json.rows.length} rows of ${json.total}, expected the first ${LEADERBOARD_DEFAULT_LIMIT} of ${SUBMISSIONS}`);
      }
    }

    // What the database did in the background during each measured window: checkpoints (cluster-wide) and autovacuum
    // or autoanalyze passes over this database's tables, read before and after. A tail that coincides with one is
    // then named rather than guessed at.
    const monitor = new Client({ connectionString: database.url });
    await monitor.connect();
    const background = async (): Promise<{ checkpoints: number; autovacuums: number }> => {
      const { rows } = await monitor.query<{ checkpoints: string; autovacuums: string }>(
        `SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints,
                (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_user_tables) AS autovacuums`,
      );
      const row = rows[0];
      if (!row) throw new Error('pg_stat_bgwriter returned no row');
      return { checkpoints: Number(row.checkpoints), autovacuums: Number(row.autovacuums) };
    };
    const results: { round: number; generator: string; name: string; r: Measured; checkpoints: number; autovacuums: number }[] = [];
    let seed = 1;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets.filter((x) => !ONLY || x.name.includes(ONLY))) {
        // A short warm-up at the same rate (JIT, connection pool), not recorded.
        const spec = (generator: LoadSpec['generator'], durationS: number): LoadSpec => ({ generator, url: t.url, headers: t.headers, rate: RATE, durationS, connections: CONNECTIONS, arrivals: ARRIVALS, seed: seed++ });
        await generateInChild(spec('open', 3));
        for (const generator of GENERATORS) {
          const la = loadavg()[0]?.toFixed(2);
          const before = await background();
          const r = await measured(base, () => generateInChild(spec(generator as LoadSpec['generator'], DURATION)));
          const after = await background();
          const checkpoints = after.checkpoints - before.checkpoints;
          const autovacuums = after.autovacuums - before.autovacuums;
          log(`round ${round} ${generator} ${t.name}: p50 ${r.latency.p50} p90 ${r.latency.p90} p99 ${r.latency.p99} max ${r.latency.max} ms, ${r.achieved} req/s, errors ${r.errors}${r.errorCodes && r.errors ? ` ${JSON.stringify(r.errorCodes)}` : ''}, timeouts ${r.timeouts}, non-2xx ${r.non2xx} (load ${la}); send lag ${r.sendLag ? `${r.sendLag.p99} / ${r.sendLag.max}` : '-'}; server ${serverColumns(r).join(', ')}; database: ${checkpoints} checkpoint(s), ${autovacuums} autovacuum/analyze pass(es)`);
          results.push({ round, generator, name: t.name, r, checkpoints, autovacuums });
        }
      }
    }

    await monitor.end();

    const lines = [
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), which also run Postgres, Redis, the harness and the generator; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
      `Board: ${BENCHMARK}/${PHASE}, ${SUBMISSIONS} submissions × ${seeded.cases} cases (seed: scoring ${(seeded.timings.scoreMs / 1000).toFixed(1)} s, inserts ${(seeded.timings.insertMs / 1000).toFixed(1)} s, materialize with the rank bootstrap ${(seeded.timings.materializeMs / 1000).toFixed(1)} s).`,
      `Load: ${RATE} requests/s for ${DURATION} s per target after a 3 s warm-up, at most ${CONNECTIONS} connections, from a generator process of its own (perf/load-generator.ts). open = perf/open-loop.ts, ${ARRIVALS} arrivals, latency from each request's intended send time; autocannon = its overallRate (each connection sends its share of a second back to back, then waits) with its own coordinated-omission correction (an expected interval of 1 ms).`,
      ...notes,
      '',
      '| round | generator | target | body | p50 ms | p90 ms | p99 ms | max ms | achieved req/s | errors / timeouts / non-2xx | p99 / p99(static) | generator send lag p99 / max ms | in server p50 / p99 ms | SQL statements per request, p50 / p99 ms | server loop delay p99 / max ms | server GC pauses (major) / total / max ms | server CPU ms per request | database checkpoints / autovacuum passes in the window |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...results.map(({ round, generator, name, r, checkpoints, autovacuums }) => {
        const floor = results.find((x) => x.round === round && x.generator === generator && x.name.startsWith('static'))?.r.latency.p99 ?? Number.NaN;
        const size = sizes.get(name) ?? 0;
        return `| ${round} | ${generator} | ${name} | ${size > 10240 ? `${(size / 1024).toFixed(0)} KiB` : `${size} B`} | ${r.latency.p50} | ${r.latency.p90} | ${r.latency.p99} | ${r.latency.max} | ${r.achieved} | ${r.errors} / ${r.timeouts} / ${r.non2xx} | ${name.startsWith('static') ? '1' : (r.latency.p99 / floor).toFixed(1)} | ${r.sendLag ? `${r.sendLag.p99} / ${r.sendLag.max}` : '-'} | ${serverColumns(r).join(' | ')} | ${checkpoints} / ${autovacuums} |`;
      }),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    if (child) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGUSR2');
      await exited;
    }
    await stack.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
