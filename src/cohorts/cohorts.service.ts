import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { notFound } from '../common/domain-error';
import { sha256Hex, sha256OfCanonical } from '../common/hashing';
import { Database } from '../database/database.module';
import { StorageService } from '../storage/storage.service';
import { BucketName } from '../storage/storage.keys';
import { CohortDescriptorDto, IngestPlan, planTabularIngest } from './cohort-ingest';
import { CohortFileRecord, CohortVersionEntity, CohortVersionManifest, SplitName } from './cohorts.entity';
import { CohortsRepository } from './cohorts.repository';
import { type CohortSource, type ImagingCohortDescriptorDto, type ImagingPlan, lesionsCsv, planImagingIngest } from './imaging-ingest';
import { taskForCohortFormat } from '../tasks/registry';
import type { TabularTruthWriter, TruthSource } from '../tasks/task-definition';

type RenderedFile = CohortFileRecord & { body: Buffer; contentType: string; bucket: BucketName };

export interface IngestResult {
  version: CohortVersionEntity;
  created: boolean;
}

/** Where a cohort version's files live; keys derive from the source hash and split, so they are content-addressed. */
export function cohortKeys(slug: string, sourceSha256: string, seed: number): {
  cases: (split: SplitName) => string;
  sampleCsv: string;
  labels: (split: SplitName) => string;
} {
  const base = `${slug}/${sourceSha256.slice(0, 24)}-s${seed}`;
  return {
    cases: (split) => `cohorts/${base}/${split}/cases.jsonl`,
    sampleCsv: `cohorts/${base}/sample/sample-with-labels.csv`,
    labels: (split) => `truth/${base}/${split}/labels.csv`,
  };
}

