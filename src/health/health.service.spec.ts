import { HealthReport, summarise } from './health.service';

describe('summarise (the health view for everyone but admins)', () => {
  it('keeps up/down per component and drops versions, endpoints, errors and worker ids', () => {
    const report: HealthReport = {
      ok: false,
      postgres: { ok: true, latencyMs: 2 },
      redis: { ok: true, latencyMs: 1 },
      objectStore: { ok: true, latencyMs: 3, detail: { endpoint: 'http://127.0.0.1:9100' } },
      docker: { ok: false, latencyMs: 4, error: 'no live worker reaches a Docker engine', detail: [{ worker: 'w-1', docker: { version: '27.1' } }] },
    };
    const summary = summarise(report);
    expect(summary).toEqual({ ok: false, postgres: 'up', redis: 'up', objectStore: 'up', docker: 'down' });
    expect(JSON.stringify(summary)).not.toMatch(/127\.0\.0\.1|w-1|27\.1|latency|worker/);
  });
});
