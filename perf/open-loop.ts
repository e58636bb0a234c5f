import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { mulberry32 } from '../src/common/seeded-random';

/**
 * An open-loop load generator: requests are sent on a schedule fixed before the run (uniform, or Poisson arrivals at
 * the given rate), whatever the server is doing, and each latency is measured from the request's *intended* send time,
 * as wrk2 does. A stall therefore shows in every request that should have gone out during it, and time a request
 * spends waiting for a free connection, or behind a late timer, counts against the server, not for it.
 *
 * Why not autocannon alone (the issue names autocannon or wrk): autocannon 9's `overallRate` is a per-second budget
 * per connection (lib/httpClient.js): each of the 20 connections sends its 10 requests back to back when its
 * one-second timer fires and then waits, so "200 requests/s" arrives as a burst of 200 requests at 20 in flight, and
 * the latency measured is that of a queue 20 deep. Its coordinated-omission correction (lib/run.js) records each
 * response with an expected interval of `Math.ceil(1 / rate)` = 1 ms, where the interval between one connection's
 * requests is 1000 / rate = 100 ms: a response of L ms is recorded with about L synthetic samples from L down to
 * 1 ms, so every percentile is weighted by latency. wrk2 (the constant-throughput wrk) is not packaged for Debian.
 * This file is small and has no dependency beyond node:http; perf/leaderboard-load.ts runs both and reports both.
 */
export type Arrivals = 'uniform' | 'poisson';

export interface OpenLoopOptions {
  url: string;
  headers?: Record<string, string>;
  /** Requests per second. */
  rate: number;
  durationS: number;
  arrivals?: Arrivals;
  /** Seed of the Poisson schedule (mulberry32): the same seed gives the same schedule. */
  seed?: number;
  /** Keep-alive connections at most; a request with none free waits (and its wait counts). */
  connections?: number;
  /** A request not answered within this many ms from its intended time counts as a timeout. */
  timeoutMs?: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface OpenLoopResult {
  /** Requests scheduled (rate × duration). */
  scheduled: number;
  /** Answered (any status). */
  completed: number;
  errors: number;
  /** The errors by code (ECONNRESET, …). */
  errorCodes: Record<string, number>;
  timeouts: number;
  statuses: Record<string, number>;
  /** Answers per second over the span from the first intended send to the last answer. */
  achievedRate: number;
  /** From intended send time to the last byte of the body, ms; answered requests only. */
  latency: LatencySummary;
  /** How late the generator itself sent (timer lag, no free connection), ms: part of the latency above. */
  sendLag: LatencySummary;
  bytes: number;
}

/** Offsets in ms from the start, one per request, ascending. */
export function schedule(rate: number, durationS: number, arrivals: Arrivals, seed = 1): Float64Array {
  if (!(rate > 0) || !(durationS > 0)) throw new Error(`rate and duration must be positive, got ${rate}/s for ${durationS} s`);
  const n = Math.round(rate * durationS);
  const out = new Float64Array(n);
  const gap = 1000 / rate;
  if (arrivals === 'uniform') {
    for (let i = 0; i < n; i++) out[i] = i * gap;
    return out;
  }
  const random = mulberry32(seed);
  let t = 0;
  for (let i = 0; i < n; i++) {
    out[i] = t;
    // Exponential gaps with mean 1000 / rate (1 - u is in (0, 1]: no log of zero).
    t += -Math.log(1 - random()) * gap;
  }
  return out;
}

/** Nearest-rank percentiles of the values (sorted in place). */
export function summarize(values: Float64Array): LatencySummary {
  if (values.length === 0) return { p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  values.sort();
  const at = (p: number): number => values[Math.max(0, Math.ceil((p / 100) * values.length) - 1)] as number;
  let sum = 0;
  for (const v of values) sum += v;
  return { p50: at(50), p90: at(90), p99: at(99), max: values[values.length - 1] as number, mean: sum / values.length };
}

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const offsets = schedule(options.rate, options.durationS, options.arrivals ?? 'poisson', options.seed);
  const url = new URL(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections ?? 20 });
  const latencies = new Float64Array(offsets.length);
  const lags = new Float64Array(offsets.length);
  const statuses: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let timeouts = 0;
  let bytes = 0;
  let lastAnswer = 0;
  let settled = 0;
  const t0 = performance.now() + 5;

  return new Promise<OpenLoopResult>((resolve) => {
    const finish = (): void => {
      agent.destroy();
      const span = (lastAnswer - t0) / 1000;
      resolve({
        scheduled: offsets.length,
        completed,
        errors,
        errorCodes,
        timeouts,
        statuses,
        achievedRate: span > 0 ? completed / span : 0,
        latency: summarize(latencies.slice(0, completed)),
        sendLag: summarize(lags.slice(0, completed)),
        bytes,
      });
    };
    const settle = (): void => {
      if (++settled === offsets.length) finish();
    };
    const fire = (i: number): void => {
      const intended = t0 + (offsets[i] as number);
      let done = false;
      let lag = Number.NaN;
      const req = request(
        { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'GET', headers: options.headers, agent },
        (res) => {
          res.on('data', (chunk: Buffer) => void (bytes += chunk.length));
          res.on('end', () => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            const now = performance.now();
            lastAnswer = Math.max(lastAnswer, now);
            lags[completed] = lag;
            latencies[completed++] = now - intended;
            const key = String(res.statusCode ?? 0);
            statuses[key] = (statuses[key] ?? 0) + 1;
            settle();
          });
        },
      );
      // The socket is assigned when one is free: the wait until then is the generator's, and counts.
      req.on('socket', () => void (lag = performance.now() - intended));
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        timeouts++;
        req.destroy();
        settle();
      }, Math.max(1, intended + timeoutMs - performance.now()));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        errors++;
        const code = error.code ?? error.message;
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        settle();
      });
      req.end();
    };
    let next = 0;
    const tick = (): void => {
      const now = performance.now();
      while (next < offsets.length && t0 + (offsets[next] as number) <= now) fire(next++);
      if (next < offsets.length) setTimeout(tick, Math.max(0, t0 + (offsets[next] as number) - performance.now()));
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
}
