import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import type { AssayClient } from '../../src/cli/api-client';
import { MetricsListener } from '../../src/observability/observability.module';
import { TEST_REDIS_URL } from '../support/test-env';
import { eventually, freePort, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';
import { WorkerProcess } from '../support/worker-process';

// Metrics and logs on the real stack (Postgres, Redis, the S3 server, Docker): the API's and the worker's scrape
// listeners after a real upload and a real run whose vendor container fails, and the JSON lines written meanwhile.

jest.setTimeout(240_000);

const SCRAPE_TOKEN = 'int-test-scrape-token-0123456789';
/** A vendor image whose run fails (exit 3) after writing NUL, invalid UTF-8 and a last line the vendor chose. */
const LOG_BYTES_IMAGE = 'assay-attack/log-bytes:1';
const ORG_NAME = 'Observed Oncology Vendor';

class Capture implements DestinationStream {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  json(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

interface Submission {
  id: string;
  runs: { id: string; phase: string; status: string; failureReason: string | null }[];
}

async function scrape(port: number, token: string | null): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

/** The value of one sample line (`name{labels} value`) of an exposition, or null when absent. */
function sample(body: string, name: string, labels: string): number | null {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

/** Uploads the failing vendor image and waits for its sample run to end. */
async function failingRun(vendor: AssayClient, work: string, name: string): Promise<{ submissionId: string; runId: string }> {
  const file = join(work, 'log-bytes.tar');
  execFileSync('docker', ['save', '-o', file, LOG_BYTES_IMAGE]);
  const submitted = await vendor.uploadMultipart<Submission>('/api/submissions/container', { fields: { benchmark: 'wdbc-malignancy', name, version: '1.0.0' }, fileField: 'image', filePath: file });
  const done = await eventually(
    () => vendor.get<Submission>(`/api/submissions/${submitted.id}`),
    (s) => s.runs.some((r) => r.phase === 'sample' && ['succeeded', 'failed'].includes(r.status)),
    180_000,
  );
  const run = done.runs.find((r) => r.phase === 'sample');
  expect(run).toMatchObject({ status: 'failed', failureReason: 'exit_nonzero' });
  return { submissionId: submitted.id, runId: run?.id ?? '' };
}

describe('observability on the real stack', () => {
  const logs = new Capture();
  let stack: TestStack;
  let vendor: AssayClient;
  let apiPort: number;
  let workerPort: number;
  let work: string;

  beforeAll(async () => {
    stack = await startTestStack({
      worker: true,
      env: { ASSAY_METRICS_PORT: '0', ASSAY_METRICS_TOKEN: SCRAPE_TOKEN, ASSAY_LOG_LEVEL: 'log', ASSAY_LOG_FORMAT: 'json' },
      logDestination: logs,
    });
    vendor = (await stack.vendor(ORG_NAME)).client;
    apiPort = stack.api.get(MetricsListener).port!;
    workerPort = stack.worker!.get(MetricsListener).port!;
    work = mkdtempSync(join(tmpdir(), 'assay-obs-'));
  });

  afterAll(async () => {
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('serves /metrics on its own listener only, and only with the token', async () => {
    expect(apiPort).toBeGreaterThan(0);
    expect(workerPort).toBeGreaterThan(0);
    expect(workerPort).not.toBe(apiPort);
    for (const port of [apiPort, workerPort]) {
      expect((await scrape(port, null)).status).toBe(401);
      expect((await scrape(port, 'not-the-scrape-token-0000')).status).toBe(401);
      expect((await scrape(port, SCRAPE_TOKEN)).status).toBe(200);
    }
    // The API's own port has no /metrics (with or without the token).
    const onApi = await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } });
    expect(onApi.status).not.toBe(200);
    expect(await onApi.text()).not.toContain('assay_');
  });

  it('after a real upload and run: HTTP histogram, queue gauges, upload bytes, sandbox start, failure; ids in the logs, vendor output not', async () => {
    const ids = await failingRun(vendor, work, 'observed');
    const submitted = { id: ids.submissionId };
    const run = { id: ids.runId };

    const api = await scrape(apiPort, SCRAPE_TOKEN);
    expect(api.status).toBe(200);
    // The polls above, under their route template; the upload under its own.
    expect(sample(api.body, 'assay_http_request_duration_seconds_count', 'method="GET",route="/api/submissions/:id",status="200"')).toBeGreaterThanOrEqual(1);
    expect(sample(api.body, 'assay_http_request_duration_seconds_count', 'method="POST",route="/api/submissions/container",status="202"')).toBe(1);
    expect(sample(api.body, 'assay_upload_bytes_total', 'kind="image"')).toBeGreaterThan(1000);
    for (const queue of ['sandbox-cpu', 'sandbox-gpu', 'scoring', 'reports']) {
      for (const state of ['waiting', 'active', 'delayed']) expect(sample(api.body, 'assay_queue_jobs', `queue="${queue}",state="${state}",node="local"`)).not.toBeNull();
    }
    expect(sample(api.body, 'process_resident_memory_bytes', '')).toBeGreaterThan(0);

    const worker = await scrape(workerPort, SCRAPE_TOKEN);
    expect(sample(worker.body, 'assay_run_failures_total', 'reason="exit_nonzero",fault="vendor"')).toBe(1);
    expect((sample(worker.body, 'assay_sandbox_container_starts_total', 'runtime="runsc",outcome="started"') ?? 0) + (sample(worker.body, 'assay_sandbox_container_starts_total', 'runtime="runc",outcome="started"') ?? 0)).toBeGreaterThanOrEqual(1);
    expect(sample(worker.body, 'assay_run_step_duration_seconds_count', 'step="prepare",status="failed"')).toBe(1);
    expect(sample(worker.body, 'assay_queue_jobs', 'queue="sandbox-cpu",state="waiting",node="local"')).not.toBeNull();

    // Nothing that names the vendor, the submission or the run, in either process's metrics.
    for (const body of [api.body, worker.body]) {
      for (const secret of [submitted.id, run.id, ORG_NAME, 'observed', 'last line with a NUL']) expect(body).not.toContain(secret);
    }

    // Logs: JSON lines (the in-process worker writes through the API's logger, Nest's Logger being one per process);
    // those of the run's jobs carry its ids; the vendor's container output is in none of them. The failure is
    // logged after its commit, so a poll can see the run failed just before the line is written.
    await eventually(async () => logs.lines.join(''), (t) => t.includes(`run ${run.id} failed: exit_nonzero`), 30_000);
    const lines = logs.json();
    const ofRun = lines.filter((l) => l['runId'] === run.id);
    expect(ofRun.length).toBeGreaterThan(0);
    for (const l of ofRun) expect(l).toMatchObject({ submissionId: submitted.id, job: expect.any(String), jobId: expect.any(String), attempt: expect.any(Number) });
    expect(ofRun.find((l) => String(l['msg']).includes('failed: exit_nonzero'))).toMatchObject({ context: 'RunExecutor', level: 'info', job: 'execute-run' });
    // The check of the submission (before any run) carries the submission's id.
    expect(lines.some((l) => l['submissionId'] === submitted.id && l['job'] === 'check-submission')).toBe(true);
    const all = logs.lines.join('');
    expect(all).not.toContain('last line with a NUL');
    expect(all).not.toMatch(/nul:|surrogate:/);
    expect(all).not.toContain(SCRAPE_TOKEN);
    // Request lines: route template and status, no credential.
    expect(lines.some((l) => l['route'] === '/api/submissions/:id' && (l['res'] as { statusCode?: number } | undefined)?.statusCode === 200)).toBe(true);
    const vendorToken = (vendor as unknown as { token: string }).token;
    expect(vendorToken.length).toBeGreaterThan(16);
    expect(all).not.toContain(vendorToken);
    expect(all).not.toMatch(/Bearer [A-Za-z0-9._~+/-]{16,}/);
  });
});

describe('the worker as its own process (src/worker.ts)', () => {
  let stack: TestStack;
  let worker: WorkerProcess;
  let work: string;
  let metricsPort: number;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    work = mkdtempSync(join(tmpdir(), 'assay-obs-worker-'));
    metricsPort = await freePort();
    worker = new WorkerProcess(
      {
        ASSAY_MODE: 'test',
        DATABASE_URL: stack.config.database.url,
        REDIS_URL: TEST_REDIS_URL,
        ASSAY_QUEUE_PREFIX: stack.config.redis.queuePrefix,
        // The API's embedded object store: the worker finds its port taken and uses it.
        ASSAY_S3_EMBEDDED_PORT: String(stack.config.storage.embeddedPort),
        ASSAY_DATA_DIR: stack.config.dataDir,
        ASSAY_CATALOGUE_DIR: REPO_ROOT,
        ASSAY_GENERATED_DIR: stack.config.generatedDir,
        ASSAY_WORKER_ID: `obs-${process.pid}`,
        ASSAY_WORKER_GPUS: 'none',
        ASSAY_LOG_LEVEL: 'log',
        ASSAY_LOG_FORMAT: 'json',
        ASSAY_METRICS_PORT: String(metricsPort),
        ASSAY_METRICS_TOKEN: SCRAPE_TOKEN,
      },
      join(work, 'worker.log'),
    );
    worker.start();
  });

  afterAll(async () => {
    await worker?.close();
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('writes JSON lines with the run and submission ids, and serves its metrics on its own port with the token', async () => {
    const vendor = (await stack.vendor(ORG_NAME)).client;
    const { submissionId, runId } = await failingRun(vendor, work, 'observed-process');
    expect((await scrape(metricsPort, null)).status).toBe(401);
    const scraped = await scrape(metricsPort, SCRAPE_TOKEN);
    expect(scraped.status).toBe(200);
    expect(sample(scraped.body, 'assay_run_failures_total', 'reason="exit_nonzero",fault="vendor"')).toBe(1);
    for (const secret of [submissionId, runId, ORG_NAME]) expect(scraped.body).not.toContain(secret);

    // The log file holds the worker's stdout and stderr (and WorkerProcess's own "=== life" markers). The worker
    // logs the failure after its commit, and the line reaches the file through two pipes: the run can read as
    // failed (and be counted) a moment before its line is in the file, so the file is read until it is.
    const text = await eventually(
      async () => readFileSync(join(work, 'worker.log'), 'utf8'),
      (t) => t.includes(`run ${runId} failed: exit_nonzero`),
      30_000,
    );
    const lines = text.split('\n').filter((l) => l.length > 0 && !l.startsWith('=== '));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.every((l) => l['role'] === 'worker')).toBe(true);
    const ofRun = parsed.filter((l) => l['runId'] === runId);
    expect(ofRun.find((l) => String(l['msg']).includes('failed: exit_nonzero'))).toMatchObject({ submissionId, job: 'execute-run', attempt: 1, context: 'RunExecutor' });
    expect(parsed.some((l) => String(l['msg']).startsWith('worker metrics on http://127.0.0.1:'))).toBe(true);
    expect(text).not.toContain('last line with a NUL');
  });
});
