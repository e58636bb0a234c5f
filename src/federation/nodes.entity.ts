import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { NodePolicy } from './node-policy';

export interface NodeGpu {
  index: number;
  name: string;
  memoryMb?: number;
}

/** A data-provider node registered by an admin; what it last reported in a heartbeat sits beside it. */
@Entity('nodes')
export class NodeEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'boolean', default: true }) enabled!: boolean;
  @Column({ type: 'jsonb', nullable: true }) declaredPolicy!: NodePolicy | null;
  @Column({ type: 'jsonb', nullable: true }) reportedPolicy!: NodePolicy | null;
  @Column({ type: 'timestamptz', nullable: true }) lastSeenAt!: Date | null;
  /** Round trip of the node's previous heartbeat as the node measured it (ms). */
  @Column({ type: 'integer', nullable: true }) latencyMs!: number | null;
  /** The node's heartbeat interval (ms); offline after three missed beats. */
  @Column({ type: 'integer', nullable: true }) heartbeatIntervalMs!: number | null;
  @Column({ type: 'jsonb', default: {} }) versions!: Record<string, string>;
  @Column({ type: 'jsonb', default: [] }) runtimes!: string[];
  @Column({ type: 'jsonb', default: [] }) gpus!: NodeGpu[];
  @Column({ type: 'integer', nullable: true }) queueDepth!: number | null;
  /** Cohort names the node says it hosts (its heartbeat); the registered metadata is in node_cohorts. */
  @Column({ type: 'jsonb', default: [] }) reportedCohorts!: string[];
  @Column({ type: 'uuid', nullable: true }) createdBy!: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updatedAt!: Date;
}

@Entity('node_keys')
export class NodeKeyEntity {
  /** ed25519- + first 16 hex digits of sha256(raw public key). */
  @PrimaryColumn({ type: 'text' }) keyId!: string;
  @Column({ type: 'uuid' }) nodeId!: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  @Column({ type: 'text' }) publicKey!: string;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
  @Column({ type: 'timestamptz', nullable: true }) retiredAt!: Date | null;
}

/** A count of cases, or '< 10' where the node suppressed a small cell. */
export type SuppressedCount = number | '< 10';

export interface CohortCountRow {
  attribute: string;
  value: string;
  count: SuppressedCount;
}

/** A cohort a node hosts, as metadata only. */
@Entity('node_cohorts')
export class NodeCohortEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) nodeId!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) version!: string;
  /** sha256 (hex) over the cohort version's manifest, computed on the node. */
  @Column({ type: 'text' }) contentHash!: string;
  /** Cases per split: { sample: n, test: n }. */
  @Column({ type: 'jsonb' }) caseCounts!: Record<string, number>;
  @Column({ type: 'jsonb' }) subgroupCounts!: CohortCountRow[];
  /** { modality: [{ value, count }], manufacturer: [...] , ... } */
  @Column({ type: 'jsonb' }) acquisition!: Record<string, { value: string; count: SuppressedCount }[]>;
  @CreateDateColumn({ type: 'timestamptz' }) registeredAt!: Date;
}

/** `cancelled`: its run ended first (a fault at another node, the evaluator's decision); never leased again, and a
 * result sent for it is refused as stale. */
export type NodeJobStatus = 'queued' | 'leased' | 'done' | 'cancelled';
export type NodeJobOutcome = 'succeeded' | 'failed' | 'refused-by-policy';

@Entity('node_jobs')
export class NodeJobEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid' }) nodeId!: string;
  @Column({ type: 'uuid', nullable: true }) runId!: string | null;
  @Column({ type: 'text' }) idempotencyKey!: string;
  @Column({ type: 'text' }) kind!: string;
  @Column({ type: 'jsonb' }) payload!: Record<string, unknown>;
  @Column({ type: 'text', default: 'queued' }) status!: NodeJobStatus;
  /** Which lease: an expired lease returns the job to the queue with attempt + 1. */
  @Column({ type: 'integer', default: 1 }) attempt!: number;
  @Column({ type: 'text', nullable: true }) leaseToken!: string | null;
  @Column({ type: 'timestamptz', nullable: true }) leasedAt!: Date | null;
  @Column({ type: 'timestamptz', nullable: true }) leaseExpiresAt!: Date | null;
  @Column({ type: 'text', nullable: true }) outcome!: NodeJobOutcome | null;
  @Column({ type: 'jsonb', nullable: true }) result!: Record<string, unknown> | null;
  /** The node's signature (base64url) over the result claim; re-verifiable with resultKeyId. */
  @Column({ type: 'text', nullable: true }) resultSignature!: string | null;
  @Column({ type: 'text', nullable: true }) resultKeyId!: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updatedAt!: Date;
  @Column({ type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
}
