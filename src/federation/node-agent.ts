import { decideJob, EvaluationOutput, filterEgress, JobRequirements, NodePolicy } from './node-policy';
import type { NodeKeys } from './node-keys';
import { signRequest, signResult } from './node-protocol';

/** A job as the hub leases it (POST /api/node/jobs/lease). */
export interface LeasedJob {
  id: string;
  kind: string;
  runId: string | null;
  payload: Record<string, unknown>;
  attempt: number;
  leaseToken: string;
  leaseExpiresAt: string;
}

/** What a handler returns; the agent filters `output` to the policy's egress level before signing. */
export type NodeJobOutput = { outcome: 'succeeded'; output: EvaluationOutput } | { outcome: 'failed'; reason: string };

/**
 * Runs one kind of job on the node (the evaluation handler is one). `signal` aborts when the node stops: a handler
 * that gives up then throws, the result is not sent, and the hub re-queues the job when its lease runs out.
 */
export interface NodeJobHandler {
  readonly kind: string;
  handle(job: LeasedJob, ctx: { policy: NodePolicy; signal: AbortSignal }): Promise<NodeJobOutput>;
}

/** The result a node signs and sends (NodeResultDto at the hub). */
export interface SignedNodeResult {
  outcome: 'succeeded' | 'failed' | 'refused-by-policy';
  reason?: string;
  output?: Record<string, unknown>;
}

/** What the node reports about itself in each heartbeat. */
export interface NodeDescription {
  versions: Record<string, string>;
  runtimes: string[];
  gpus: { index: number; name: string; memoryMb?: number }[];
  cohorts: string[];
}

export interface NodeAgentOptions {
  hubUrl: string;
  nodeId: string;
  keys: NodeKeys;
  policy: NodePolicy;
  handlers: NodeJobHandler[];
  describe: () => NodeDescription | Promise<NodeDescription>;
  heartbeatMs: number;
  /** How long one long poll waits at the hub (ms, at most 30000). */
  leaseWaitMs?: number;
  /** Pause after a failed request to the hub before the next (ms); doubles up to 30 s. */
  retryBaseMs?: number;
  log?: (level: 'log' | 'warn' | 'error', message: string) => void;
}

/** The agent's one job in flight: aborting `abandon` stops its handler; `sending` once its result is on the way. */
interface JobInHand {
  readonly job: LeasedJob;
  readonly abandon: AbortController;
  sending?: boolean;
}

