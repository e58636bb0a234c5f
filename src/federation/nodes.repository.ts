import { Injectable } from '@nestjs/common';
import { EntityManager, In, IsNull } from 'typeorm';
import { Database } from '../database/database.module';
import type { NodePolicy } from './node-policy';
import { NodeCohortEntity, NodeEntity, NodeGpu, NodeJobEntity, NodeJobOutcome, NodeKeyEntity } from './nodes.entity';

export interface HeartbeatFields {
  lastSeenAt: Date;
  latencyMs: number | null;
  heartbeatIntervalMs: number;
  versions: Record<string, string>;
  runtimes: string[];
  gpus: NodeGpu[];
  queueDepth: number;
  reportedCohorts: string[];
  reportedPolicy: NodePolicy;
}

/** Nodes, their keys and their cohorts' metadata. */
@Injectable()
export class NodesRepository {
  constructor(private readonly db: Database) {}

  insertNode(tx: EntityManager, node: Pick<NodeEntity, 'name' | 'declaredPolicy' | 'createdBy'>): Promise<NodeEntity> {
    return tx.save(tx.create(NodeEntity, { ...node, enabled: true }));
  }

  findById(id: string, tx?: EntityManager): Promise<NodeEntity | null> {
    return this.db.manager(tx).findOneBy(NodeEntity, { id });
  }

  findByName(name: string, tx?: EntityManager): Promise<NodeEntity | null> {
    return this.db.manager(tx).findOneBy(NodeEntity, { name });
  }

  lockById(tx: EntityManager, id: string): Promise<NodeEntity | null> {
    return tx.getRepository(NodeEntity).createQueryBuilder('n').setLock('pessimistic_write').where('n.id = :id', { id }).getOne();
  }

  listAll(): Promise<NodeEntity[]> {
    return this.db.manager().find(NodeEntity, { order: { name: 'ASC' } });
  }

  async setEnabled(tx: EntityManager, id: string, enabled: boolean): Promise<void> {
    await tx.update(NodeEntity, { id }, { enabled });
  }

  async recordHeartbeat(id: string, fields: HeartbeatFields): Promise<void> {
    await this.db.manager().update(NodeEntity, { id }, fields);
  }

  /** The key that signs this node's requests now (null: none, which no valid request can have). */
  currentKey(nodeId: string, tx?: EntityManager): Promise<NodeKeyEntity | null> {
    return this.db.manager(tx).findOneBy(NodeKeyEntity, { nodeId, retiredAt: IsNull() });
  }

  currentKeysOf(nodeIds: string[]): Promise<NodeKeyEntity[]> {
    return nodeIds.length === 0 ? Promise.resolve([]) : this.db.manager().findBy(NodeKeyEntity, { nodeId: In(nodeIds), retiredAt: IsNull() });
  }

  findKey(keyId: string, tx?: EntityManager): Promise<NodeKeyEntity | null> {
    return this.db.manager(tx).findOneBy(NodeKeyEntity, { keyId });
  }

  findKeyByPublicKey(publicKey: string, tx?: EntityManager): Promise<NodeKeyEntity | null> {
    return this.db.manager(tx).findOneBy(NodeKeyEntity, { publicKey });
  }

  insertKey(tx: EntityManager, key: Pick<NodeKeyEntity, 'keyId' | 'nodeId' | 'publicKey'>): Promise<NodeKeyEntity> {
    return tx.save(tx.create(NodeKeyEntity, { ...key, retiredAt: null }));
  }

  async retireCurrentKey(tx: EntityManager, nodeId: string, at: Date): Promise<void> {
    await tx.update(NodeKeyEntity, { nodeId, retiredAt: IsNull() }, { retiredAt: at });
  }

  findCohort(nodeId: string, name: string, version: string, tx?: EntityManager): Promise<NodeCohortEntity | null> {
    return this.db.manager(tx).findOneBy(NodeCohortEntity, { nodeId, name, version });
  }

