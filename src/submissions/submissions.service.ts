import { Inject, Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService, ResolvedBenchmark } from '../benchmarks/benchmarks.service';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { parseUntrustedJson } from '../common/input-guard';
import { flattenValidationErrors } from '../common/validation';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { EvaluationService } from '../evaluation/evaluation.service';
import { SizeLimitExceededError, StorageService } from '../storage/storage.service';
import { receiveMultipart } from './multipart-upload';
import { inspectOnnx, interfaceProblems } from './onnx-inspect';
import { ImageUploadFieldsDto, OnnxManifestDto, QuotaResponse, SubmissionResponse, toRunSummary, toSubmissionResponse, UploadFieldsDto } from './submissions.dto';
import { OnnxModelManifest, SubmissionEntity, SubmissionKind, SubmissionManifest } from './submissions.entity';
import { SubmissionsRepository } from './submissions.repository';
import { QueueService } from '../queue/queue.service';
import { JobName } from '../queue/queue.constants';

const DAY_MS = 24 * 3600 * 1000;

@Injectable()
export class SubmissionsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: SubmissionsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly storage: StorageService,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly queue: QueueService,
    private readonly evaluation: EvaluationService,
    private readonly clock: Clock,
  ) {}

  /**
   * Streams the model into a staging key while hashing it, checks fields, manifest and the model's signature, then
   * moves it to its content-addressed key and records the submission. Any failure removes the staged object.
   */
  async uploadOnnx(principal: Principal, req: Request): Promise<SubmissionResponse> {
    const organisationId = this.requireVendor(principal);
    return this.withStaging('model.onnx', async (stagingKey, staged) => {
      const upload = await this.receive(req, 'model', this.config.limits.maxModelBytes, stagingKey, staged);
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
      const target = await this.resolveTarget(fields.benchmark, organisationId, file.stored.bytes, 'model');
      const definition = target.version.definition;
      let inspection;
      try {
        inspection = inspectOnnx(file.collected);
      } catch (error) {
        throw new DomainError(ErrorCode.InvalidModel, `model: ${(error as Error).message}`, [{ field: 'model', problem: (error as Error).message }]);
      }
      const modelManifest: OnnxModelManifest = { name: manifest.name, version: manifest.version, inputs: manifest.inputs, outputs: manifest.outputs, ...(manifest.description ? { description: manifest.description } : {}) };
      const fit = interfaceProblems(inspection, modelManifest, definition.interface);
      if (fit.length > 0) {
        throw new DomainError(ErrorCode.InvalidModel, `the model does not fit ${definition.slug}: ${fit.join('; ')}`, fit.map((problem) => ({ field: 'model', problem })));
      }
      return this.record(principal, {
        target,
        kind: 'onnx',
        stagingKey,
        objectKey: `submissions/${file.stored.sha256}/model.onnx`,
        stored: file.stored,
        manifest: modelManifest,
        checkReport: { static: inspection },
        field: 'model',
      });
    });
  }

  /**
   * A vendor's container image as a `docker save` tarball (.tar or .tar.gz), streamed to the object store with its
   * sha256 computed on the way. The worker inspects and loads it before any run (intake); a rejected image names why.
   */
  async uploadContainer(principal: Principal, req: Request): Promise<SubmissionResponse> {
    const organisationId = this.requireVendor(principal);
    return this.withStaging('image.tar', async (stagingKey, staged) => {
      const upload = await this.receive(req, 'image', this.config.limits.maxImageBytes, stagingKey, staged);
      const fields = plainToInstance(ImageUploadFieldsDto, upload.fields);
      const problems = flattenValidationErrors(validateSync(fields, { whitelist: true }));
      if (!upload.file) problems.push({ field: 'image', problem: 'missing: attach the `docker save` tarball as the file field "image"' });
      if (problems.length > 0 || !upload.file) throw new DomainError(ErrorCode.ValidationFailed, problems.map((p) => `${p.field}: ${p.problem}`).join('; '), problems);
      const file = upload.file;
      const head = file.collected.subarray(0, 262);
      const gzip = head[0] === 0x1f && head[1] === 0x8b;
      const tar = head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
      if (!gzip && !tar) throw new DomainError(ErrorCode.InvalidModel, 'image: not a tar or gzip archive (expected the output of `docker save`)', [{ field: 'image', problem: 'not a tar or gzip archive' }]);
      const target = await this.resolveTarget(fields.benchmark, organisationId, file.stored.bytes, 'image');
      return this.record(principal, {
        target,
        kind: 'container',
        stagingKey,
        objectKey: `submissions/${file.stored.sha256}/image.tar${gzip ? '.gz' : ''}`,
        stored: file.stored,
        manifest: { name: fields.name, version: fields.version, ...(fields.description ? { description: fields.description } : {}) },
        checkReport: null,
        field: 'image',
      });
    });
  }

  private requireVendor(principal: Principal): string {
    if (principal.role !== Role.Vendor || !principal.organisationId) throw new DomainError(ErrorCode.Forbidden, 'only vendors submit algorithms');
    return principal.organisationId;
  }

  /** Runs the upload with a unique staging key and always removes the staged object afterwards. */
  private async withStaging<T>(fileName: string, work: (stagingKey: string, staged: { value: boolean }) => Promise<T>): Promise<T> {
    const stagingKey = `staging/${randomUUID()}/${fileName}`;
    const staged = { value: false };
    try {
      return await work(stagingKey, staged);
    } finally {
      if (staged.value) await this.storage.remove('submissions', stagingKey).catch(() => undefined);
    }
  }

  private receive(req: Request, field: string, limit: number, stagingKey: string, staged: { value: boolean }) {
    return receiveMultipart(req, {
      fileField: field,
      maxFileBytes: limit,
      // Only the first 1 MiB is kept in memory for a container tarball (its header is all the API looks at).
      collectBytes: field === 'image' ? 1024 * 1024 : limit,
      store: async (stream) => {
        staged.value = true;
        return this.storage.putStream('submissions', stagingKey, stream, limit);
      },
    }).catch((error: unknown) => {
      if (error instanceof SizeLimitExceededError) {
        throw new DomainError(ErrorCode.PayloadTooLarge, `${field} exceeds the upload limit of ${error.limitBytes} bytes`, [{ field, problem: `larger than ${error.limitBytes} bytes` }]);
      }
      throw error;
    });
  }

  private async resolveTarget(slug: string, organisationId: string, bytes: number, field: string): Promise<ResolvedBenchmark> {
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
    await this.enforceLimits(organisationId, target);
    return target;
  }

  /** Moves the staged file to its content-addressed key (once), records the submission, queues its check, waits for it. */
  private async record(
    principal: Principal,
    input: { target: ResolvedBenchmark; kind: SubmissionKind; stagingKey: string; objectKey: string; stored: { sha256: string; bytes: number }; manifest: SubmissionManifest; checkReport: Record<string, unknown> | null; field: string },
  ): Promise<SubmissionResponse> {
    const { target } = input;
    if (!(await this.storage.exists('submissions', input.objectKey))) await this.storage.copy('submissions', input.stagingKey, input.objectKey);
    const submission = await this.db.transaction(async (tx) => {
      const row = await this.repository.insert(tx, {
        benchmarkVersionId: target.version.id,
        organisationId: principal.organisationId as string,
        submittedBy: principal.userId,
        kind: input.kind,
        name: `${input.manifest.name}@${input.manifest.version}`,
        manifest: input.manifest,
        objectKey: input.objectKey,
        sha256: input.stored.sha256,
        sizeBytes: String(input.stored.bytes),
        status: 'validating',
        rejectionReason: null,
        checkReport: input.checkReport,
      });
      await this.audit.record(tx, {
        actorUserId: principal.userId,
        action: 'submission.received',
        entityType: 'submission',
        entityId: row.id,
        payload: { benchmark: target.version.definition.slug, benchmarkVersion: target.version.version, kind: input.kind, sha256: row.sha256, bytes: input.stored.bytes, name: row.name },
      });
      return row;
    });
    await this.queue.enqueue({ name: JobName.CheckSubmission, payload: { submissionId: submission.id }, jobId: `${submission.id}:check` });
    const settled = await this.waitWhileValidating(submission.id);
    if (settled.status === 'rejected') {
      throw new DomainError(ErrorCode.InvalidModel, `submission ${settled.id} rejected: ${settled.rejectionReason ?? 'it failed its check'}`, [{ field: input.field, problem: settled.rejectionReason ?? 'failed its check' }]);
    }
    return this.toResponse(settled, principal);
  }

  private async enforceLimits(organisationId: string, target: ResolvedBenchmark): Promise<void> {
    const quota = await this.quotaOf(organisationId, target);
    if (quota.total.counted >= quota.limits.total) {
      throw new DomainError(ErrorCode.TooManyRequests, `submission limit reached: ${quota.total.counted} of ${quota.limits.total} in total for this benchmark (${quota.total.assayFaults} more failed through Assay's fault and do not count)`);
    }
    if (quota.last24h.counted >= quota.limits.perDay) {
      throw new DomainError(ErrorCode.TooManyRequests, `submission limit reached: ${quota.last24h.counted} of ${quota.limits.perDay} in the last 24 hours (${quota.last24h.assayFaults} more failed through Assay's fault and do not count)`);
    }
  }

  private async quotaOf(organisationId: string, target: ResolvedBenchmark): Promise<QuotaResponse> {
    const limits = target.version.definition.limits;
    const versionIds = [target.version.id];
    const total = await this.repository.countForLimits({ organisationId, benchmarkVersionIds: versionIds });
    const last24h = await this.repository.countForLimits({ organisationId, benchmarkVersionIds: versionIds, since: new Date(this.clock.now().getTime() - DAY_MS) });
    return { benchmark: target.version.definition.slug, limits: { perDay: limits.submissionsPerDay, total: limits.submissionsTotal }, total, last24h };
  }

  /** A vendor's standing against a benchmark's limits: what counts, and what failed through Assay's fault. */
  async quota(principal: Principal, slug: string): Promise<QuotaResponse> {
    const organisationId = this.requireVendor(principal);
    return this.quotaOf(organisationId, await this.benchmarks.resolveCurrent(slug));
  }

  /** The sandbox check normally answers in about a second; past the configured wait the API answers 'validating'. */
  private async waitWhileValidating(id: string): Promise<SubmissionEntity> {
    const deadline = Date.now() + this.config.api.submissionCheckWaitMs;
    for (;;) {
      const s = await this.repository.findById(id);
      if (!s) throw notFound('submission', id);
      if (s.status !== 'validating' || Date.now() >= deadline) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async getForPrincipal(principal: Principal, id: string): Promise<SubmissionResponse> {
    const s = await this.repository.findById(id);
    // Another organisation's submission is reported as absent, so its existence does not leak.
    if (!s || (principal.role === Role.Vendor && s.organisationId !== principal.organisationId)) throw notFound('submission', id);
    return this.toResponse(s, principal);
  }

  async listForPrincipal(principal: Principal): Promise<SubmissionResponse[]> {
    const rows = principal.role === Role.Vendor && principal.organisationId ? await this.repository.findByOrganisation(principal.organisationId) : await this.repository.findAll(500);
    return Promise.all(rows.map((s) => this.toResponse(s, principal)));
  }

  async requireAccessible(principal: Principal, id: string): Promise<SubmissionEntity> {
    const s = await this.repository.findById(id);
    if (!s || (principal.role === Role.Vendor && s.organisationId !== principal.organisationId)) throw notFound('submission', id);
    return s;
  }

  private async toResponse(s: SubmissionEntity, principal: Principal): Promise<SubmissionResponse> {
    const version = await this.benchmarks.requireVersion(s.benchmarkVersionId);
    const runs = await this.evaluation.runsOfSubmission(s.id);
    const now = this.clock.now();
    const waiting = await this.evaluation.waitingForGpuWorker(version);
    return toSubmissionResponse(
      s,
      version.definition.slug,
      runs.map((r) => toRunSummary(r, { showDetail: this.evaluation.mayShowDetail(principal, r), waitingForGpuWorker: waiting }, now)),
    );
  }
}