export class HubError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: hub answered ${status} ${body.slice(0, 300)}`);
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

/** A request failed on the way (no answer from the hub, or one the hub asks to retry): the same request may be sent again. */
const retryable = (error: unknown): boolean => !(error instanceof HubError) || error.status >= 500 || error.status === 429;

/**
 * The node's side of federation: outbound HTTP(S) only, to the hub's URL (global fetch); no database or Redis of the
 * hub. Heartbeats on an interval, long-polls for its jobs, decides each against its local policy (outside it: a signed
 * 'refused-by-policy' result, never run), runs it with the handler of its kind, filters the output to the egress
 * level, signs and sends the result, retrying on network errors (the hub takes an identical re-send as a no-op).
 * One job at a time.
 */
export class NodeAgent {
  private readonly stopping = new AbortController();
  private readonly handlers = new Map<string, NodeJobHandler>();
  private lastLatencyMs: number | null = null;
  private running: Promise<void>[] = [];
  /** The job in hand (one at a time) and the controller that abandons it. */
  private current: JobInHand | null = null;
  /** Results sent, by job id (for tests and the operator's log). */
  readonly sent: { jobId: string; attempt: number; outcome: string; status: number }[] = [];

  constructor(private readonly options: NodeAgentOptions) {
    for (const h of options.handlers) {
      if (this.handlers.has(h.kind)) throw new Error(`two node job handlers for kind '${h.kind}'`);
      this.handlers.set(h.kind, h);
    }
  }

  private log(level: 'log' | 'warn' | 'error', message: string): void {
    (this.options.log ?? ((l, m) => process.stderr.write(`[node ${l}] ${m}\n`)))(level, message);
  }

  /** One signed request; answers the status and parsed JSON (null for 204). */
  async request<T>(method: 'POST', path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; json: T | null }> {
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    const headers = signRequest(this.options.keys.privateKey, { method, pathWithQuery: path, nodeId: this.options.nodeId, body: bytes });
    // A hub that stops answering must not hold the node: every request ends (and counts as a network error) after
    // its long-poll wait plus a minute.
    const waitMs = typeof (body as { waitMs?: unknown } | null)?.waitMs === 'number' ? (body as { waitMs: number }).waitMs : 0;
    const timeout = AbortSignal.timeout(waitMs + 60_000);
    const res = await fetch(`${this.options.hubUrl}${path}`, {
      method,
      headers: { ...headers, 'content-type': 'application/json' },
      body: bytes,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.text();
    if (res.status >= 400) throw new HubError(res.status, text, `${method} ${path}`);
    return { status: res.status, json: res.status === 204 || text === '' ? null : (JSON.parse(text) as T) };
  }

  /** Sends one heartbeat now (the loop calls this every heartbeatMs). */
  async heartbeat(): Promise<void> {
    const d = await this.options.describe();
    const started = Date.now();
    const current = this.current;
    const res = await this.request<{ stop?: unknown }>('POST', '/api/node/heartbeat', {
      intervalMs: this.options.heartbeatMs,
      ...(this.lastLatencyMs === null ? {} : { latencyMs: this.lastLatencyMs }),
      versions: d.versions,
      runtimes: d.runtimes,
      gpus: d.gpus,
      queueDepth: current ? 1 : 0,
      cohorts: d.cohorts,
      policy: this.options.policy,
      jobs: current ? [{ id: current.job.id, attempt: current.job.attempt, leaseToken: current.job.leaseToken }] : [],
    });
    this.lastLatencyMs = Date.now() - started;
    // The hub names the jobs it no longer wants of this node (cancelled: the run ended): stop now, not at the next extension.
    const stop = Array.isArray(res.json?.stop) ? (res.json.stop as unknown[]) : [];
    if (current && stop.includes(current.job.id)) this.abandon(current, 'the hub’s heartbeat answer says to stop it (cancelled, or the lease is no longer this node’s)');
  }

  /** Registers a cohort's metadata at the hub (what the cohort module computes on the node; see RegisterCohortDto). */
  async registerCohort(metadata: Record<string, unknown>): Promise<unknown> {
    return (await this.request('POST', '/api/node/cohorts', metadata)).json;
  }

  start(): void {
    this.running = [this.heartbeatLoop(), this.jobLoop()];
  }

  /** Stops polling and heartbeats, aborts the job in flight's signal, and waits for both loops to end. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.running);
  }

  private async heartbeatLoop(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        await this.heartbeat();
      } catch (error) {
        this.log('warn', `heartbeat failed: ${(error as Error).message}`);
      }
      await sleep(this.options.heartbeatMs, signal);
    }
  }

  private async jobLoop(): Promise<void> {
    const signal = this.stopping.signal;
    const base = this.options.retryBaseMs ?? 1_000;
    let backoff = base;
    while (!signal.aborted) {
      try {
        const leased = await this.request<LeasedJob>('POST', '/api/node/jobs/lease', { waitMs: this.options.leaseWaitMs ?? 25_000 }, signal);
        backoff = base;
        if (leased.json) await this.runJob(leased.json);
      } catch (error) {
        if (signal.aborted) break;
        this.log('warn', `lease failed: ${(error as Error).message}; retrying in ${backoff} ms`);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  /** Stops work on the job in hand: its handler's signal aborts (the running container is killed), nothing is sent. */
  private abandon(current: JobInHand, why: string): void {
    // Once its result is on the way there is nothing left to stop (the hub answers the send itself).
    if (current.abandon.signal.aborted || current.sending || this.current !== current) return;
    this.log('warn', `job ${current.job.id} attempt ${current.job.attempt}: ${why}; abandoning the work`);
    current.abandon.abort();
  }

  /** Decides, runs, filters, signs and sends one job's result. */
  async runJob(job: LeasedJob): Promise<void> {
    // The hub no longer wanting this attempt (the job was cancelled because its run ended, or the lease ran out and
    // was handed out again) means no result of it will be taken: the work is abandoned at once, its container
    // killed, instead of running to the end on the hospital's hardware for nothing. The next heartbeat's answer
    // says so (stop), and so does a refused lease extension (409/404).
    const current: JobInHand = { job, abandon: new AbortController() };
    this.current = current;
    // A long evaluation keeps its lease: extended a few times per lease period while the handler runs.
    const period = Math.max(1_000, Math.floor((Date.parse(job.leaseExpiresAt) - Date.now()) / 3));
    const keeper = setInterval(() => {
      this.request<{ leaseExpiresAt: string }>('POST', `/api/node/jobs/${job.id}/extend`, { attempt: job.attempt, leaseToken: job.leaseToken }).then(
        (res) => {
          if (res.json?.leaseExpiresAt) job.leaseExpiresAt = res.json.leaseExpiresAt;
        },
        (error: unknown) => {
          this.log('warn', `lease of job ${job.id} not extended: ${(error as Error).message}`);
          if (error instanceof HubError && (error.status === 409 || error.status === 404)) this.abandon(current, 'the hub no longer holds this lease');
        },
      );
    }, period);
    keeper.unref();
    try {
      const result = await this.resultOf(job, current.abandon.signal);
      if (!result || current.abandon.signal.aborted) return;
      current.sending = true;
      await this.sendResult(job, result);
    } finally {
      clearInterval(keeper);
      this.current = null;
    }
  }

  private async resultOf(job: LeasedJob, abandoned: AbortSignal): Promise<SignedNodeResult | null> {
    const policy = this.options.policy;
    const decision = decideJob(policy, job.payload as JobRequirements);
    if (!decision.accept) {
      this.log('log', `job ${job.id} (${job.kind}) refused by policy: ${decision.reason}`);
      return { outcome: 'refused-by-policy', reason: decision.reason };
    }
    const handler = this.handlers.get(job.kind);
    if (!handler) return { outcome: 'failed', reason: `this node has no handler for job kind '${job.kind}'` };
    let out: NodeJobOutput;
    try {
      out = await handler.handle(job, { policy, signal: AbortSignal.any([this.stopping.signal, abandoned]) });
    } catch (error) {
      // Stopping: nothing is sent; the lease runs out and the hub queues the job again.
      if (this.stopping.signal.aborted) return null;
      // Abandoned: the hub takes no result of this attempt.
      if (abandoned.aborted) return null;
      this.log('error', `job ${job.id} (${job.kind}) handler failed: ${(error as Error).stack ?? String(error)}`);
      // The reason leaves the node: a fixed text, never the handler's message (it may carry paths or case data).
      return { outcome: 'failed', reason: 'internal error on the node (see the node operator’s log)' };
    }
    if (out.outcome === 'failed') return { outcome: 'failed', reason: String(out.reason).slice(0, 500) };
    return { outcome: 'succeeded', output: filterEgress(out.output, policy.egress, this.options.keys.pseudonymSecret) as unknown as Record<string, unknown> };
  }

  /** Signs once and sends until the hub answers (an identical re-send is safe); gives up on a refusal (4xx) or at the lease's end. */
  async sendResult(job: LeasedJob, result: SignedNodeResult): Promise<void> {
    const signature = signResult(this.options.keys.privateKey, { jobId: job.id, attempt: job.attempt, nodeId: this.options.nodeId, result });
    const body = { attempt: job.attempt, leaseToken: job.leaseToken, result, signature };
    const until = Date.parse(job.leaseExpiresAt);
    let backoff = this.options.retryBaseMs ?? 1_000;
    for (;;) {
      try {
        const res = await this.request('POST', `/api/node/jobs/${job.id}/result`, body);
        this.sent.push({ jobId: job.id, attempt: job.attempt, outcome: result.outcome, status: res.status });
        return;
      } catch (error) {
        if (!retryable(error)) {
          this.sent.push({ jobId: job.id, attempt: job.attempt, outcome: result.outcome, status: (error as HubError).status });
          this.log('warn', `result of job ${job.id} attempt ${job.attempt} refused: ${(error as Error).message}`);
          return;
        }
        if (Date.now() > until || this.stopping.signal.aborted) {
          this.log('warn', `result of job ${job.id} attempt ${job.attempt} not delivered before its lease ended: ${(error as Error).message}`);
          return;
        }
        this.log('warn', `sending the result of job ${job.id} failed (${(error as Error).message}); retrying in ${backoff} ms`);
        await sleep(backoff, this.stopping.signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }
}
