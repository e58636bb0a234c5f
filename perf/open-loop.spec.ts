import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openLoop, schedule, summarize } from './open-loop';

/** A loopback server whose handler is given; resolves with its base URL. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('open-loop load generator (perf/)', () => {
  it('schedules uniform arrivals at exactly 1000 / rate ms apart', () => {
    const s = schedule(200, 2, 'uniform');
    expect(s.length).toBe(400);
    expect(s[0]).toBe(0);
    expect(s[399]).toBeCloseTo(399 * 5, 10);
  });

  it('schedules Poisson arrivals: exponential gaps with mean 1000 / rate (coefficient of variation 1), reproducible from the seed', () => {
    const s = schedule(200, 100, 'poisson', 7);
    expect(s.length).toBe(20_000);
    const gaps = Array.from(s.subarray(1), (t, i) => t - (s[i] as number));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / (gaps.length - 1));
    expect(Math.abs(mean - 5) / 5).toBeLessThan(0.03);
    expect(Math.abs(sd / mean - 1)).toBeLessThan(0.03);
    expect(schedule(200, 100, 'poisson', 7)).toEqual(s);
    expect(schedule(200, 100, 'poisson', 8)).not.toEqual(s);
  });

  it('summarizes by nearest rank', () => {
    const values = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarize(values)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(summarize(Float64Array.of(3))).toEqual({ p50: 3, p90: 3, p99: 3, max: 3, mean: 3 });
  });

  it('sends at the rate asked and measures a quick server as quick', async () => {
    const { server, base } = await serve((_req, res) => void setTimeout(() => res.end('ok'), 2));
    try {
      const r = await openLoop({ url: `${base}/x`, rate: 100, durationS: 1, arrivals: 'uniform' });
      expect(r).toMatchObject({ scheduled: 100, completed: 100, errors: 0, timeouts: 0, statuses: { '200': 100 }, bytes: 200 });
      expect(r.achievedRate).toBeGreaterThan(85);
      expect(r.achievedRate).toBeLessThan(115);
      expect(r.latency.p50).toBeGreaterThanOrEqual(2);
      expect(r.latency.p50).toBeLessThan(40);
    } finally {
      await close(server);
    }
  });

  it('counts the wait for a connection against the server (coordinated omission): one connection, 25 ms answers, 80 requests/s', async () => {
    // The server can answer 40 requests/s over one connection; 80 are due each second. Measured from when each
    // request was sent, every answer takes ~25 ms; measured from when it was due, the queue grows to ~1 s.
    const { server, base } = await serve((_req, res) => void setTimeout(() => res.end('ok'), 25));
    try {
      const r = await openLoop({ url: `${base}/x`, rate: 80, durationS: 1, arrivals: 'uniform', connections: 1 });
      expect(r.completed).toBe(80);
      expect(r.latency.p99).toBeGreaterThan(600);
      expect(r.sendLag.p99).toBeGreaterThan(500);
      expect(r.latency.p50).toBeGreaterThan(r.latency.p99 / 4);
    } finally {
      await close(server);
    }
  });

  it('counts a request unanswered within the timeout as a timeout, and a refused connection as an error', async () => {
    const { server, base } = await serve(() => undefined);
    try {
      const r = await openLoop({ url: `${base}/hang`, rate: 20, durationS: 0.5, arrivals: 'uniform', timeoutMs: 200 });
      expect(r).toMatchObject({ scheduled: 10, completed: 0, timeouts: 10, errors: 0 });
    } finally {
      await close(server);
    }
    const refused = await openLoop({ url: base, rate: 20, durationS: 0.5, arrivals: 'uniform', timeoutMs: 2000 });
    expect(refused).toMatchObject({ scheduled: 10, completed: 0, errors: 10, timeouts: 0 });
  });
});
