import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus metrics: one registry per process (API, worker, and later a federation node), with the
 * default process metrics. Every label takes its value from a closed set (route templates, enum members, queue names)
 * and anything outside it is counted as 'other', so no caller can blow up the series count, and nothing a vendor must
 * not learn (submission ids, organisation names, case ids, metric values) can become a label: the observers below
 * take no free-form strings at all, except the route template, which is the server's own code.
 */
export type ProcessRole = 'api' | 'worker' | 'node';

/** The queue states a depth is reported for (Bull's getJobCounts). */
export const QUEUE_STATES = ['waiting', 'active', 'delayed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** What one queue holds now; `node` is 'local' for this facility's queues (federation: the node's id). */
export interface QueueDepth {
  queue: string;
  node: string;
  counts: Partial<Record<QueueState, number>>;
}
export type QueueDepthSource = () => Promise<QueueDepth[]>;

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const SANDBOX_RUNTIMES = ['runsc', 'runc'] as const;
export const SANDBOX_START_OUTCOMES = ['started', 'failed'] as const;
export const UPLOAD_KINDS = ['model', 'image'] as const;
export const HANDBACK_KINDS = ['internal', 'transient', 'drained'] as const;
export const FAULT_SIDES = ['vendor', 'internal'] as const;
export const RUN_END_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;

/** Label for HTTP requests no route matched (scanners, typos): one series, not one per URL. */
export const UNMATCHED_ROUTE = 'unmatched';
const MAX_ROUTE_LENGTH = 120;
/** Queue-depth entries kept per scrape (queues × nodes): a bound, should a source ever list more than it should. */
const MAX_QUEUE_DEPTHS = 256;

/** `value` when it is one of `allowed`, else 'other'. */
export function bounded<T extends string>(value: string | null | undefined, allowed: readonly T[]): T | 'other' {
  return value !== null && value !== undefined && (allowed as readonly string[]).includes(value) ? (value as T) : 'other';
}

const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STEP_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

export class AssayMetrics {
  readonly registry = new Registry();
  private readonly queueSources: QueueDepthSource[] = [];
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly stepDuration: Histogram<'step' | 'status'>;
  private readonly failures: Counter<'reason' | 'fault'>;
  private readonly handbacks: Counter<'kind'>;
  private readonly sandboxStarts: Counter<'runtime' | 'outcome'>;
  private readonly uploadBytes: Counter<'kind'>;

  constructor(
    readonly role: ProcessRole,
    private readonly options: { defaultMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    if (this.options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'assay_http_request_duration_seconds',
      help: 'HTTP requests served by the API, by method, route template (never the raw URL) and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'assay_run_step_duration_seconds',
      help: "Duration of each step of a finished run (from the run's recorded timings), by step and final status",
      labelNames: ['step', 'status'],
      buckets: STEP_BUCKETS_S,
      registers,
    });
    this.failures = new Counter({
      name: 'assay_run_failures_total',
      help: "Runs that ended failed, by failure reason and whose fault it was (vendor: their algorithm; internal: Assay's)",
      labelNames: ['reason', 'fault'],
      registers,
    });
    this.handbacks = new Counter({
      name: 'assay_run_handbacks_total',
      help: 'Run attempts handed back to the queue: internal fault (counts an attempt), transient infrastructure fault, worker drained',
      labelNames: ['kind'],
      registers,
    });
    this.sandboxStarts = new Counter({
      name: 'assay_sandbox_container_starts_total',
      help: 'Sandbox containers this worker tried to start, by runtime and whether Docker started them',
      labelNames: ['runtime', 'outcome'],
      registers,
    });
    this.uploadBytes = new Counter({
      name: 'assay_upload_bytes_total',
      help: 'Bytes of submission uploads received into staging, by kind (model: ONNX; image: container image tarball)',
      labelNames: ['kind'],
      registers,
    });
    const sources = this.queueSources;
    new Gauge({
      name: 'assay_queue_jobs',
      help: 'Jobs in each queue by state, read from Redis at scrape time; node is local for this facility',
      labelNames: ['queue', 'state', 'node'],
      registers,
      async collect() {
        this.reset();
        const depths = (await Promise.all(sources.map((s) => s().catch(() => [] as QueueDepth[])))).flat().slice(0, MAX_QUEUE_DEPTHS);
        for (const d of depths) for (const state of QUEUE_STATES) this.set({ queue: d.queue, state, node: d.node }, d.counts[state] ?? 0);
      },
    });
  }

  /** A source of queue depths, read at every scrape (the queue module registers Bull's; a node, its own). */
  watchQueues(source: QueueDepthSource): void {
    this.queueSources.push(source);
  }

  observeHttpRequest(input: { method: string; route: string | null; status: number; seconds: number }): void {
    const route = input.route && input.route.length <= MAX_ROUTE_LENGTH ? input.route : UNMATCHED_ROUTE;
    const status = Number.isInteger(input.status) && input.status >= 100 && input.status <= 599 ? String(input.status) : 'other';
    this.httpDuration.observe({ method: bounded(input.method.toUpperCase(), HTTP_METHODS), route, status }, input.seconds);
  }

  /** One step's duration of a run that reached `status` (steps: a closed list the caller names, e.g. RUN_STEPS). */
  observeRunStep(input: { step: string; steps: readonly string[]; status: string; seconds: number }): void {
    if (!Number.isFinite(input.seconds) || input.seconds < 0) return;
    this.stepDuration.observe({ step: bounded(input.step, input.steps), status: bounded(input.status, RUN_END_STATUSES) }, input.seconds);
  }

  countRunFailure(input: { reason: string; reasons: readonly string[]; fault: (typeof FAULT_SIDES)[number] }): void {
    this.failures.inc({ reason: bounded(input.reason, input.reasons), fault: bounded(input.fault, FAULT_SIDES) });
  }

  countHandback(kind: (typeof HANDBACK_KINDS)[number]): void {
    this.handbacks.inc({ kind: bounded(kind, HANDBACK_KINDS) });
  }

  countSandboxStart(input: { runtime: string; outcome: (typeof SANDBOX_START_OUTCOMES)[number] }): void {
    this.sandboxStarts.inc({ runtime: bounded(input.runtime, SANDBOX_RUNTIMES), outcome: bounded(input.outcome, SANDBOX_START_OUTCOMES) });
  }

  countUploadBytes(kind: string, bytes: number): void {
    if (bytes > 0) this.uploadBytes.inc({ kind: bounded(kind, UPLOAD_KINDS) }, bytes);
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