  insertCohort(tx: EntityManager, cohort: Omit<NodeCohortEntity, 'id' | 'registeredAt'>): Promise<NodeCohortEntity> {
    return tx.save(tx.create(NodeCohortEntity, cohort));
  }

  cohortsOf(nodeIds: string[]): Promise<NodeCohortEntity[]> {
    return nodeIds.length === 0 ? Promise.resolve([]) : this.db.manager().find(NodeCohortEntity, { where: { nodeId: In(nodeIds) }, order: { name: 'ASC', version: 'ASC' } });
  }
}

/** The Postgres channel a new job is announced on (the payload: the node's id), delivered when the enqueue commits. */
export const NODE_JOBS_CHANNEL = 'assay_node_jobs';

/**
 * The run attempt a node job belongs to, from its idempotency key (`run:<run id>:a<attempt>:<node>[:i<retry>]`, see
 * runAttemptKeyPrefix); NULL for a job that is no run's. A job of an attempt below its run's current one is
 * superseded: never leased, and cancelled by the sweep.
 */
const KEY_ATTEMPT = `substring(node_jobs.idempotency_key from '^run:[^:]+:a([0-9]+):')::int`;
const SUPERSEDED = `COALESCE((SELECT r.attempts FROM runs r WHERE r.id = node_jobs.run_id) > ${KEY_ATTEMPT}, false)`;

/** The node job queue: one table, leased by row locks. */
@Injectable()
export class NodeJobsRepository {
  constructor(private readonly db: Database) {}

