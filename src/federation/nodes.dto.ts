import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  Min,
  ValidateBy,
  ValidateNested,
} from 'class-validator';
import { EGRESS_LEVELS, EgressLevel } from './node-policy';
import type { CohortCountRow, NodeCohortEntity, NodeEntity, NodeGpu, NodeJobEntity, NodeKeyEntity, SuppressedCount } from './nodes.entity';

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
const LABEL = /^[^\u0000-\u001f]{1,100}$/;

/** A count of at least 10, or the string '< 10': a node suppresses small cells, and the hub refuses one it did not. */
export function IsSuppressedCount(): PropertyDecorator {
  return ValidateBy({
    name: 'isSuppressedCount',
    validator: {
      validate: (value: unknown) => value === '< 10' || (typeof value === 'number' && Number.isInteger(value) && value >= 10 && value <= 1e9),
      defaultMessage: (args) => `${args?.property ?? 'count'} must be a whole number of at least 10, or the string '< 10' (small cells are suppressed on the node)`,
    },
  });
}

/** { name: version } with at most 20 short entries (versions of the node's software and tools). */
export function IsVersionMap(): PropertyDecorator {
  return ValidateBy({
    name: 'isVersionMap',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.keys(value).length <= 20 &&
        Object.entries(value).every(([k, v]) => /^[A-Za-z0-9._-]{1,40}$/.test(k) && typeof v === 'string' && LABEL.test(v)),
      defaultMessage: () => 'versions must be an object of at most 20 { name: version } strings (names: letters, digits, . _ -; versions up to 100 characters)',
    },
  });
}

export class ResourceLimitsDto {
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(4096) maxCpus?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(16 * 1024 * 1024) maxMemoryMb?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(64) maxGpus?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(30 * 24 * 3600) maxRunSeconds?: number;
}

export class NodePolicyDto {
  @ApiProperty({ type: [String], example: ['wdbc-malignancy'], description: 'benchmark slugs the node runs; "*": any' })
  @IsArray()
  @ArrayMaxSize(200)
  @IsString({ each: true })
  @Length(1, 200, { each: true })
  acceptedBenchmarks!: string[];
  @ApiProperty({ type: [String], description: 'vendor organisations whose algorithms may run on the node; "*": any' })
  @IsArray()
  @ArrayMaxSize(200)
  @IsString({ each: true })
  @Length(1, 200, { each: true })
  acceptedVendorOrganisations!: string[];
  @ApiProperty({ type: ResourceLimitsDto }) @ValidateNested() @Type(() => ResourceLimitsDto) @IsObject() resourceLimits!: ResourceLimitsDto;
  @ApiProperty({ enum: EGRESS_LEVELS }) @IsIn(EGRESS_LEVELS) egress!: EgressLevel;
}

export class RegisterNodeDto {
  @ApiProperty({ example: 'site-a-radiology' }) @IsString() @Matches(NAME, { message: 'name: 1-100 letters, digits, spaces, . _ -' }) name!: string;
  @ApiProperty({ description: 'the node’s Ed25519 public key: an SPKI PEM or the base64 of the raw 32 bytes (`assay node keygen` prints both)' })
  @IsString()
  @Length(40, 400)
  publicKey!: string;
  @ApiPropertyOptional({ type: NodePolicyDto, description: 'the policy the hospital declared (shown beside the one the node reports)' })
  @IsOptional()
  @ValidateNested()
  @Type(() => NodePolicyDto)
  @IsObject()
  policy?: NodePolicyDto;
}

export class UpdateNodeDto {
  @ApiPropertyOptional({ description: 'false: the node is refused (401) until re-enabled' }) @IsOptional() @IsBoolean() enabled?: boolean;
}

export class RotateNodeKeyDto {
  @ApiProperty({ description: 'the new public key (SPKI PEM or base64 raw); the current one is refused from now on' }) @IsString() @Length(40, 400) publicKey!: string;
}

export class NodeGpuDto {
  @ApiProperty() @IsInt() @Min(0) @Max(63) index!: number;
  @ApiProperty() @IsString() @Matches(LABEL) name!: string;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(16 * 1024 * 1024) memoryMb?: number;
}

