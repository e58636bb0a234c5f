import { request } from 'node:http';
import { FailureReason, RunStatus } from '../runs/evaluation.entity';
import { observeRunFinished, RUN_STEP_OF } from '../runs/run-metrics';
import { AssayMetrics, bounded, UNMATCHED_ROUTE } from './metrics';
import { MetricsServer, scrapeAuthorized } from './metrics-server';

/** The value of one series in the registry, or undefined when it does not exist. */
async function valueOf(metrics: AssayMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => String((v.labels as Record<string, unknown>)[k]) === l));
  return match?.value;
}

/** Every label value of every series in the registry's exposition. */
async function allLabelValues(metrics: AssayMetrics): Promise<string[]> {
  const text = (await metrics.render()).body;
  return [...text.matchAll(/(\w+)="([^"]*)"/g)].map((m) => `${m[1]}=${m[2]}`);
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('AssayMetrics', () => {
  it('has its own registry per instance, with the default process metrics', async () => {
    const a = new AssayMetrics('api');
    const b = new AssayMetrics('worker');
    expect(a.registry).not.toBe(b.registry);
    a.countUploadBytes('model', 10);
    expect(await valueOf(a, 'assay_upload_bytes_total', { kind: 'model' })).toBe(10);
    expect(await valueOf(b, 'assay_upload_bytes_total', { kind: 'model' })).toBeUndefined();
    expect((await a.render()).body).toMatch(/^process_cpu_user_seconds_total /m);
    expect((await a.render()).body).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('times HTTP requests by method, route template and status; no route matched is one series', async () => {
    const m = new AssayMetrics('api', { defaultMetrics: false });
    m.observeHttpRequest({ method: 'get', route: '/api/runs/:id', status: 200, seconds: 0.02 });
    m.observeHttpRequest({ method: 'GET', route: '/api/runs/:id', status: 200, seconds: 0.03 });
    for (let i = 0; i < 50; i++) m.observeHttpRequest({ method: 'GET', route: null, status: 404, seconds: 0.001 });
    m.observeHttpRequest({ method: 'BREW', route: '/x'.repeat(100), status: 999, seconds: 0.001 });
    const hist = await m.registry.getSingleMetric('assay_http_request_duration_seconds')!.get();
    const counts = hist.values.filter((v) => (v as { metricName?: string }).metricName === 'assay_http_request_duration_seconds_count');
    expect(counts.map((v) => [v.labels.method, v.labels.route, v.labels.status, v.value]).sort()).toEqual(
      [
        ['GET', '/api/runs/:id', '200', 2],
        ['GET', UNMATCHED_ROUTE, '404', 50],
        ['other', UNMATCHED_ROUTE, 'other', 1],
      ].sort(),
    );
  });

  it('observes every recorded step of a finished run, and counts failures by reason and fault side', async () => {
    const m = new AssayMetrics('worker', { defaultMetrics: false });
    observeRunFinished(m, { status: RunStatus.Succeeded, failureReason: null, timings: { queueWaitMs: 1500, prepareMs: 200, scoringMs: 50, totalMs: 4000 } });
    observeRunFinished(m, { status: RunStatus.Failed, failureReason: FailureReason.Timeout, timings: { prepareMs: 300 } });
    observeRunFinished(m, { status: RunStatus.Failed, failureReason: FailureReason.Internal, timings: {} });
    observeRunFinished(m, { status: RunStatus.Failed, failureReason: FailureReason.Timeout, timings: {} });
    const hist = await m.registry.getSingleMetric('assay_run_step_duration_seconds')!.get();
    const sum = (step: string, status: string): number | undefined => hist.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum') && v.labels.step === step && v.labels.status === status)?.value;
    expect(sum('queue_wait', 'succeeded')).toBeCloseTo(1.5);
    expect(sum('total', 'succeeded')).toBeCloseTo(4);
    expect(sum('prepare', 'failed')).toBeCloseTo(0.3);
    // A step the run did not record is not observed as zero.
    expect(sum('determinism', 'succeeded')).toBeUndefined();
    expect(await valueOf(m, 'assay_run_failures_total', { reason: 'timeout', fault: 'vendor' })).toBe(2);
    expect(await valueOf(m, 'assay_run_failures_total', { reason: 'internal', fault: 'internal' })).toBe(1);
  });

  it('knows every step of RunTimings and nothing else (a new timing without a step name fails here)', () => {
    expect(Object.keys(RUN_STEP_OF).sort()).toEqual(
      ['queueWaitMs', 'prepareMs', 'sandboxCreateMs', 'sandboxStartMs', 'sandboxWaitMs', 'sandboxRemoveMs', 'sandboxTotalMs', 'fetchInputsMs', 'batchIoMs', 'parseOutputMs', 'storeOutputMs', 'determinismMs', 'scoringMs', 'scoringReadMs', 'totalMs'].sort(),
    );
  });

  it('bounds every label: unknown values become "other", never a new free-form series', async () => {
    const m = new AssayMetrics('worker', { defaultMetrics: false });
    const hostile = ['Acme Oncology Ltd', '3f2b8c1e-0000-4000-8000-000000000001', 'case-0042', 'a"b\nc', ''];
    for (const value of hostile) {
      m.countSandboxStart({ runtime: value, outcome: value as 'started' });
      m.countUploadBytes(value, 5);
      m.countHandback(value as 'internal');
      m.countRunFailure({ reason: value, reasons: Object.values(FailureReason), fault: value as 'vendor' });
      m.observeRunStep({ step: value, steps: ['prepare'], status: value, seconds: 1 });
    }
    // Held-out run timings with extra keys (as a later version might record): only known steps become labels.
    observeRunFinished(m, { status: RunStatus.Succeeded, failureReason: null, timings: { prepareMs: 5, ...({ 'case-0042': 7, auroc: 0.93 } as object) } });
    const values = await allLabelValues(m);
    for (const value of hostile.filter((v) => v !== '')) expect(values.join('\n')).not.toContain(value);
    expect(values.join('\n')).not.toMatch(/auroc|0\.93/);
    expect(await valueOf(m, 'assay_sandbox_container_starts_total', { runtime: 'other', outcome: 'other' })).toBe(hostile.length);
    expect(bounded('runsc', ['runsc', 'runc'])).toBe('runsc');
    expect(bounded(undefined, ['runsc'])).toBe('other');
  });

  it('declares no label that could name a submission, organisation, vendor, user or case', async () => {
    const m = new AssayMetrics('api', { defaultMetrics: false });
    const labelNames = (await m.registry.getMetricsAsJSON()).flatMap((metric) => {
      const declared = (m.registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] }).labelNames;
      return declared;
    });
    expect(new Set(labelNames)).toEqual(new Set(['method', 'route', 'status', 'step', 'reason', 'fault', 'kind', 'runtime', 'outcome', 'queue', 'state', 'node']));
  });

  it('reads queue depths at scrape time, per queue, state and node; a failing source leaves the others', async () => {
    const m = new AssayMetrics('api', { defaultMetrics: false });
    let waiting = 3;
    m.watchQueues(async () => [{ queue: 'sandbox-cpu', node: 'local', counts: { waiting, active: 1, delayed: 0 } }]);
    m.watchQueues(async () => Promise.reject(new Error('redis down')));
    expect(await valueOf(m, 'assay_queue_jobs', { queue: 'sandbox-cpu', state: 'waiting', node: 'local' })).toBe(3);
    waiting = 7;
    expect(await valueOf(m, 'assay_queue_jobs', { queue: 'sandbox-cpu', state: 'waiting', node: 'local' })).toBe(7);
    expect(await valueOf(m, 'assay_queue_jobs', { queue: 'sandbox-cpu', state: 'active', node: 'local' })).toBe(1);
    expect(await valueOf(m, 'assay_queue_jobs', { queue: 'sandbox-cpu', state: 'delayed', node: 'local' })).toBe(0);
  });
});

describe('MetricsServer', () => {
  const token = 'a-scrape-token-0123456789';
  let metrics: AssayMetrics;
  let server: MetricsServer;
  let port: number;

  beforeAll(async () => {
    metrics = new AssayMetrics('worker', { defaultMetrics: false });
    metrics.countUploadBytes('image', 42);
    server = new MetricsServer(metrics, { host: '127.0.0.1', port: 0, token });
    await server.start();
    port = server.port!;
  });
  afterAll(() => server.stop());

  it('refuses a scrape without the token, with a wrong one, or with it in the query string', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${token}` }, { authorization: `Bearer ${token}x` }]) {
      const res = await get(port, '/metrics', headers);
      expect(res.status).toBe(401);
      expect(res.body).not.toContain('assay_');
    }
    expect((await get(port, `/metrics?token=${token}`)).status).toBe(401);
  });

  it('serves the exposition with the token, and nothing but /metrics', async () => {
    const res = await get(port, '/metrics', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain('assay_upload_bytes_total{kind="image"} 42');
    expect((await get(port, '/', { authorization: `Bearer ${token}` })).status).toBe(404);
    expect((await get(port, '/metrics/../api/health', { authorization: `Bearer ${token}` })).status).toBe(404);
    expect((await get(port, '/metrics', { authorization: `Bearer ${token}` }, 'POST')).status).toBe(405);
  });

  it('compares tokens without a shortcut on length, and allows all when none is configured', () => {
    expect(scrapeAuthorized(`Bearer ${token}`, token)).toBe(true);
    expect(scrapeAuthorized('Bearer a', token)).toBe(false);
    expect(scrapeAuthorized(undefined, token)).toBe(false);
    expect(scrapeAuthorized(undefined, null)).toBe(true);
  });
});
