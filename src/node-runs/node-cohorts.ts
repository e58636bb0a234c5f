import { Injectable, Logger } from '@nestjs/common';
import { sha256OfCanonical } from '../common/hashing';
import type { CohortDescriptorDto } from '../cohorts/cohort-ingest';
import { type PlannedVersion, tabularVersion, imagingVersion } from '../cohorts/cohort-version';
import type { CohortVersionManifest, SplitName } from '../cohorts/cohorts.entity';
import { type CohortSource, type ImagingCohortDescriptorDto, planImagingIngest } from '../cohorts/imaging-ingest';
import { StorageService } from '../storage/storage.service';

/** One cohort version held by a node: its manifest (content-hashed), and its cases' split and subgroup metadata. */
export interface NodeCohortVersion {
  /** The version's id on this node: its content hash (a node has no database to number versions). */
  readonly id: string;
  readonly slug: string;
  readonly title: string;
  readonly contentHash: string;
  readonly manifest: CohortVersionManifest;
  readonly cases: readonly { caseId: string; split: SplitName; metadata: Record<string, string> }[];
  readonly counts: Record<SplitName, Record<string, number>>;
  readonly ingestedAt: string;
}

const RECORD_PREFIX = (slug: string): string => `truth/node-catalogue/${slug}/`;

/**
 * A federated node's cohort catalogue (issue 11): the same ingestion, validation and split code as the hub
 * (cohort-version.ts), kept in the node's own object store instead of the hub's Postgres. Files are written first and
 * the version's record last, so a version exists only once complete; re-ingesting identical content is a no-op. The
 * record lives in the truth bucket (it holds case metadata): nothing in it is ever mounted in a sandbox or sent to
 * the hub, which gets metadata only (`registration`).
 */
@Injectable()
export class NodeCohortCatalogue {
  private readonly logger = new Logger('NodeCohortCatalogue');

  constructor(private readonly storage: StorageService) {}

  async ingestTabular(descriptor: CohortDescriptorDto, csv: Buffer): Promise<{ version: NodeCohortVersion; created: boolean }> {
    return this.persist(descriptor, tabularVersion(descriptor, csv));
  }

  async ingestImaging(descriptor: ImagingCohortDescriptorDto, source: CohortSource, options: { onCase?: (done: number, total: number) => void } = {}): Promise<{ version: NodeCohortVersion; created: boolean }> {
    const plan = await planImagingIngest(descriptor, source, options);
    return this.persist(descriptor, imagingVersion(descriptor, plan));
  }

  private async persist(descriptor: { slug: string; title: string }, planned: PlannedVersion): Promise<{ version: NodeCohortVersion; created: boolean }> {
    const contentHash = sha256OfCanonical(planned.manifest);
    const recordKey = `${RECORD_PREFIX(descriptor.slug)}${contentHash}.json`;
    if (await this.storage.exists('truth', recordKey)) return { version: await this.readRecord(recordKey), created: false };
    for (const file of planned.files) {
      if (!(await this.storage.exists(file.bucket, file.key))) await this.storage.putBuffer(file.bucket, file.key, file.body, file.contentType);
    }
    const version: NodeCohortVersion = {
      id: contentHash,
      slug: descriptor.slug,
      title: descriptor.title,
      contentHash,
      manifest: planned.manifest,
      cases: planned.cases.map((c) => ({ caseId: c.caseId, split: c.split, metadata: c.metadata })),
      counts: planned.counts,
      ingestedAt: new Date().toISOString(),
    };
    await this.storage.putBuffer('truth', recordKey, Buffer.from(JSON.stringify(version)), 'application/json');
    this.logger.log(`cohort ${descriptor.slug} (${contentHash.slice(0, 12)}): ${version.cases.length} cases`);
    return { version, created: true };
  }