/** A job the node is working on, named in its heartbeat with the lease it holds on it. */
export class HeldJobDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() id!: string;
  @ApiProperty() @IsInt() @Min(1) @Max(1_000_000) attempt!: number;
  @ApiProperty() @IsString() @Length(16, 128) leaseToken!: string;
}

export class HeartbeatDto {
  @ApiProperty({ description: 'this node’s heartbeat interval (ms): the hub shows it offline after three missed beats' }) @IsInt() @Min(100) @Max(3_600_000) intervalMs!: number;
  @ApiPropertyOptional({ description: 'the round trip the node measured on its previous heartbeat (ms)' }) @IsOptional() @IsInt() @Min(0) @Max(3_600_000) latencyMs?: number;
  @ApiProperty({ example: { assay: '0.1.0', node: 'v22.11.0' } }) @IsVersionMap() versions!: Record<string, string>;
  @ApiProperty({ type: [String], example: ['runc', 'runsc'] }) @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) @Matches(/^[A-Za-z0-9._-]{1,40}$/, { each: true }) runtimes!: string[];
  @ApiProperty({ type: [NodeGpuDto] }) @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => NodeGpuDto) gpus!: NodeGpuDto[];
  @ApiProperty({ description: 'jobs the node holds, running or waiting' }) @IsInt() @Min(0) @Max(1_000_000) queueDepth!: number;
  @ApiProperty({ type: [String], description: 'names of the cohorts it hosts' }) @IsArray() @ArrayMaxSize(200) @IsString({ each: true }) @Matches(LABEL, { each: true }) cohorts!: string[];
  @ApiProperty({ type: NodePolicyDto, description: 'the policy the node enforces' }) @ValidateNested() @Type(() => NodePolicyDto) @IsObject() policy!: NodePolicyDto;
  @ApiPropertyOptional({ type: [HeldJobDto], description: 'the jobs it is working on, with their leases: the answer names those it should stop' })
  @IsOptional() @IsArray() @ArrayMaxSize(16) @ValidateNested({ each: true }) @Type(() => HeldJobDto) jobs?: HeldJobDto[];
}

export class LeaseDto {
  @ApiPropertyOptional({ description: 'how long to wait for a job (ms, at most 30000); 204 after that', default: 0 }) @IsOptional() @IsInt() @Min(0) @Max(30_000) waitMs?: number;
}

export const JOB_OUTCOMES = ['succeeded', 'failed', 'refused-by-policy'] as const;

export class NodeResultDto {
  @ApiProperty({ enum: JOB_OUTCOMES }) @IsIn(JOB_OUTCOMES) outcome!: (typeof JOB_OUTCOMES)[number];
  @ApiPropertyOptional({ description: 'why, for failed and refused-by-policy (a reason, never a log)' }) @IsOptional() @IsString() @Length(0, 500) reason?: string;
  @ApiPropertyOptional({ description: 'the output, already filtered to the node’s egress level on the node' }) @IsOptional() @IsObject() output?: Record<string, unknown>;
}

export class JobResultDto {
  @ApiProperty({ description: 'the attempt the lease named' }) @IsInt() @Min(1) @Max(1_000_000) attempt!: number;
  @ApiProperty({ description: 'the lease token the lease returned' }) @IsString() @Matches(/^[A-Za-z0-9_-]{20,64}$/) leaseToken!: string;
  @ApiProperty({ type: NodeResultDto }) @ValidateNested() @Type(() => NodeResultDto) @IsObject() result!: NodeResultDto;
  @ApiProperty({ description: 'Ed25519 (base64url) over "assay-node-result-v1\\n" + canonical JSON of { jobId, attempt, nodeId, result }' })
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{86}$/)
  signature!: string;
}

export class SplitCountsDto {
  @ApiProperty() @IsInt() @Min(0) @Max(1e9) sample!: number;
  @ApiProperty() @IsInt() @Min(0) @Max(1e9) test!: number;
}

export class CountRowDto {
  @ApiProperty({ example: 'sex' }) @IsString() @Matches(/^[A-Za-z0-9_.-]{1,40}$/) attribute!: string;
  @ApiProperty({ example: 'F' }) @IsString() @Matches(LABEL) value!: string;
  @ApiProperty({ oneOf: [{ type: 'integer', minimum: 10 }, { type: 'string', enum: ['< 10'] }] }) @IsSuppressedCount() count!: SuppressedCount;
}

