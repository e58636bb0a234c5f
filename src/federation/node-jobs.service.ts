import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import type { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { canonicalJson } from '../common/canonical-json';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { randomToken, sha256OfCanonical } from '../common/hashing';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { publicKeyFromBase64 } from '../reports/signing/ed25519';
import { verifyResultSignature } from './node-protocol';
import { NodeJobEntity, NodeJobOutcome } from './nodes.entity';
import { NODE_JOBS_CHANNEL, NodeJobsRepository, NodesRepository } from './nodes.repository';

/** The idempotency keys of a run's node jobs start with this, per run attempt (then the node's name, then retries). */
export const runAttemptKeyPrefix = (runId: string, attempt: number): string => `run:${runId}:a${attempt}:`;

/** A long poll re-checks the table at least this often, even with no notification (a lost LISTEN connection). */
const FALLBACK_POLL_MS = 5_000;

/**
 * Wakes long polls when a job is enqueued, by Postgres LISTEN/NOTIFY: the NOTIFY is sent inside the enqueueing
 * transaction and delivered only when it commits, so a woken poll always finds the row, and it reaches every API
 * process (and an enqueue from a worker) with no second broker. Redis pub/sub would deliver before the commit
 * unless published after it (a window to lose the wake-up); short polling would cost a query per node per tick.
 * If the listening connection drops, polls still re-check every FALLBACK_POLL_MS while it reconnects.
 */
@Injectable()
export class NodeJobWakeups implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('NodeJobWakeups');
  private readonly waiters = new Map<string, Set<() => void>>();
  private client: Client | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    await this.listen().catch((error: unknown) => {
      this.logger.warn(`LISTEN ${NODE_JOBS_CHANNEL} failed (${(error as Error).message}); long polls fall back to polling every ${FALLBACK_POLL_MS} ms`);
      this.scheduleRetry();
    });
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.config.database.url });
    client.on('notification', (msg) => {
      if (msg.channel === NODE_JOBS_CHANNEL && msg.payload) this.wake(msg.payload);
    });
    client.on('error', (error) => {
      this.logger.warn(`LISTEN connection lost: ${error.message}`);
      this.client = null;
      client.end().catch(() => undefined);
      this.wakeAll();
      this.scheduleRetry();
    });
    await client.connect();
    await client.query(`LISTEN ${NODE_JOBS_CHANNEL}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.listen().catch(() => this.scheduleRetry());
    }, 2_000);
    this.retry.unref();
  }

  private wake(nodeId: string): void {
    for (const w of this.waiters.get(nodeId) ?? []) w();
  }

  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const w of set) w();
  }

  /** Resolves when a job for this node may have arrived, after `ms`, or when `signal` aborts. */
  wait(nodeId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(nodeId) ?? new Set<() => void>();
      this.waiters.set(nodeId, set);
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(nodeId);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, FALLBACK_POLL_MS));
      set.add(done);
      signal?.addEventListener('abort', done);
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.wakeAll();
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}

/** NOTIFY channel carrying the run id of a node job whose result was just stored. */
export const NODE_RESULTS_CHANNEL = 'assay_node_results';

export interface EnqueueNodeJob {
  nodeId: string;
  runId?: string;
  kind: string;
  payload: Record<string, unknown>;
  /** The caller's key: the same key again returns the job it made the first time. */
  idempotencyKey: string;
}

export interface SubmittedResult {
  attempt: number;
  leaseToken: string;
  /** The result exactly as the node sent it (plain JSON, before DTO transformation): what it signed. */
  result: Record<string, unknown> & { outcome: NodeJobOutcome };
  signature: string;
}

const stale = (message: string, problem: string): DomainError => new DomainError(ErrorCode.Conflict, message, [{ field: 'attempt', problem }]);

/**
 * The hub's queue of work for nodes: run fan-out enqueues (idempotent on a caller's key), a node leases its own jobs
 * by long poll, and answers each with a signed result that the hub verifies and keeps with its signature.
 */
@Injectable()
export class NodeJobsService {
  private readonly logger = new Logger('NodeJobs');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly jobs: NodeJobsRepository,
    private readonly nodes: NodesRepository,
    private readonly wakeups: NodeJobWakeups,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async enqueue(input: EnqueueNodeJob): Promise<{ job: NodeJobEntity; created: boolean }> {
    if (!input.idempotencyKey || input.idempotencyKey.length > 200) throw new DomainError(ErrorCode.ValidationFailed, 'idempotencyKey: 1-200 characters', [{ field: 'idempotencyKey', problem: 'required, at most 200 characters' }]);
    const created = await this.db.transaction(async (tx) => {
      if (!(await this.nodes.findById(input.nodeId, tx))) throw notFound('node', input.nodeId);
      const made = await this.jobs.insertIfAbsent(tx, { nodeId: input.nodeId, runId: input.runId ?? null, idempotencyKey: input.idempotencyKey, kind: input.kind, payload: input.payload });
      if (made) await this.jobs.announce(tx, input.nodeId);
      return made;
    });
    const job = await this.jobs.findByKey(input.idempotencyKey);
    if (!job) throw new Error(`node job ${input.idempotencyKey} vanished after enqueue`);
    if (!created && (job.nodeId !== input.nodeId || job.kind !== input.kind || (job.runId ?? null) !== (input.runId ?? null) || canonicalJson(job.payload) !== canonicalJson(input.payload))) {
      throw new DomainError(ErrorCode.Conflict, `idempotencyKey '${input.idempotencyKey}' names another job (other node, kind, run or payload)`, [{ field: 'idempotencyKey', problem: 'already used for a different job' }]);
    }
    return { job, created };
  }

  /**
   * The next queued job of this node, leased for leaseMs; waits up to waitMs for one (null after that). Expired
   * leases of the node return to the queue (attempt + 1) first, and the wait also wakes when the next lease expires.
   */
  async lease(nodeId: string, waitMs: number, signal?: AbortSignal): Promise<NodeJobEntity | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (signal?.aborted) return null;
      // Disabled while it waited: it gets nothing more (its next request is refused by the guard).
      if (!(await this.nodes.findById(nodeId))?.enabled) return null;
      await this.jobs.requeueExpired(nodeId);
      const job = await this.jobs.claimNext(nodeId, this.config.federation.leaseMs, randomToken(24));
      if (job) {
        if (signal?.aborted) {
          // The caller went away while the lease was being made: hand it straight back (same attempt, never run).
          await this.jobs.releaseLease(job.id, job.leaseToken ?? '');
          return null;
        }
        return job;
      }
      const left = deadline - Date.now();
      if (left <= 0) return null;
      const expiry = await this.jobs.msToNextExpiry(nodeId);
      await this.wakeups.wait(nodeId, Math.max(10, Math.min(left, expiry === null ? left : expiry + 5)), signal);
    }
  }

  /** Of the jobs a node names in its heartbeat, those it should stop working on (no live lease of its own). */
  notHeld(nodeId: string, held: readonly { id: string; attempt: number; leaseToken: string }[]): Promise<string[]> {
    return this.jobs.notHeld(nodeId, held);
  }

  async submitResult(node: { id: string; keyId: string }, jobId: string, submitted: SubmittedResult): Promise<{ job: NodeJobEntity; alreadyStored: boolean }> {
    const key = await this.nodes.findKey(node.keyId);
    const publicKey = key ? publicKeyFromBase64(key.publicKey) : undefined;
    if (!key || !publicKey || key.nodeId !== node.id) throw new Error(`node ${node.id}: its request key ${node.keyId} is not on record`);
    const outcome = await this.db.transaction(async (tx) => {
      const job = await this.jobs.lockById(tx, jobId);
      // Another node's job is answered as if it did not exist.
      if (!job || job.nodeId !== node.id) throw notFound('node job', jobId);
      if (!verifyResultSignature(publicKey, { jobId, attempt: submitted.attempt, nodeId: node.id, result: submitted.result }, submitted.signature)) {
        throw new DomainError(ErrorCode.ValidationFailed, "signature: does not verify over { jobId, attempt, nodeId, result } with this node's key", [{ field: 'signature', problem: "does not verify with this node's key" }]);
      }
      if (job.status === 'done') {
        const same = job.attempt === submitted.attempt && job.leaseToken === submitted.leaseToken && job.result !== null && canonicalJson(job.result) === canonicalJson(submitted.result);
        if (!same) throw new DomainError(ErrorCode.Conflict, 'this job already has a different result; a result is never replaced', [{ field: 'result', problem: 'differs from the stored result' }]);
        return { kind: 'stored' as const, job };
      }
      if (job.status === 'cancelled') throw stale('this job was cancelled: its run ended (a fault at another node, or the evaluator cancelled it); the result is not needed', 'job cancelled');
      if (job.status !== 'leased' || job.attempt !== submitted.attempt || job.leaseToken !== submitted.leaseToken) {
        throw stale(`attempt ${submitted.attempt} is not this job's current lease (attempt ${job.attempt}, ${job.status}): its lease expired and the job was queued again`, 'stale attempt');
      }
      if (await this.jobs.leaseExpired(tx, job.id)) {
        await this.jobs.requeueOne(tx, job.id);
        await this.jobs.announce(tx, node.id);
        return { kind: 'expired' as const, job };
      }
      const at = this.clock.now();
      await this.jobs.storeResult(tx, job.id, { outcome: submitted.result.outcome, result: submitted.result, signature: submitted.signature, keyId: key.keyId, at });
      await this.audit.record(tx, {
        actorUserId: null,
        action: 'node_job.result',
        entityType: 'node_job',
        entityId: job.id,
        payload: { nodeId: node.id, attempt: job.attempt, outcome: submitted.result.outcome, keyId: key.keyId, resultSha256: sha256OfCanonical(submitted.result), runId: job.runId },
      });
      // The run this job belongs to moves on as soon as this commits (FederatedRuns listens; its sweep is the fallback).
      if (job.runId) await tx.query('SELECT pg_notify($1, $2)', [NODE_RESULTS_CHANNEL, job.runId]);
      return { kind: 'new' as const, job };
    });
    if (outcome.kind === 'expired') throw stale(`the lease of attempt ${submitted.attempt} expired before its result came; the job is queued again as attempt ${submitted.attempt + 1}`, 'lease expired');
    const job = await this.jobs.findById(jobId);
    if (!job) throw notFound('node job', jobId);
    if (outcome.kind === 'new') this.logger.log(`node ${node.id}: job ${jobId} attempt ${job.attempt} ${job.outcome}`);
    return { job, alreadyStored: outcome.kind === 'stored' };
  }

  /** Re-verifies a stored result against the key that signed it (retired keys included): the hub's record stays checkable. */
  async verifyStored(jobId: string): Promise<boolean> {
    const job = await this.jobs.findById(jobId);
    if (!job || job.status !== 'done' || !job.result || !job.resultSignature || !job.resultKeyId) return false;
    const key = await this.nodes.findKey(job.resultKeyId);
    const publicKey = key ? publicKeyFromBase64(key.publicKey) : undefined;
    if (!key || !publicKey || key.nodeId !== job.nodeId) return false;
    return verifyResultSignature(publicKey, { jobId: job.id, attempt: job.attempt, nodeId: job.nodeId, result: job.result }, job.resultSignature);
  }

  /**
   * Returns every node's expired leases to the queue (attempt + 1). A node's own poll does this for its jobs; a sweep
   * (run recovery) calls this so a node that never polls again still shows its jobs queued, not leased.
   */
  sweepExpiredLeases(): Promise<number> {
    return this.jobs.requeueExpired();
  }

  /** Cancels the open jobs of a finished run (or of every finished run); safe to repeat. See the repository. */
  async cancelJobsOfFinishedRuns(runId?: string, tx?: EntityManager): Promise<string[]> {
    const ids = await this.jobs.cancelOpenOfFinishedRuns(tx ?? this.db.manager(), runId);
    if (ids.length > 0) this.logger.log(`cancelled ${ids.length} node job(s) of ${runId ? `run ${runId}` : 'finished runs'}`);
    return ids;
  }

  /**
   * Before a run's attempt fans out: cancels the open jobs of its earlier attempts (a worker that crashed after
   * enqueueing them but before the run moved on left them queued, or leased to a node already running the vendor's
   * algorithm). Without this each node would run the same submission once per attempt, on held-out data. Safe to repeat.
   */
  async cancelJobsOfEarlierAttempts(runId: string, attempt: number): Promise<string[]> {
    const ids = await this.jobs.cancelOpenOfEarlierAttempts(runId, attempt);
    if (ids.length > 0) this.logger.log(`run ${runId} attempt ${attempt}: cancelled ${ids.length} open node job(s) of its earlier attempts`);
    return ids;
  }

  /** The sweep's part: open jobs of attempts their runs have moved past (enqueued late by a stalled worker). */
  async cancelJobsOfSupersededAttempts(): Promise<string[]> {
    const ids = await this.jobs.cancelOpenOfSupersededAttempts();
    if (ids.length > 0) this.logger.log(`cancelled ${ids.length} open node job(s) of superseded run attempts`);
    return ids;
  }

  /** Cancels a run's open jobs inside the transaction that ends the run (it is not terminal yet when this runs). */
  cancelJobsOfEndingRun(runId: string, tx: EntityManager): Promise<string[]> {
    return this.jobs.cancelOpenOfFinishedRuns(tx, runId, { runEndsInThisTransaction: true });
  }

  findJob(jobId: string): Promise<NodeJobEntity | null> {
    return this.jobs.findById(jobId);
  }

  queueDepth(nodeId: string): Promise<number> {
    return this.jobs.queuedCount(nodeId);
  }
}
