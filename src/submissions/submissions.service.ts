import { Inject, Injectable, Logger } from '@nestjs/common';
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
import { flattenValidationErrors } from '../common/validation';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { EvaluationService } from '../evaluation/evaluation.service';
import { SizeLimitExceededError, StorageService } from '../storage/storage.service';
import { receiveMultipart } from './multipart-upload';
import { inspectOnnx, interfaceProblems } from './onnx-inspect';
import { OnnxManifestDto, SubmissionResponse, toRunSummary, toSubmissionResponse, UploadFieldsDto } from './submissions.dto';
import { OnnxModelManifest, SubmissionEntity } from './submissions.entity';
import { SubmissionsRepository } from './submissions.repository';
import { QueueService } from '../queue/queue.service';
import { JobName } from '../queue/queue.constants';

const DAY_MS = 24 * 3600 * 1000;

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
    private readonly evaluation: EvaluationService,
    private readonly clock: Clock,
  ) {}

  /**
   * Streams the model into a staging key while hashing it, checks fields, manifest and the model's signature, then
   * moves it to its content-addressed key and records the submission. Any failure removes the staged object.
   */
  async uploadOnnx(principal: Principal, req: Request): Promise<SubmissionResponse> {
    if (principal.role !== Role.Vendor || !principal.organisationId) throw new DomainError(ErrorCode.Forbidden, 'only vendors submit algorithms');
    const stagingKey = `staging/${randomUUID()}/model.onnx`;
    let staged = false;
    try {
      const upload = await receiveMultipart(req, {
        fileField: 'model',
        maxFileBytes: this.config.limits.maxModelBytes,
        store: async (stream) => {
          staged = true;
          return this.storage.putStream('submissions', stagingKey, stream, this.config.limits.maxModelBytes);
        },
      }).catch((error: unknown) => {
        if (error instanceof SizeLimitExceededError) {
          throw new DomainError(ErrorCode.PayloadTooLarge, `model exceeds the upload limit of ${error.limitBytes} bytes`, [{ field: 'model', problem: `larger than ${error.limitBytes} bytes` }]);
        }
        throw error;
      });
      const fields = plainToInstance(UploadFieldsDto, upload.fields);
      const problems = flattenValidationErrors(validateSync(fields, { whitelist: true }));
      if (!upload.file) problems.push({ field: 'model', problem: 'missing: attach model.onnx as the file field "model"' });
      let manifestRaw: unknown = null;
      if (typeof fields.manifest === 'string') {
        try {
          manifestRaw = JSON.parse(fields.manifest);
        } catch {
          problems.push({ field: 'manifest', problem: 'is not valid JSON' });
        }
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
      let target: ResolvedBenchmark;
      try {
        target = await this.benchmarks.resolveCurrent(fields.benchmark);
      } catch {
        throw new DomainError(ErrorCode.NotFound, `unknown benchmark '${fields.benchmark}'`, [{ field: 'benchmark', problem: 'no such benchmark' }]);
      }
      const definition = target.version.definition;
      if (file.stored.bytes > definition.limits.modelBytes) {
        throw new DomainError(ErrorCode.PayloadTooLarge, `model is ${file.stored.bytes} bytes; ${definition.slug} accepts at most ${definition.limits.modelBytes}`, [{ field: 'model', problem: 'larger than the benchmark allows' }]);
      }
      if (!target.phases.some((p) => p.status === 'open')) throw new DomainError(ErrorCode.Conflict, `benchmark '${definition.slug}' has no open phase`);
      await this.enforceLimits(principal.organisationId, target);

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

      const objectKey = `submissions/${file.stored.sha256}/model.onnx`;
      if (!(await this.storage.exists('submissions', objectKey))) await this.storage.copy('submissions', stagingKey, objectKey);
      const submission = await this.db.transaction(async (tx) => {
        const row = await this.repository.insert(tx, {
          benchmarkVersionId: target.version.id,
          organisationId: principal.organisationId as string,
          submittedBy: principal.userId,
          kind: 'onnx',
          name: `${manifest.name}@${manifest.version}`,
          manifest: modelManifest,
          objectKey,
          sha256: file.stored.sha256,
          sizeBytes: String(file.stored.bytes),
          status: 'validating',
          rejectionReason: null,
          checkReport: { static: inspection },
        });
        await this.audit.record(tx, {
          actorUserId: principal.userId,
          action: 'submission.received',
          entityType: 'submission',
          entityId: row.id,
          payload: { benchmark: definition.slug, benchmarkVersion: target.version.version, sha256: row.sha256, bytes: file.stored.bytes, name: row.name },
        });
        return row;
      });
      await this.queue.enqueue({ name: JobName.CheckSubmission, payload: { submissionId: submission.id }, jobId: `${submission.id}:check` });
      const settled = await this.waitWhileValidating(submission.id);
      if (settled.status === 'rejected') {
        throw new DomainError(ErrorCode.InvalidModel, `submission ${settled.id} rejected: ${settled.rejectionReason ?? 'the model failed its check'}`, [{ field: 'model', problem: settled.rejectionReason ?? 'failed its check' }]);
      }
      return this.toResponse(settled, principal);
    } finally {
      if (staged) await this.storage.remove('submissions', stagingKey).catch(() => undefined);
    }
  }

  private async enforceLimits(organisationId: string, target: ResolvedBenchmark): Promise<void> {
    const limits = target.version.definition.limits;
    const versionIds = [target.version.id];
    const total = await this.repository.countCounting({ organisationId, benchmarkVersionIds: versionIds });
    if (total >= limits.submissionsTotal) {
      throw new DomainError(ErrorCode.TooManyRequests, `submission limit reached: ${total} of ${limits.submissionsTotal} in total for this benchmark`);
    }
    const today = await this.repository.countCounting({ organisationId, benchmarkVersionIds: versionIds, since: new Date(this.clock.now().getTime() - DAY_MS) });
    if (today >= limits.submissionsPerDay) {
      throw new DomainError(ErrorCode.TooManyRequests, `submission limit reached: ${today} of ${limits.submissionsPerDay} in the last 24 hours`);
    }
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
    return toSubmissionResponse(
      s,
      version.definition.slug,
      runs.map((r) => toRunSummary(r, { showDetail: this.evaluation.mayShowDetail(principal, r) }, now)),
    );
  }
}
