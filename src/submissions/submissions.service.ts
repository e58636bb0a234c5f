import { IMAGE_MODEL_FIELDS } from './submissions.dto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService, ResolvedBenchmark } from '../benchmarks/benchmarks.service';
import { Clock } from '../common/clock';
import { GrantsService } from '../grants/grants.service';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { parseUntrustedJson } from '../common/input-guard';
import { flattenValidationErrors } from '../common/validation';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { EmptyUploadError, SizeLimitExceededError, StorageService } from '../storage/storage.service';
import { AssayMetrics } from '../observability/metrics';
import { receiveMultipart } from './multipart-upload';
import { ImageUploadFieldsDto, OnnxManifestDto, QuotaResponse, SubmissionResponse, toSubmissionResponse, UploadFieldsDto } from './submissions.dto';
import { parseIntendedUse } from './intended-use';
import { IntendedUse, OnnxModelManifest, SubmissionEntity, SubmissionKind, SubmissionManifest } from './submissions.entity';
import { SubmissionsRepository } from './submissions.repository';
import { QueueService } from '../queue/queue.service';
import { JobName } from '../queue/queue.constants';

const DAY_MS = 24 * 3600 * 1000;

/** A transaction-scoped lock on a name (64-bit hash; a collision only serialises two unrelated uploads). */
async function advisoryLock(tx: EntityManager, name: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [name]);
}

export const objectLockName = (objectKey: string): string => `object:${objectKey}`;