export class ValueCountDto {
  @ApiProperty({ example: 'CT' }) @IsString() @Matches(LABEL) value!: string;
  @ApiProperty({ oneOf: [{ type: 'integer', minimum: 10 }, { type: 'string', enum: ['< 10'] }] }) @IsSuppressedCount() count!: SuppressedCount;
}

export class AcquisitionSummaryDto {
  @ApiProperty({ type: [ValueCountDto] }) @IsArray() @ArrayMaxSize(50) @ValidateNested({ each: true }) @Type(() => ValueCountDto) modality!: ValueCountDto[];
  @ApiProperty({ type: [ValueCountDto] }) @IsArray() @ArrayMaxSize(200) @ValidateNested({ each: true }) @Type(() => ValueCountDto) manufacturer!: ValueCountDto[];
  @ApiPropertyOptional({ type: [ValueCountDto] }) @IsOptional() @IsArray() @ArrayMaxSize(500) @ValidateNested({ each: true }) @Type(() => ValueCountDto) scannerModel?: ValueCountDto[];
}

/** Metadata only, strictly typed: no field here can hold a case, and an unknown field is refused (forbidNonWhitelisted). */
export class RegisterCohortDto {
  @ApiProperty({ example: 'lesion-imaging' }) @IsString() @Matches(/^[a-z0-9][a-z0-9-]{0,99}$/, { message: 'name: a cohort slug' }) name!: string;
  @ApiProperty({ example: '1' }) @IsString() @Matches(/^[A-Za-z0-9._-]{1,40}$/) version!: string;
  @ApiProperty({ description: 'sha256 (hex) over the cohort version’s manifest' }) @IsString() @Matches(/^[0-9a-f]{64}$/) contentHash!: string;
  @ApiProperty({ type: SplitCountsDto }) @ValidateNested() @Type(() => SplitCountsDto) @IsObject() caseCounts!: SplitCountsDto;
  @ApiProperty({ type: [CountRowDto] }) @IsArray() @ArrayMaxSize(500) @ValidateNested({ each: true }) @Type(() => CountRowDto) subgroupCounts!: CountRowDto[];
  @ApiProperty({ type: AcquisitionSummaryDto }) @ValidateNested() @Type(() => AcquisitionSummaryDto) @IsObject() acquisition!: AcquisitionSummaryDto;
}

export class NodeCohortResponse {
  @ApiProperty() name!: string;
  @ApiProperty() version!: string;
  @ApiProperty() contentHash!: string;
  @ApiProperty() caseCounts!: Record<string, number>;
  @ApiProperty({ type: [CountRowDto] }) subgroupCounts!: CohortCountRow[];
  @ApiProperty() acquisition!: Record<string, { value: string; count: SuppressedCount }[]>;
  @ApiProperty() registeredAt!: string;
}

export class NodeKeyResponse {
  @ApiProperty() keyId!: string;
  @ApiProperty({ description: 'base64 of the raw 32-byte key' }) publicKey!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) retiredAt!: string | null;
}

export class NodeResponse {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ enum: ['online', 'offline', 'disabled'], description: 'online: a heartbeat within three of its intervals' }) status!: 'online' | 'offline' | 'disabled';
  @ApiProperty({ nullable: true, type: String }) lastSeen!: string | null;
  @ApiProperty({ nullable: true, type: Number, description: 'ms, as the node measured its previous heartbeat' }) latencyMs!: number | null;
  @ApiProperty({ nullable: true, type: Number }) heartbeatIntervalMs!: number | null;
  @ApiProperty() versions!: Record<string, string>;
  @ApiProperty({ type: [String] }) runtimes!: string[];
  @ApiProperty({ type: [NodeGpuDto] }) gpus!: NodeGpu[];
  @ApiProperty({ nullable: true, type: Number, description: 'jobs the node holds, as its last heartbeat reported' }) queueDepth!: number | null;
  @ApiProperty({ description: 'this node’s jobs queued or leased at the hub' }) jobsAtHub!: number;
  @ApiProperty({ type: [String], description: 'cohort names from its last heartbeat' }) reportedCohorts!: string[];
  @ApiProperty({ type: [NodeCohortResponse], description: 'registered cohort metadata' }) cohorts!: NodeCohortResponse[];
  @ApiProperty({ nullable: true, type: NodePolicyDto, description: 'the policy the node enforces (from its heartbeats)' }) policy!: NodePolicyDto | null;
  @ApiProperty({ nullable: true, type: NodePolicyDto, description: 'the policy declared at registration' }) declaredPolicy!: NodePolicyDto | null;
  @ApiProperty({ type: NodeKeyResponse }) currentKey!: NodeKeyResponse | null;
  @ApiProperty() createdAt!: string;
}

