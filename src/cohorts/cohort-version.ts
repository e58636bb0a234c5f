import { sha256Hex } from '../common/hashing';
import type { StorageService } from '../storage/storage.service';
import type { BucketName } from '../storage/storage.keys';
import { taskForCohortFormat } from '../tasks/registry';
import type { TabularTruthWriter, TruthSource } from '../tasks/task-definition';
import { type CohortDescriptorDto, type IngestPlan, planTabularIngest } from './cohort-ingest';
import type { CohortFileRecord, CohortVersionManifest, SplitName } from './cohorts.entity';
import { type ImagingCohortDescriptorDto, type ImagingPlan, lesionsCsv } from './imaging-ingest';

// A cohort version as content: its manifest and files, planned from a source without any catalogue. The hub's
// CohortsService persists a version in Postgres; a federated node keeps the same version in its own object store
// (NodeCohortCatalogue); both run this code, so a cohort ingested on a node is byte-for-byte what the hub would hold.

export type RenderedFile = CohortFileRecord & { body: Buffer; contentType: string; bucket: BucketName };

/** A planned version: what is written (files), what is recorded (manifest), and its cases with their split and metadata. */
export interface PlannedVersion {
  manifest: CohortVersionManifest;
  files: RenderedFile[];
  cases: { caseId: string; split: SplitName; metadata: Record<string, string> }[];
  counts: Record<SplitName, Record<string, number>>;
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

/** A tabular cohort's version: the split, the per-split cases and truth files, and the manifest naming their hashes. */
export function tabularVersion(descriptor: CohortDescriptorDto, csv: Buffer): PlannedVersion {
  const plan = planTabularIngest(descriptor, csv);
  const task = taskForCohortFormat(descriptor.format);
  const writer = task.tabular as TabularTruthWriter;
  const files = renderTabularFiles(descriptor, plan, writer);
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
  return { manifest, files, cases: plan.cases, counts: plan.counts };
}

/** An imaging cohort's version from its checked plan (imaging-ingest.ts): canonical NIfTI inputs, masks and lesions as truth. */
export function imagingVersion(descriptor: ImagingCohortDescriptorDto, plan: ImagingPlan): PlannedVersion {
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
  return { manifest, files, cases: plan.cases, counts: plan.counts };
}

function renderTabularFiles(descriptor: CohortDescriptorDto, plan: IngestPlan, writer: TabularTruthWriter): RenderedFile[] {
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

/** A version's record as the catalogues keep it: an id (the hub's row id, a node's content hash) and the manifest. */
export interface VersionRecord {
  readonly id: string;
  readonly manifest: CohortVersionManifest;
}

/**
 * A split's ground truth as stored: the objects of the version's truth bucket under `<split>/` (read by the scorer
 * through the task's truth reader, and by benchmark definition checks such as Uno's τ; never mounted in a sandbox).
 * Keys come from the version's manifest, never from input.
 */
export function cohortTruthSource(storage: StorageService, version: VersionRecord, split: string): TruthSource {
  const marker = `/${split}/`;
  const files = version.manifest.files.filter((f) => f.bucket === 'truth' && f.key.includes(marker));
  const relative = (key: string): string => key.slice(key.indexOf(marker) + marker.length);
  return {
    list: async () => files.map((f) => relative(f.key)),
    read: async (path) => {
      const file = files.find((f) => relative(f.key) === path);
      if (!file) throw new Error(`cohort version ${version.id} has no truth object ${split}/${path}`);
      return storage.getBuffer('truth', file.key);
    },
  };
}

/** The file of the given kind and split in a version's manifest (object keys are never built from user input). */
export function cohortFileOf(version: VersionRecord, bucket: 'inputs' | 'truth', suffix: string): CohortFileRecord {
  const file = version.manifest.files.find((f) => f.bucket === bucket && f.key.endsWith(suffix));
  if (!file) throw new Error(`cohort version ${version.id} has no ${bucket} file ending in ${suffix}`);
  return file;
}
