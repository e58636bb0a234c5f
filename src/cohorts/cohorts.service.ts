import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { notFound } from '../common/domain-error';
import { sha256OfCanonical } from '../common/hashing';
import { Database } from '../database/database.module';
import { StorageService } from '../storage/storage.service';
import { BucketName } from '../storage/storage.keys';
import { CohortDescriptorDto } from './cohort-ingest';
import { cohortFileOf, cohortTruthSource, imagingVersion, type RenderedFile, tabularVersion } from './cohort-version';
import { CohortFileRecord, CohortVersionEntity, CohortVersionManifest, SplitName } from './cohorts.entity';
import { CohortsRepository } from './cohorts.repository';
import { type CohortSource, type ImagingCohortDescriptorDto, type ImagingPlan, planImagingIngest } from './imaging-ingest';
import type { TruthSource } from '../tasks/task-definition';

export interface IngestResult {
  version: CohortVersionEntity;
  created: boolean;
}

/**
 * Plans of immutable sources (a generated cohort's completed folder never changes), kept per process: reading and
 * re-encoding 30 volumes takes seconds, and every API start in one test process would otherwise repeat it.
 */
const immutablePlans = new Map<string, Promise<ImagingPlan>>();
function planImagingOnce(descriptor: ImagingCohortDescriptorDto, source: CohortSource, options: { onCase?: (done: number, total: number) => void; immutableSourceKey?: string }): Promise<ImagingPlan> {
  if (!options.immutableSourceKey) return planImagingIngest(descriptor, source, options);
  const key = `${options.immutableSourceKey}\n${sha256OfCanonical(descriptor)}`;
  let plan = immutablePlans.get(key);
  if (!plan) {
    plan = planImagingIngest(descriptor, source, options);
    immutablePlans.set(key, plan);
    plan.catch(() => immutablePlans.delete(key));
  }
  return plan;
}

@Injectable()
export class CohortsService {
  private readonly logger = new Logger('CohortsService');