/** Truth as the task's scorer reads it (e.g. `case_id,label` or `case_id,time,event`): the task says how. */
function truthCsv(writer: TabularTruthWriter, cases: IngestPlan['cases']): string {
  const rows = cases.map((c) => [c.caseId, ...writer.cells(c.outcome)].join(','));
  return `${writer.header}\n${rows.join('\n')}\n`;
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
    const plan = planTabularIngest(descriptor, csv);
    const task = taskForCohortFormat(descriptor.format);
    const writer = task.tabular as TabularTruthWriter;
    const files = this.renderFiles(descriptor, plan, writer);
    const manifest: CohortVersionManifest = {
      cohort: descriptor.slug,
      format: descriptor.format,
      task: task.task,
      split: {
        seed: descriptor.split.seed,
        sampleSize: descriptor.split.sampleSize,
        stratifiedBy: writer.stratifiedBy(descriptor),
        counts: plan.counts,
      },
      subgroups: (descriptor.subgroups ?? []).map((r) => r.name),
      ...(descriptor.missing ? { missing: { tokens: descriptor.missing.tokens, note: descriptor.missing.note, cases: plan.cases.filter((c) => c.features.some((f) => f === null)).length } } : {}),
      inputSchema: [{ name: descriptor.input.name, kind: 'vector', length: plan.featureColumns.length, dtype: 'float32', columns: plan.featureColumns }],
      files: files.map((f) => ({ bucket: f.bucket, key: f.key, sha256: sha256Hex(f.body), bytes: f.body.length })),
      source: { file: descriptor.source, sha256: plan.sourceSha256 },
    };
    return this.persistVersion(actor, descriptor, manifest, files, plan.cases, plan.counts);
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
    const base = `${descriptor.slug}/${plan.sourceSha256.slice(0, 24)}-s${descriptor.split.seed}`;
    const input = descriptor.input.name;
    const files: RenderedFile[] = [];
    const add = (bucket: BucketName & ('inputs' | 'truth'), key: string, body: Buffer, contentType: string): void => {
      files.push({ bucket, key, body, contentType, sha256: '', bytes: body.length });
    };
    for (const split of ['sample', 'test'] as const) {
      const cases = plan.cases.filter((c) => c.split === split);
      const lines = cases.map((c) => JSON.stringify({ caseId: c.caseId, inputs: { [input]: `cases/${c.caseId}/${input}.nii.gz` } }));
      add('inputs', `cohorts/${base}/${split}/cases.jsonl`, Buffer.from(`${lines.join('\n')}\n`), 'application/x-ndjson');
      for (const c of cases) {
        add('inputs', `cohorts/${base}/${split}/cases/${c.caseId}/${input}.nii.gz`, c.image, 'application/gzip');
        if (c.mask) add('truth', `truth/${base}/${split}/masks/${c.caseId}.nii.gz`, c.mask, 'application/gzip');
        // Sample truth is for vendors to self-test; held-out truth never leaves the truth bucket.
        if (c.mask && split === 'sample') add('inputs', `cohorts/${base}/sample/truth/masks/${c.caseId}.nii.gz`, c.mask, 'application/gzip');
      }
      if (descriptor.truth.lesions) {
        add('truth', `truth/${base}/${split}/lesions.csv`, Buffer.from(lesionsCsv(cases)), 'text/csv');
        if (split === 'sample') add('inputs', `cohorts/${base}/sample/truth/lesions.csv`, Buffer.from(lesionsCsv(cases)), 'text/csv');
      }
    }
    const manifest: CohortVersionManifest = {
      cohort: descriptor.slug,
      format: descriptor.format,
      task: 'imaging',
      split: { seed: descriptor.split.seed, sampleSize: descriptor.split.sampleSize, stratifiedBy: descriptor.split.stratifyBy ?? 'has_lesion', counts: plan.counts },
      subgroups: [...descriptor.metadataColumns, ...(descriptor.subgroups ?? []).map((r) => r.name)],
      inputSchema: [{ name: input, kind: 'volume', length: 0, dtype: 'nifti', columns: [] }],
      imaging: {
        synthetic: descriptor.synthetic === true,
        truth: { masks: Boolean(descriptor.truth.mask), lesions: Boolean(descriptor.truth.lesions) },
        cases: plan.cases.map((c) => ({ caseId: c.caseId, dims: c.geometry.dims, spacing: c.geometry.spacing, lesions: c.lesions.length })),
      },
      files: files.map((f) => ({ bucket: f.bucket, key: f.key, sha256: sha256Hex(f.body), bytes: f.body.length })),
      source: { file: descriptor.cases, sha256: plan.sourceSha256 },
    };
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

  private renderFiles(descriptor: CohortDescriptorDto, plan: IngestPlan, writer: TabularTruthWriter): RenderedFile[] {
    const keys = cohortKeys(descriptor.slug, plan.sourceSha256, descriptor.split.seed);
    const out: RenderedFile[] = [];
    const add = (bucket: 'inputs' | 'truth', key: string, text: string, contentType: string): void => {
      const body = Buffer.from(text, 'utf8');
      out.push({ bucket, key, body, contentType, sha256: '', bytes: body.length });
    };
    for (const split of ['sample', 'test'] as const) {
      const cases = plan.cases.filter((c) => c.split === split);
      add('inputs', keys.cases(split), cases.map((c) => JSON.stringify({ caseId: c.caseId, inputs: { [descriptor.input.name]: c.features } })).join('\n') + '\n', 'application/x-ndjson');
      add('truth', keys.labels(split), truthCsv(writer, cases), 'text/csv');
    }
    const sample = plan.cases.filter((c) => c.split === 'sample');
    const outcomeHeader = writer.header;
    const outcomeCells = (c: IngestPlan['cases'][number]): (string | number)[] => [c.caseId, ...writer.cells(c.outcome)];
    add('inputs', keys.sampleCsv, [`${outcomeHeader},${plan.featureColumns.join(',')}`, ...sample.map((c) => [...outcomeCells(c), ...c.features.map((f) => (f === null ? 'NA' : f))].join(','))].join('\n') + '\n', 'text/csv');
    return out;
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
    const marker = `/${split}/`;
    const files = version.manifest.files.filter((f) => f.bucket === 'truth' && f.key.includes(marker));
    const relative = (key: string): string => key.slice(key.indexOf(marker) + marker.length);
    return {
      list: async () => files.map((f) => relative(f.key)),
      read: async (path) => {
        const file = files.find((f) => relative(f.key) === path);
        if (!file) throw new Error(`cohort version ${version.id} has no truth object ${split}/${path}`);
        return this.storage.getBuffer('truth', file.key);
      },
    };
  }

  /** The file of the given kind and split in a version's manifest (object keys are never built from user input). */
  fileOf(version: CohortVersionEntity, bucket: 'inputs' | 'truth', suffix: string): CohortFileRecord {
    const file = version.manifest.files.find((f) => f.bucket === bucket && f.key.endsWith(suffix));
    if (!file) throw new Error(`cohort version ${version.id} has no ${bucket} file ending in ${suffix}`);
    return file;
  }
}