export const toNodeKeyResponse = (k: NodeKeyEntity): NodeKeyResponse => ({ keyId: k.keyId, publicKey: k.publicKey, createdAt: k.createdAt.toISOString(), retiredAt: k.retiredAt?.toISOString() ?? null });

export const toNodeCohortResponse = (c: NodeCohortEntity): NodeCohortResponse => ({
  name: c.name,
  version: c.version,
  contentHash: c.contentHash,
  caseCounts: c.caseCounts,
  subgroupCounts: c.subgroupCounts,
  acquisition: c.acquisition,
  registeredAt: c.registeredAt.toISOString(),
});

/** Online: a heartbeat within three of the node's own intervals (a node that never beat is offline). */
export function nodeStatus(node: NodeEntity, now: Date): NodeResponse['status'] {
  if (!node.enabled) return 'disabled';
  if (!node.lastSeenAt || !node.heartbeatIntervalMs) return 'offline';
  return now.getTime() - node.lastSeenAt.getTime() <= 3 * node.heartbeatIntervalMs ? 'online' : 'offline';
}

export function toNodeResponse(node: NodeEntity, extra: { key: NodeKeyEntity | null; cohorts: NodeCohortEntity[]; jobsAtHub: number; now: Date }): NodeResponse {
  return {
    id: node.id,
    name: node.name,
    enabled: node.enabled,
    status: nodeStatus(node, extra.now),
    lastSeen: node.lastSeenAt?.toISOString() ?? null,
    latencyMs: node.latencyMs,
    heartbeatIntervalMs: node.heartbeatIntervalMs,
    versions: node.versions,
    runtimes: node.runtimes,
    gpus: node.gpus,
    queueDepth: node.queueDepth,
    jobsAtHub: extra.jobsAtHub,
    reportedCohorts: node.reportedCohorts,
    cohorts: extra.cohorts.map(toNodeCohortResponse),
    policy: node.reportedPolicy,
    declaredPolicy: node.declaredPolicy,
    currentKey: extra.key ? toNodeKeyResponse(extra.key) : null,
    createdAt: node.createdAt.toISOString(),
  };
}

export class LeasedJobResponse {
  @ApiProperty() id!: string;
  @ApiProperty() kind!: string;
  @ApiProperty({ nullable: true, type: String }) runId!: string | null;
  @ApiProperty() payload!: Record<string, unknown>;
  @ApiProperty() attempt!: number;
  @ApiProperty() leaseToken!: string;
  @ApiProperty({ description: 'ISO 8601: a result after this is refused (409) and the job goes back to the queue' }) leaseExpiresAt!: string;
}

export const toLeasedJobResponse = (j: NodeJobEntity): LeasedJobResponse => ({
  id: j.id,
  kind: j.kind,
  runId: j.runId,
  payload: j.payload,
  attempt: j.attempt,
  leaseToken: j.leaseToken ?? '',
  leaseExpiresAt: j.leaseExpiresAt?.toISOString() ?? '',
});

export class JobResultResponse {
  @ApiProperty() jobId!: string;
  @ApiProperty() attempt!: number;
  @ApiProperty({ enum: JOB_OUTCOMES }) outcome!: string;
  @ApiProperty({ description: 'true when this exact result was already stored (a re-send)' }) alreadyStored!: boolean;
}

export class HeartbeatResponse {
  @ApiProperty() nodeId!: string;
  @ApiProperty({ description: 'the hub’s time (ISO 8601), for the node to see its clock skew' }) serverTime!: string;
  @ApiProperty({ type: [String], description: 'of the jobs the heartbeat named, those this node no longer holds a live lease on (cancelled because its run ended, re-leased, expired, done): stop working on them, no result will be taken' })
  stop!: string[];
}