  constructor(
    private readonly repository: CohortsRepository,
    private readonly storage: StorageService,
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {}

  /**
   * Ingests a tabular cohort as an immutable, content-hashed version. Everything is checked first; files go to the
   * object store (inputs and truth in separate buckets), then one transaction writes the rows and the audit entry.
   * If that fails, the files written for it are removed again. Re-ingesting identical content is a no-op.
   */
  async ingestTabular(actor: Principal | null, descriptor: CohortDescriptorDto, csv: Buffer): Promise<IngestResult> {
    const { manifest, files, cases, counts } = tabularVersion(descriptor, csv);
    return this.persistVersion(actor, descriptor, manifest, files, cases, counts);
  }

  /**
   * Ingests an imaging cohort (NIfTI, MetaImage or DICOM images with lesion masks and/or lesion centres) as an
   * immutable, content-hashed version. Every case is read, checked and rewritten as canonical NIfTI first
   * (imaging-ingest.ts); then the files go to the object store (images to inputs, masks and lesions to truth; the
   * sample split's truth also to inputs, for vendors to self-test) and one transaction writes the rows.
   */
  async ingestImaging(
    actor: Principal | null,
    descriptor: ImagingCohortDescriptorDto,
    source: CohortSource,
    options: { onCase?: (done: number, total: number) => void; immutableSourceKey?: string } = {},
  ): Promise<IngestResult> {
    const plan = await planImagingOnce(descriptor, source, options);
    const { manifest, files } = imagingVersion(descriptor, plan);
    return this.persistVersion(actor, descriptor, manifest, files, plan.cases, plan.counts);
  }

  /** Stores a checked version's files, then its rows and audit entry in one transaction; a no-op for known content. */
  private async persistVersion(
    actor: Principal | null,
    descriptor: { slug: string; title: string; description: string; attribution: string },
    manifest: CohortVersionManifest,
    files: RenderedFile[],
    cases: { caseId: string; split: SplitName; metadata: Record<string, string> }[],
    counts: Record<SplitName, Record<string, number>>,
  ): Promise<IngestResult> {
    const contentHash = sha256OfCanonical(manifest);
    const plan = { cases, counts };
    const existingCohort = await this.repository.findCohortBySlug(descriptor.slug);
    if (existingCohort) {
      const existing = await this.repository.findVersionByHash(existingCohort.id, contentHash);
      if (existing) return { version: existing, created: false };
    }

    const written: { bucket: BucketName; key: string }[] = [];
    try {
      for (const file of files) {
        if (!(await this.storage.exists(file.bucket, file.key))) {
          await this.storage.putBuffer(file.bucket, file.key, file.body, file.contentType);
          written.push(file);
        }
      }
      const version = await this.db.transaction(async (tx) => {
        const cohort =
          (await this.repository.findCohortBySlug(descriptor.slug, tx)) ??
          (await this.repository.insertCohort(tx, { slug: descriptor.slug, title: descriptor.title, description: descriptor.description, attribution: descriptor.attribution }));
        await this.repository.lockCohort(tx, cohort.id);
        const again = await this.repository.findVersionByHash(cohort.id, contentHash, tx);
        if (again) return again;
        const latest = await this.repository.findLatestVersion(cohort.id, tx);
        const row = await this.repository.insertVersion(tx, { cohortId: cohort.id, version: (latest?.version ?? 0) + 1, contentHash, manifest, caseCount: plan.cases.length });
        await this.repository.insertCases(tx, plan.cases.map((c) => ({ cohortVersionId: row.id, caseId: c.caseId, split: c.split, metadata: c.metadata })));
        await this.audit.record(tx, {
          actorUserId: actor?.userId ?? null,
          action: 'cohort_version.created',
          entityType: 'cohort_version',
          entityId: row.id,
          payload: { cohort: descriptor.slug, version: row.version, contentHash, cases: plan.cases.length, counts: plan.counts },
        });
        return row;
      });
      this.logger.log(`cohort ${descriptor.slug} v${version.version} (${contentHash.slice(0, 12)}): ${plan.cases.length} cases`);
      return { version, created: true };
    } catch (error) {
      for (const file of written) await this.storage.remove(file.bucket, file.key).catch(() => undefined);
      throw error;
    }
  }

  async requireVersion(id: string): Promise<CohortVersionEntity> {
    const version = await this.repository.findVersionById(id);
    if (!version) throw notFound('cohort version', id);
    return version;
  }

  async latestVersionBySlug(slug: string): Promise<CohortVersionEntity> {
    const cohort = await this.repository.findCohortBySlug(slug);
    const version = cohort ? await this.repository.findLatestVersion(cohort.id) : null;
    if (!version) throw notFound('cohort', slug);
    return version;
  }

  caseIds(cohortVersionId: string, split: SplitName): Promise<string[]> {
    return this.repository.findCaseIds(cohortVersionId, split);
  }

  /** Case id → subgroup metadata of one split (for subgroup tables; never given to algorithms). */
  caseMetadata(cohortVersionId: string, split: SplitName): Promise<Map<string, Record<string, string>>> {
    return this.repository.findCaseMetadata(cohortVersionId, split);
  }

  listCohorts() {
    return this.repository.listCohorts();
  }

  listVersions(cohortId: string) {
    return this.repository.listVersions(cohortId);
  }

  /**
   * A split's ground truth as stored: the objects of the version's truth bucket under `<split>/` (read by the scorer
   * through the task's truth reader, and by benchmark definition checks such as Uno's τ; never mounted in a sandbox).
   * Keys come from the version's manifest, never from input.
   */
  truthSource(version: CohortVersionEntity, split: string): TruthSource {
    return cohortTruthSource(this.storage, version, split);
  }

  /** The file of the given kind and split in a version's manifest (object keys are never built from user input). */
  fileOf(version: CohortVersionEntity, bucket: 'inputs' | 'truth', suffix: string): CohortFileRecord {
    return cohortFileOf(version, bucket, suffix);
  }
}