@Injectable()
export class SubmissionsService {
  private readonly logger = new Logger('SubmissionsService');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly storage: StorageService,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly queue: QueueService,
    private readonly clock: Clock,
    private readonly grants: GrantsService,
    @Optional() private readonly metrics?: AssayMetrics,
  ) {}

  /**
   * Streams the model into a staging key while hashing it (bounded memory), checks the fields and the manifest, then
   * records the submission as `validating` and queues its check; the worker checks the model (static signature, then
   * in the sandbox) and the client follows the verdict. The staged object is always removed.
   */
  async uploadOnnx(principal: Principal, req: Request): Promise<SubmissionResponse> {
    const organisationId = this.requireVendor(principal);
    return this.withStaging('model.onnx', async (stagingKey) => {
      const upload = await this.receive(principal, req, 'model', this.config.limits.maxModelBytes, stagingKey);
      const fields = plainToInstance(UploadFieldsDto, upload.fields);
      const problems = flattenValidationErrors(validateSync(fields, { whitelist: true }));
      if (!upload.file) problems.push({ field: 'model', problem: 'missing: attach model.onnx as the file field "model"' });
      let manifestRaw: unknown = null;
      if (typeof fields.manifest === 'string') {
        // The manifest's JSON goes through the same input guard as a request body (NUL, surrogates, depth, __proto__).
        const parsed = parseUntrustedJson(fields.manifest, 'manifest');
        if ('problems' in parsed) problems.push(...parsed.problems);
        else manifestRaw = parsed.value;
      }
      const intendedUse = parseIntendedUse(fields.intendedUse);
      problems.push(...intendedUse.problems);
      let manifest: OnnxManifestDto | null = null;
      if (manifestRaw !== null) {
        manifest = plainToInstance(OnnxManifestDto, manifestRaw);
        problems.push(...flattenValidationErrors(validateSync(manifest, { whitelist: true, forbidNonWhitelisted: true }), 'manifest'));
        for (const side of ['inputs', 'outputs'] as const) {
          for (const [k, v] of Object.entries(manifest[side] ?? {})) {
            if (typeof v !== 'string' || v.length === 0) problems.push({ field: `manifest.${side}.${k}`, problem: 'must be a tensor name (string)' });
          }
        }
      }
      if (problems.length > 0 || !upload.file || !manifest) {
        throw new DomainError(ErrorCode.ValidationFailed, problems.map((p) => `${p.field}: ${p.problem}`).join('; '), problems);
      }
      const file = upload.file;
      const target = await this.resolveTarget(fields.benchmark, file.stored.bytes, 'model');
      const imageFields = Object.fromEntries(IMAGE_MODEL_FIELDS.filter((k) => manifest[k] !== undefined).map((k) => [k, manifest[k]]));
      const modelManifest: OnnxModelManifest = { name: manifest.name, version: manifest.version, inputs: manifest.inputs, outputs: manifest.outputs, ...(manifest.description ? { description: manifest.description } : {}), ...imageFields };
      return this.record(principal, organisationId, {
        target,
        kind: 'onnx',
        stagingKey,
        objectKey: `submissions/${file.stored.sha256}/model.onnx`,
        stored: file.stored,
        manifest: modelManifest,
        intendedUse: intendedUse.value,
      });
    });
  }

  /**
   * A vendor's container image as a `docker save` tarball (.tar or .tar.gz), streamed to the object store with its
   * sha256 computed on the way. The worker inspects and loads it before any run (intake); a rejected image names why.
   */
  async uploadContainer(principal: Principal, req: Request): Promise<SubmissionResponse> {
    const organisationId = this.requireVendor(principal);
    return this.withStaging('image.tar', async (stagingKey) => {
      const upload = await this.receive(principal, req, 'image', this.config.limits.maxImageBytes, stagingKey);
      const fields = plainToInstance(ImageUploadFieldsDto, upload.fields);
      const problems = flattenValidationErrors(validateSync(fields, { whitelist: true }));
      const intendedUse = parseIntendedUse(fields.intendedUse);
      problems.push(...intendedUse.problems);
      if (!upload.file) problems.push({ field: 'image', problem: 'missing: attach the `docker save` tarball as the file field "image"' });
      if (problems.length > 0 || !upload.file) throw new DomainError(ErrorCode.ValidationFailed, problems.map((p) => `${p.field}: ${p.problem}`).join('; '), problems);
      const file = upload.file;
      const head = file.head;
      const gzip = head[0] === 0x1f && head[1] === 0x8b;
      const tar = head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
      if (!gzip && !tar) throw new DomainError(ErrorCode.InvalidModel, 'image: not a tar or gzip archive (expected the output of `docker save`)', [{ field: 'image', problem: 'not a tar or gzip archive' }]);
      const target = await this.resolveTarget(fields.benchmark, file.stored.bytes, 'image');
      return this.record(principal, organisationId, {
        target,
        kind: 'container',
        stagingKey,
        objectKey: `submissions/${file.stored.sha256}/image.tar${gzip ? '.gz' : ''}`,
        stored: file.stored,
        manifest: { name: fields.name, version: fields.version, ...(fields.description ? { description: fields.description } : {}) },
        intendedUse: intendedUse.value,
      });
    });
  }

  private requireVendor(principal: Principal): string {
    if (principal.role !== Role.Vendor || !principal.organisationId) throw new DomainError(ErrorCode.Forbidden, 'only vendors submit algorithms');
    return principal.organisationId;
  }

  /** Runs the upload with a unique staging key and always removes the staged object afterwards (the sweep removes what a crash left). */
  private async withStaging<T>(fileName: string, work: (stagingKey: string) => Promise<T>): Promise<T> {
    const stagingKey = `staging/${randomUUID()}/${fileName}`;
    try {
      return await work(stagingKey);
    } finally {
      await this.storage.remove('submissions', stagingKey).catch(() => undefined);
    }
  }

  private receive(principal: Principal, req: Request, field: string, limit: number, stagingKey: string) {
    return receiveMultipart(req, {
      fileField: field,
      maxFileBytes: limit,
      store: async (stream) => {
        const stored = await this.storage.putStream('submissions', stagingKey, stream, limit);
        // Bytes received and staged (whether the submission is then accepted or not); refused mid-stream: not counted.
        this.metrics?.countUploadBytes(field, stored.bytes);
        return stored;
      },
      beforeFile: (fields) => this.precheck(principal, fields, field),
    }).catch((error: unknown) => {
      if (error instanceof SizeLimitExceededError) {
        throw new DomainError(ErrorCode.PayloadTooLarge, `${field} exceeds the upload limit of ${error.limitBytes} bytes`, [{ field, problem: `larger than ${error.limitBytes} bytes` }]);
      }
      if (error instanceof EmptyUploadError) {
        throw new DomainError(ErrorCode.ValidationFailed, `${field}: is empty (0 bytes)`, [{ field, problem: 'is empty (0 bytes)' }]);
      }
      throw error;
    });
  }

  /**
   * Before the file is stored: the benchmark exists with an open phase and the vendor is within its limits (checked
   * again, atomically, at insert). The fields must come before the file, as the API documents.
   */
  private async precheck(principal: Principal, fields: Readonly<Record<string, string>>, field: string): Promise<void> {
    const slug = fields.benchmark;
    if (typeof slug !== 'string' || slug.length === 0) {
      throw new DomainError(ErrorCode.ValidationFailed, `benchmark: send the text fields (benchmark first) before the file '${field}'`, [{ field: 'benchmark', problem: `missing before the file part '${field}'` }]);
    }
    const target = await this.resolveTarget(slug, 0, field);
    await this.enforceLimits(this.requireVendor(principal), target, this.db.manager());
  }

  private async resolveTarget(slug: string, bytes: number, field: string): Promise<ResolvedBenchmark> {
    let target: ResolvedBenchmark;
    try {
      target = await this.benchmarks.resolveCurrent(slug);
    } catch {
      throw new DomainError(ErrorCode.NotFound, `unknown benchmark '${slug}'`, [{ field: 'benchmark', problem: 'no such benchmark' }]);
    }
    const definition = target.version.definition;
    if (field === 'model' && bytes > definition.limits.modelBytes) {
      throw new DomainError(ErrorCode.PayloadTooLarge, `model is ${bytes} bytes; ${definition.slug} accepts at most ${definition.limits.modelBytes}`, [{ field, problem: 'larger than the benchmark allows' }]);
    }
    if (!target.phases.some((p) => p.status === 'open')) throw new DomainError(ErrorCode.Conflict, `benchmark '${definition.slug}' has no open phase`);
    return target;
  }

  /**
   * One transaction: the organisation's quota for the benchmark is locked, counted and the row inserted (so parallel
   * uploads cannot all pass the count), and the staged file is copied to its content-addressed key before the
   * commit. A failed transaction removes the copy unless another submission references it; a crash between copy
   * and commit leaves an unreferenced object that the upload sweep removes. Answers with the row in `validating`.
   */
  private async record(
    principal: Principal,
    organisationId: string,
    input: { target: ResolvedBenchmark; kind: SubmissionKind; stagingKey: string; objectKey: string; stored: { sha256: string; bytes: number }; manifest: SubmissionManifest; intendedUse: IntendedUse | null },
  ): Promise<SubmissionResponse> {
    const { target } = input;
    let copied = false;
    let submission: SubmissionEntity;
    try {
      submission = await this.db.transaction(async (tx) => {
        await advisoryLock(tx, `quota:${organisationId}:${target.benchmark.id}`);
        await this.enforceLimits(organisationId, target, tx);
        const row = await this.repository.insert(tx, {
          benchmarkVersionId: target.version.id,
          organisationId,
          submittedBy: principal.userId,
          kind: input.kind,
          name: `${input.manifest.name}@${input.manifest.version}`,
          manifest: input.manifest,
          objectKey: input.objectKey,
          sha256: input.stored.sha256,
          sizeBytes: String(input.stored.bytes),
          status: 'validating',
          rejectionReason: null,
          checkReport: null,
          intendedUse: input.intendedUse,
        });
        await this.audit.record(tx, {
          actorUserId: principal.userId,
          action: 'submission.received',
          entityType: 'submission',
          entityId: row.id,
          payload: { benchmark: target.version.definition.slug, benchmarkVersion: target.version.version, kind: input.kind, sha256: row.sha256, bytes: input.stored.bytes, name: row.name, intendedUseDeclared: input.intendedUse !== null },
        });
        // Held until commit, so a concurrent removal of an unreferenced copy cannot interleave.
        await advisoryLock(tx, objectLockName(input.objectKey));
        if (!(await this.storage.exists('submissions', input.objectKey))) {
          copied = true;
          await this.storage.copy('submissions', input.stagingKey, input.objectKey);
        }
        return row;
      });
    } catch (error) {
      if (copied) await this.removeIfUnreferenced(input.objectKey).catch((e: unknown) => this.logger.warn(`could not remove ${input.objectKey} after a failed upload (the sweep will): ${String(e)}`));
      throw error;
    }
    // The row is the truth: if Redis is away, the recovery sweep queues the check of every `validating` submission.
    await this.queue
      .enqueue({ name: JobName.CheckSubmission, payload: { submissionId: submission.id }, jobId: `${submission.id}:check` })
      .catch((e: unknown) => this.logger.warn(`submission ${submission.id}: check not queued yet (${String(e)}); the recovery sweep will`));
    // The row just recorded, `validating`, with no runs yet: its check (a step of the run machinery) creates the
    // first. Intake never reads runs; GET /api/submissions[/:id] (src/runs/submission-view.controller.ts) shows them.
    return toSubmissionResponse(submission, target.version.definition.slug, []);
  }

  /** Removes a content-addressed object unless a submission row references it (under the object's lock). */
  async removeIfUnreferenced(objectKey: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await advisoryLock(tx, objectLockName(objectKey));
      if (await this.repository.isObjectReferenced(tx, objectKey)) return false;
      await this.storage.remove('submissions', objectKey);
      return true;
    });
  }

  private async enforceLimits(organisationId: string, target: ResolvedBenchmark, tx: EntityManager): Promise<void> {
    const quota = await this.quotaOf(organisationId, target, tx);
    if (quota.total.counted >= quota.limits.total) {
      throw new DomainError(ErrorCode.TooManyRequests, `submission limit reached: ${quota.total.counted} of ${quota.limits.total} in total for this benchmark (${quota.total.assayFaults} more failed through Assay's fault and do not count)`);
    }
    if (quota.last24h.counted >= quota.limits.perDay) {
      throw new DomainError(ErrorCode.TooManyRequests, `submission limit reached: ${quota.last24h.counted} of ${quota.limits.perDay} in the last 24 hours (${quota.last24h.assayFaults} more failed through Assay's fault and do not count)`);
    }
  }

  /** Counts across every version of the benchmark, unless its definition says a new version starts afresh. */
  private async quotaOf(organisationId: string, target: ResolvedBenchmark, tx?: EntityManager): Promise<QuotaResponse> {
    const limits = target.version.definition.limits;
    const versionIds = limits.resetOnNewVersion === true ? [target.version.id] : await this.repository.versionIdsOfBenchmark(target.benchmark.id, tx);
    const total = await this.repository.countForLimits({ organisationId, benchmarkVersionIds: versionIds }, tx);
    const last24h = await this.repository.countForLimits({ organisationId, benchmarkVersionIds: versionIds, since: new Date(this.clock.now().getTime() - DAY_MS) }, tx);
    return { benchmark: target.version.definition.slug, limits: { perDay: limits.submissionsPerDay, total: limits.submissionsTotal }, total, last24h };
  }

  /** A vendor's standing against a benchmark's limits: what counts, and what failed through Assay's fault. */
  async quota(principal: Principal, slug: string): Promise<QuotaResponse> {
    const organisationId = this.requireVendor(principal);
    return this.quotaOf(organisationId, await this.benchmarks.resolveCurrent(slug));
  }

  /**
   * The submissions a principal may list: a vendor's own organisation's, those a regulator's grants cover, all (the
   * latest 500) for evaluators and admins. The runs side (src/runs/submission-view.controller.ts) adds their runs.
   */
  async listVisible(principal: Principal): Promise<SubmissionEntity[]> {
    return principal.role === Role.Vendor && principal.organisationId
      ? this.repository.findByOrganisation(principal.organisationId)
      : principal.role === Role.Regulator
        ? this.repository.findGranted(await this.grants.scopeOf(principal), 500)
        : this.repository.findAll(500);
  }

  async requireAccessible(principal: Principal, id: string): Promise<SubmissionEntity> {
    const s = await this.repository.findById(id);
    if (!s || (principal.role === Role.Vendor && s.organisationId !== principal.organisationId)) throw notFound('submission', id);
    return s;
  }
}
