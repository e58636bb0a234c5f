import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Arrivals, openLoop } from './open-loop';

// autocannon has no bundled types; the part used here is typed below.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = (): ((opts: Record<string, unknown>) => Promise<CannonResult>) => require('autocannon');

interface CannonResult {
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  requests: { average: number; total: number; sent: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '3xx': number;
}

/** One measurement to make: which generator, against what, at what rate. */
export interface LoadSpec {
  generator: 'open' | 'autocannon';
  url: string;
  headers: Record<string, string>;
  rate: number;
  durationS: number;
  connections: number;
  arrivals: Arrivals;
  seed: number;
}

export interface Measured {
  latency: { p50: number; p90: number; p99: number; max: number };
  achieved: number;
  errors: number;
  /** Open loop only: the errors by code. */
  errorCodes?: Record<string, number>;
  /** Open loop only: how late the generator itself sent (timer lag, no free connection), ms; part of the latency. */
  sendLag?: { p99: number; max: number };
  timeouts: number;
  non2xx: number;
  completed: number;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Runs one measurement in this process. */
export async function generate(spec: LoadSpec): Promise<Measured> {
  if (spec.generator === 'autocannon') {
    const r = await autocannon()({ url: spec.url, headers: spec.headers, overallRate: spec.rate, connections: spec.connections, duration: spec.durationS, timeout: 10 });
    // autocannon counts a 304 as non-2xx; the If-None-Match target expects it.
    return { latency: r.latency, achieved: r.requests.average, errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx - r['3xx'], completed: r.requests.total };
  }
  const r = await openLoop({ url: spec.url, headers: spec.headers, rate: spec.rate, durationS: spec.durationS, arrivals: spec.arrivals, seed: spec.seed, connections: spec.connections, timeoutMs: 10_000 });
  const ok = Object.entries(r.statuses).reduce((n, [status, count]) => n + (status.startsWith('2') || status === '304' ? count : 0), 0);
  return {
    latency: { p50: round1(r.latency.p50), p90: round1(r.latency.p90), p99: round1(r.latency.p99), max: round1(r.latency.max) },
    achieved: round1(r.achievedRate),
    errors: r.errors,
    errorCodes: r.errorCodes,
    sendLag: { p99: round1(r.sendLag.p99), max: round1(r.sendLag.max) },
    timeouts: r.timeouts,
    non2xx: r.completed - ok,
    completed: r.completed,
  };
}

/**
 * Runs one measurement in a process of its own (this file as its entry point), and returns what it measured. Why: the
 * harness process also holds the test stack it seeded the board with (a heap of hundreds of MB after scoring and
 * ranking 1,000 submissions), and a collection there would stall a generator in it; an open-loop generator counts its
 * own stall against the server (latency runs from the intended send time), so it must not share a heap with anything.
 */
export function generateInChild(spec: LoadSpec): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'load-generator.js'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited ${code}: ${out.slice(0, 500)}`));
      try {
        resolve(JSON.parse(out) as Measured);
      } catch (error) {
        reject(new Error(`load generator printed no result (${(error as Error).message}): ${out.slice(0, 500)}`));
      }
    });
  });
}

if (require.main === module) {
  generate(JSON.parse(process.argv[2] ?? '{}') as LoadSpec)
    .then((r) => process.stdout.write(JSON.stringify(r)))
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
}
