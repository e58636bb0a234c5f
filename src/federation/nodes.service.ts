import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { Database } from '../database/database.module';
import { parseNodePublicKey } from './node-protocol';
import type { NodePolicy } from './node-policy';
import { HeartbeatDto, NodeResponse, RegisterCohortDto, toNodeResponse } from './nodes.dto';
import { NodeCohortEntity, NodeEntity, NodeKeyEntity } from './nodes.entity';
import { NodeJobsRepository, NodesRepository } from './nodes.repository';

const badKey = (problem: string): DomainError => new DomainError(ErrorCode.ValidationFailed, `publicKey: ${problem}`, [{ field: 'publicKey', problem }]);

/** Plain JSON of a validated DTO (class instances out, so jsonb stores only the fields). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * Node identity and health at the hub: admins register nodes with their public keys, disable them and rotate keys
 * (audited); nodes report heartbeats and cohort metadata through their signed routes.
 */
@Injectable()
export class NodesService {
  constructor(
    private readonly repository: NodesRepository,
    private readonly jobs: NodeJobsRepository,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async register(actor: Principal, input: { name: string; publicKey: string; policy?: NodePolicy }): Promise<NodeResponse> {
    const parsed = parseNodePublicKey(input.publicKey);
    if ('problem' in parsed) throw badKey(parsed.problem);
    const { node, key } = await this.db.transaction(async (tx) => {
      if (await this.repository.findByName(input.name, tx)) throw new DomainError(ErrorCode.Conflict, `a node named '${input.name}' exists`, [{ field: 'name', problem: 'already registered' }]);
      if (await this.repository.findKeyByPublicKey(parsed.raw, tx)) throw new DomainError(ErrorCode.Conflict, 'publicKey: this key is already registered; every node has a key pair of its own', [{ field: 'publicKey', problem: 'already registered' }]);
      const created = await this.repository.insertNode(tx, { name: input.name, declaredPolicy: input.policy ? plain(input.policy) : null, createdBy: actor.userId });
      const k = await this.repository.insertKey(tx, { keyId: parsed.keyId, nodeId: created.id, publicKey: parsed.raw });
      await this.audit.record(tx, { actorUserId: actor.userId, action: 'node.registered', entityType: 'node', entityId: created.id, payload: { name: input.name, keyId: parsed.keyId } });
      return { node: created, key: k };
    });
    return toNodeResponse(node, { key, cohorts: [], jobsAtHub: 0, now: this.clock.now() });
  }

  async list(): Promise<NodeResponse[]> {
    const nodes = await this.repository.listAll();
    const ids = nodes.map((n) => n.id);
    const [keys, cohorts, open] = await Promise.all([this.repository.currentKeysOf(ids), this.repository.cohortsOf(ids), this.jobs.openCountsByNode()]);
    const now = this.clock.now();
    return nodes.map((n) => toNodeResponse(n, { key: keys.find((k) => k.nodeId === n.id) ?? null, cohorts: cohorts.filter((c) => c.nodeId === n.id), jobsAtHub: open.get(n.id) ?? 0, now }));
  }

  async get(id: string): Promise<NodeResponse> {
    const node = await this.repository.findById(id);
    if (!node) throw notFound('node', id);
    return this.view(node);
  }

  private async view(node: NodeEntity): Promise<NodeResponse> {
    const [key, cohorts, open] = await Promise.all([this.repository.currentKey(node.id), this.repository.cohortsOf([node.id]), this.jobs.openCountsByNode()]);
    return toNodeResponse(node, { key, cohorts, jobsAtHub: open.get(node.id) ?? 0, now: this.clock.now() });
  }

  async setEnabled(actor: Principal, id: string, enabled: boolean): Promise<NodeResponse> {
    await this.db.transaction(async (tx) => {
      const node = await this.repository.lockById(tx, id);
      if (!node) throw notFound('node', id);
      if (node.enabled === enabled) return;
      await this.repository.setEnabled(tx, id, enabled);
      await this.audit.record(tx, { actorUserId: actor.userId, action: enabled ? 'node.enabled' : 'node.disabled', entityType: 'node', entityId: id });
    });
    return this.get(id);
  }

  /** The new key signs from now on; the old one is retired (refused for requests, kept to re-verify what it signed). */
  async rotateKey(actor: Principal, id: string, publicKey: string): Promise<NodeResponse> {
    const parsed = parseNodePublicKey(publicKey);
    if ('problem' in parsed) throw badKey(parsed.problem);
    await this.db.transaction(async (tx) => {
      const node = await this.repository.lockById(tx, id);
      if (!node) throw notFound('node', id);
      if (await this.repository.findKeyByPublicKey(parsed.raw, tx)) throw new DomainError(ErrorCode.Conflict, 'publicKey: this key is already registered (a rotation needs a new key pair)', [{ field: 'publicKey', problem: 'already registered' }]);
      const old = await this.repository.currentKey(id, tx);
      await this.repository.retireCurrentKey(tx, id, this.clock.now());
      await this.repository.insertKey(tx, { keyId: parsed.keyId, nodeId: id, publicKey: parsed.raw });
      await this.audit.record(tx, { actorUserId: actor.userId, action: 'node.key_rotated', entityType: 'node', entityId: id, payload: { retiredKeyId: old?.keyId ?? null, keyId: parsed.keyId } });
    });
    return this.get(id);
  }

  async heartbeat(nodeId: string, beat: HeartbeatDto): Promise<void> {
    await this.repository.recordHeartbeat(nodeId, {
      lastSeenAt: this.clock.now(),
      latencyMs: beat.latencyMs ?? null,
      heartbeatIntervalMs: beat.intervalMs,
      versions: { ...beat.versions },
      runtimes: [...beat.runtimes],
      gpus: plain(beat.gpus),
      queueDepth: beat.queueDepth,
      reportedCohorts: [...beat.cohorts],
      reportedPolicy: plain(beat.policy),
    });
  }

  /**
   * Cohort metadata from its node: a cohort version is immutable, so the same name and version again is accepted only
   * with the same content hash (a re-send), never with other content.
   */
  async registerCohort(nodeId: string, c: RegisterCohortDto): Promise<{ created: boolean; cohort: NodeCohortEntity }> {
    const existing = await this.repository.findCohort(nodeId, c.name, c.version);
    if (existing) {
      if (existing.contentHash !== c.contentHash) {
        throw new DomainError(ErrorCode.Conflict, `cohort ${c.name} version ${c.version} is registered with another content hash; a changed cohort is a new version`, [{ field: 'contentHash', problem: 'differs from the registered version' }]);
      }
      return { created: false, cohort: existing };
    }
    const body = plain(c);
    return this.db.transaction(async (tx) => {
    const cohort = await this.repository.insertCohort(tx, {
      nodeId,
      name: body.name,
      version: body.version,
      contentHash: body.contentHash,
      caseCounts: { sample: body.caseCounts.sample, test: body.caseCounts.test },
      subgroupCounts: body.subgroupCounts.map((r) => ({ attribute: r.attribute, value: r.value, count: r.count })),
      acquisition: Object.fromEntries(Object.entries(body.acquisition).map(([k, rows]) => [k, (rows as { value: string; count: number | '< 10' }[]).map((r) => ({ value: r.value, count: r.count }))])),
    });
    await this.audit.record(tx, { actorUserId: null, action: 'node.cohort_registered', entityType: 'node', entityId: nodeId, payload: { name: c.name, version: c.version, contentHash: c.contentHash } });
    return { created: true, cohort };
    });
  }

  currentKeyOf(nodeId: string): Promise<NodeKeyEntity | null> {
    return this.repository.currentKey(nodeId);
  }
}
