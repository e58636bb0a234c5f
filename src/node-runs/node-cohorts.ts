import { Injectable, Logger } from '@nestjs/common';
import { sha256OfCanonical } from '../common/hashing';
import type { CohortDescriptorDto } from '../cohorts/cohort-ingest';
import { type PlannedVersion, tabularVersion, imagingVersion } from '../cohorts/cohort-version';
import type { CohortVersionManifest, SplitName } from '../cohorts/cohorts.entity';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateCohortDescriptor } from '../cohorts/cohort-ingest';
import { type CohortSource, type ImagingCohortDescriptorDto, planImagingIngest, validateImagingDescriptor } from '../cohorts/imaging-ingest';
import { directorySource } from '../cohorts/imaging-upload';
import { StorageService } from '../storage/storage.service';
import type { RegisterCohortDto } from '../federation/nodes.dto';
import type { SuppressedCount } from '../federation/nodes.entity';

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

  /**
   * A cohort folder as the facility's catalogue lays it out (cohort.yaml, plus the CSV it names or the imaging cases
   * it lists), ingested with the same validation; this is what `assay node ingest <folder>` runs on a node.
   */
  async ingestFolder(dir: string, overrides: { slug?: string; title?: string } = {}): Promise<{ version: NodeCohortVersion; created: boolean }> {
    const raw: Record<string, unknown> = { ...(parseYaml(readFileSync(join(dir, 'cohort.yaml'), 'utf8')) as Record<string, unknown>), ...overrides };
    if (raw['format'] === 'imaging') return this.ingestImaging(validateImagingDescriptor(raw), directorySource(dir));
    const descriptor = validateCohortDescriptor(raw);
    return this.ingestTabular(descriptor, readFileSync(join(dir, descriptor.source)));
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

const suppress = (n: number): SuppressedCount => (n < REGISTRATION_MIN_CELL ? '< 10' : n);

/**
 * What a node tells the hub about a cohort version (POST /api/node/cohorts, RegisterCohortDto): metadata only, case
 * counts per split, subgroup counts and an acquisition summary with cells below 10 suppressed; no case, no file.
 */
export function cohortRegistration(version: NodeCohortVersion): RegisterCohortDto {
  const splits: SplitName[] = ['sample', 'test'];
  const caseCounts = Object.fromEntries(splits.map((s) => [s, version.cases.filter((c) => c.split === s).length])) as { sample: number; test: number };
  const subgroupCounts: RegisterCohortDto['subgroupCounts'] = [];
  for (const attribute of version.manifest.subgroups ?? []) {
    const counts = new Map<string, number>();
    for (const c of version.cases) {
      const g = c.metadata[attribute] ?? 'unknown';
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    for (const [value, n] of [...counts.entries()].sort(([x], [y]) => (x < y ? -1 : 1))) subgroupCounts.push({ attribute, value, count: suppress(n) });
  }
  const total = version.cases.length;
  // The input's kind stands for the modality a tabular cohort has none of; imaging cohorts are NIfTI volumes.
  const modality = version.manifest.imaging ? (version.manifest.imaging.synthetic ? 'synthetic-volume' : 'volume') : version.manifest.format;
  return {
    name: version.slug,
    version: `c${version.contentHash.slice(0, 12)}`,
    contentHash: version.contentHash,
    caseCounts,
    subgroupCounts,
    acquisition: { modality: [{ value: modality, count: suppress(total) }], manufacturer: [] },
  };
}