  /** Inserts the job unless its idempotency key exists; returns whether this call made it. */
  async insertIfAbsent(tx: EntityManager, job: Pick<NodeJobEntity, 'nodeId' | 'runId' | 'idempotencyKey' | 'kind' | 'payload'>): Promise<boolean> {
    const rows = (await tx.query(
      `INSERT INTO node_jobs (node_id, run_id, idempotency_key, kind, payload) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
      [job.nodeId, job.runId, job.idempotencyKey, job.kind, JSON.stringify(job.payload)],
    )) as { id: string }[];
    return rows.length === 1;
  }

  /** Wakes the node's long polls, on every API process, once the transaction commits. */
  async announce(tx: EntityManager, nodeId: string): Promise<void> {
    await tx.query('SELECT pg_notify($1, $2)', [NODE_JOBS_CHANNEL, nodeId]);
  }

  findByKey(idempotencyKey: string, tx?: EntityManager): Promise<NodeJobEntity | null> {
    return this.db.manager(tx).findOneBy(NodeJobEntity, { idempotencyKey });
  }

  findById(id: string, tx?: EntityManager): Promise<NodeJobEntity | null> {
    return this.db.manager(tx).findOneBy(NodeJobEntity, { id });
  }

  /** Returns expired leases to the queue with attempt + 1 (all nodes, or one); returns how many. */
  async requeueExpired(nodeId?: string, tx?: EntityManager): Promise<number> {
    const rows = (await this.db.manager(tx).query(
      `UPDATE node_jobs SET status = 'queued', attempt = attempt + 1, lease_token = NULL, leased_at = NULL, lease_expires_at = NULL, updated_at = now()
       WHERE status = 'leased' AND lease_expires_at <= now() ${nodeId ? 'AND node_id = $1' : ''} RETURNING id`,
      nodeId ? [nodeId] : [],
    )) as [{ id: string }[], number] | { id: string }[];
    return Array.isArray(rows[0]) ? (rows[0] as { id: string }[]).length : (rows as { id: string }[]).length;
  }

  /** Leases this node's oldest queued job (SKIP LOCKED: concurrent polls of one node never take the same job). */
  async claimNext(nodeId: string, leaseMs: number, leaseToken: string): Promise<NodeJobEntity | null> {
    const rows = (await this.db.manager().query(
      `UPDATE node_jobs SET status = 'leased', lease_token = $2, leased_at = now(), lease_expires_at = now() + make_interval(secs => $3::double precision / 1000), updated_at = now()
       WHERE id = (SELECT id FROM node_jobs WHERE node_id = $1 AND status = 'queued'
                      -- never a job of a run that has ended (one enqueued as the run ended; the sweep cancels it)
                      AND (run_id IS NULL OR run_id NOT IN (SELECT r.id FROM runs r WHERE r.status IN ('succeeded', 'failed', 'cancelled')))
                      -- nor one of an attempt the run has moved past (a worker that stalled mid-dispatch enqueued it late)
                      AND NOT ${SUPERSEDED}
                    ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
       RETURNING id`,
      [nodeId, leaseToken, leaseMs],
    )) as [{ id: string }[], number] | { id: string }[];
    const first = (Array.isArray(rows[0]) ? (rows[0] as { id: string }[]) : (rows as { id: string }[]))[0];
    return first ? this.findById(first.id) : null;
  }

  /** When this node's earliest lease runs out (ms from now), so a long poll can wake for the re-queued job. */
  async msToNextExpiry(nodeId: string): Promise<number | null> {
    const rows = (await this.db.manager().query(
      `SELECT EXTRACT(EPOCH FROM (min(lease_expires_at) - now())) * 1000 AS ms FROM node_jobs WHERE node_id = $1 AND status = 'leased'`,
      [nodeId],
    )) as { ms: string | number | null }[];
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? null : Math.max(0, Number(ms));
  }

  lockById(tx: EntityManager, id: string): Promise<NodeJobEntity | null> {
    return tx.getRepository(NodeJobEntity).createQueryBuilder('j').setLock('pessimistic_write').where('j.id = :id', { id }).getOne();
  }

  /** Whether the job's lease has run out, by the database's clock (the one that set lease_expires_at). */
  async leaseExpired(tx: EntityManager, id: string): Promise<boolean> {
    const rows = (await tx.query('SELECT lease_expires_at IS NULL OR lease_expires_at <= now() AS expired FROM node_jobs WHERE id = $1', [id])) as { expired: boolean }[];
    return rows[0]?.expired ?? true;
  }

  /** Puts an expired lease back in the queue (attempt + 1), inside the caller's transaction. */
  async requeueOne(tx: EntityManager, id: string): Promise<void> {
    await tx.query(
      `UPDATE node_jobs SET status = 'queued', attempt = attempt + 1, lease_token = NULL, leased_at = NULL, lease_expires_at = NULL, updated_at = now() WHERE id = $1 AND status = 'leased'`,
      [id],
    );
  }

  async storeResult(tx: EntityManager, id: string, r: { outcome: NodeJobOutcome; result: Record<string, unknown>; signature: string; keyId: string; at: Date }): Promise<void> {
    await tx.query(
      `UPDATE node_jobs SET status = 'done', outcome = $2, result = $3::jsonb, result_signature = $4, result_key_id = $5, finished_at = $6, lease_expires_at = NULL, updated_at = now() WHERE id = $1`,
      [id, r.outcome, JSON.stringify(r.result), r.signature, r.keyId, r.at],
    );
  }

  /**
   * Cancels the open (queued or leased) jobs matching `where` (SQL over node_jobs, parameters from $1), the one form of
   * every cancellation below; returns the ids cancelled.
   */
  private async cancelOpen(manager: EntityManager, where: string, params: unknown[]): Promise<string[]> {
    const rows = (await manager.query(
      `UPDATE node_jobs SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()
        WHERE status IN ('queued', 'leased') AND ${where}
        RETURNING id`,
      params,
    )) as unknown[];
    // TypeORM's pg driver answers an UPDATE … RETURNING as [rows, count].
    const list = (Array.isArray(rows[0]) ? rows[0] : rows) as { id: string }[];
    return list.map((r) => r.id);
  }

  /**
   * Cancels the open jobs of runs that have ended: of one run, or of every finished run (the sweep's pass, which also
   * catches jobs enqueued by a dispatch whose run ended before its transition, or a crash between a run's end and
   * this call).
   */
  cancelOpenOfFinishedRuns(manager: EntityManager, runId?: string, opts: { runEndsInThisTransaction?: boolean } = {}): Promise<string[]> {
    return this.cancelOpen(
      manager,
      `run_id IS NOT NULL AND ($1::uuid IS NULL OR run_id = $1::uuid)
          AND ($2::boolean OR run_id IN (SELECT id FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled')))`,
      [runId ?? null, Boolean(opts.runEndsInThisTransaction && runId)],
    );
  }

  /**
   * Cancels the open jobs of a run's attempts below `attempt`: what an earlier attempt enqueued before a crash left the
   * run to be dispatched again. Never a later attempt's (a worker that stalled and resumes must not wreck the live one).
   */
  cancelOpenOfEarlierAttempts(runId: string, attempt: number): Promise<string[]> {
    return this.cancelOpen(this.db.manager(), `run_id = $1 AND ${KEY_ATTEMPT} < $2`, [runId, attempt]);
  }

  /** Cancels every open job of an attempt its run has moved past (the sweep's safety net for the one above). */
  cancelOpenOfSupersededAttempts(): Promise<string[]> {
    return this.cancelOpen(this.db.manager(), `run_id IS NOT NULL AND ${SUPERSEDED}`, []);
  }

  /** Gives a lease back unused (same attempt): its caller left before it could receive the job. */
  async releaseLease(id: string, leaseToken: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const rows = (await tx.query(
        `UPDATE node_jobs SET status = 'queued', lease_token = NULL, leased_at = NULL, lease_expires_at = NULL, updated_at = now() WHERE id = $1 AND status = 'leased' AND lease_token = $2 RETURNING node_id`,
        [id, leaseToken],
      )) as unknown[];
      // Back in the queue: the node's other long polls wake for it now, not at their fallback re-check.
      const row = (Array.isArray(rows[0]) ? rows[0][0] : rows[0]) as { node_id?: string } | undefined;
      if (row?.node_id) await this.announce(tx, row.node_id);
    });
  }

  /**
   * Of the jobs a node says it works on (id, attempt, lease token), those it holds no live lease on: not its job,
   * not leased (cancelled, done, queued again), another attempt or token, or the lease expired (by the database
   * clock, as extend and result judge it). The node stops working on these.
   */
  async notHeld(nodeId: string, held: readonly { id: string; attempt: number; leaseToken: string }[]): Promise<string[]> {
    if (held.length === 0) return [];
    const rows = (await this.db.manager().query(
      `SELECT h.id::text AS id FROM unnest($2::uuid[], $3::int[], $4::text[]) AS h(id, attempt, token)
        LEFT JOIN node_jobs j ON j.id = h.id AND j.node_id = $1 AND j.status = 'leased' AND j.attempt = h.attempt AND j.lease_token = h.token AND j.lease_expires_at > now()
        WHERE j.id IS NULL`,
      [nodeId, held.map((h) => h.id), held.map((h) => h.attempt), held.map((h) => h.leaseToken)],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Jobs waiting at the hub or leased, per node id. */
  async openCountsByNode(): Promise<Map<string, number>> {
    const rows = (await this.db.manager().query(`SELECT node_id, count(*)::int AS n FROM node_jobs WHERE status IN ('queued', 'leased') GROUP BY node_id`)) as { node_id: string; n: number }[];
    return new Map(rows.map((r) => [r.node_id, r.n]));
  }

  async queuedCount(nodeId: string): Promise<number> {
    return this.db.manager().count(NodeJobEntity, { where: { nodeId, status: In(['queued', 'leased']) } });
  }
}