  /** A version by slug and content hash, or the latest ingested when no hash is given; null when the node has none. */
  async find(slug: string, contentHash?: string): Promise<NodeCohortVersion | null> {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug)) return null;
    if (contentHash !== undefined) {
      if (!/^[0-9a-f]{64}$/.test(contentHash)) return null;
      const key = `${RECORD_PREFIX(slug)}${contentHash}.json`;
      return (await this.storage.exists('truth', key)) ? this.readRecord(key) : null;
    }
    const records = await Promise.all((await this.storage.list('truth', RECORD_PREFIX(slug))).filter((o) => o.key.endsWith('.json')).map((o) => this.readRecord(o.key)));
    records.sort((a, b) => (a.ingestedAt < b.ingestedAt ? 1 : a.ingestedAt > b.ingestedAt ? -1 : 0));
    return records[0] ?? null;
  }

  async list(): Promise<NodeCohortVersion[]> {
    const objects = (await this.storage.list('truth', 'truth/node-catalogue/')).filter((o) => o.key.endsWith('.json'));
    return Promise.all(objects.map((o) => this.readRecord(o.key)));
  }

  /** Reads a record and checks it against its own content hash (a changed manifest is refused, never used). */
  private async readRecord(key: string): Promise<NodeCohortVersion> {
    const record = JSON.parse((await this.storage.getBuffer('truth', key)).toString('utf8')) as NodeCohortVersion;
    if (sha256OfCanonical(record.manifest) !== record.contentHash || !key.endsWith(`/${record.contentHash}.json`)) {
      throw new Error(`node cohort record ${key} does not match its content hash: refusing to use it`);
    }
    return record;
  }
}

/** Small-cell suppression for what a node registers at the hub: a count below this is sent as '< 10'. */
export const REGISTRATION_MIN_CELL = 10;

export type SuppressedCount = number | `< ${number}`;

/** What a node tells the hub about a cohort version: metadata only (issue 11), small cells suppressed. */
export interface CohortRegistration {
  slug: string;
  title: string;
  contentHash: string;
  task: string;
  format: string;
  cases: Record<SplitName, SuppressedCount>;
  /** split → outcome stratum (e.g. label 0/1) → count, as the split recorded it. */
  strata: Record<SplitName, Record<string, SuppressedCount>>;
  /** subgroup attribute → group → count over all cases. */
  subgroups: Record<string, Record<string, SuppressedCount>>;
  /** Imaging: the input kind and case count with image geometry summarised (no per-case row). */
  acquisition: { inputs: { name: string; kind: string }[]; imaging?: { synthetic: boolean; cases: SuppressedCount; spacingMm?: { min: number[]; max: number[] } } };
}

const suppress = (n: number, min = REGISTRATION_MIN_CELL): SuppressedCount => (n < min ? `< ${min}` : n);

/** The registration of one version: counts per split and stratum, subgroup counts, acquisition summary; suppressed below 10. */
export function cohortRegistration(version: NodeCohortVersion): CohortRegistration {
  const splits: SplitName[] = ['sample', 'test'];
  const cases = Object.fromEntries(splits.map((s) => [s, suppress(version.cases.filter((c) => c.split === s).length)])) as Record<SplitName, SuppressedCount>;
  const strata = Object.fromEntries(splits.map((s) => [s, Object.fromEntries(Object.entries(version.counts[s] ?? {}).map(([k, n]) => [k, suppress(n)]))])) as Record<SplitName, Record<string, SuppressedCount>>;
  const subgroups: Record<string, Record<string, SuppressedCount>> = {};
  for (const attribute of version.manifest.subgroups ?? []) {
    const counts = new Map<string, number>();
    for (const c of version.cases) {
      const g = c.metadata[attribute] ?? 'unknown';
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    subgroups[attribute] = Object.fromEntries([...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([g, n]) => [g, suppress(n)]));
  }
  const imaging = version.manifest.imaging;
  const spacing = imaging?.cases.map((c) => c.spacing) ?? [];
  return {
    slug: version.slug,
    title: version.title,
    contentHash: version.contentHash,
    task: version.manifest.task,
    format: version.manifest.format,
    cases,
    strata,
    subgroups,
    acquisition: {
      inputs: version.manifest.inputSchema.map((i) => ({ name: i.name, kind: i.kind })),
      ...(imaging
        ? {
            imaging: {
              synthetic: imaging.synthetic,
              cases: suppress(imaging.cases.length),
              ...(spacing.length > 0 ? { spacingMm: { min: [0, 1, 2].map((k) => Math.min(...spacing.map((s) => s[k] as number))), max: [0, 1, 2].map((k) => Math.max(...spacing.map((s) => s[k] as number))) } } : {}),
            },
          }
        : {}),
    },
  };
}
