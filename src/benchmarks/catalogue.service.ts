import { Inject, Injectable, Logger } from '@nestjs/common';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateCohortDescriptor } from '../cohorts/cohort-ingest';
import { ensureGeneratedCohort } from '../cohorts/generated-cohorts';
import { validateImagingDescriptor } from '../cohorts/imaging-ingest';
import { directorySource } from '../cohorts/imaging-upload';
import { CohortsService, type IngestResult } from '../cohorts/cohorts.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { BenchmarksService } from './benchmarks.service';

export interface CatalogueLoadResult {
  cohorts: { slug: string; version: number; contentHash: string; created: boolean }[];
  benchmarks: { slug: string; version: number; contentHash: string; created: boolean }[];
}

/** Loads the shipped catalogue (cohorts/<slug>/cohort.yaml, benchmarks/<slug>/benchmark.yaml) into the database. */
@Injectable()
export class CatalogueService {
  private readonly logger = new Logger('CatalogueService');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly cohorts: CohortsService,
    private readonly benchmarks: BenchmarksService,
  ) {}

  async load(): Promise<CatalogueLoadResult> {
    const result: CatalogueLoadResult = { cohorts: [], benchmarks: [] };
    for (const dir of this.subdirs('cohorts', 'cohort.yaml')) {
      const raw = parse(readFileSync(join(dir, 'cohort.yaml'), 'utf8')) as { format?: unknown } | null;
      const { slug, version, created } = raw?.format === 'imaging' ? await this.loadImaging(dir, raw) : await this.loadTabular(dir, raw);
      result.cohorts.push({ slug, version: version.version, contentHash: version.contentHash, created });
    }
    for (const dir of this.subdirs('benchmarks', 'benchmark.yaml')) {
      const raw: unknown = parse(readFileSync(join(dir, 'benchmark.yaml'), 'utf8'));
      const { version, created } = await this.benchmarks.upsertDefinition(null, raw, 'catalogue');
      result.benchmarks.push({ slug: version.definition.slug, version: version.version, contentHash: version.contentHash, created });
    }
    this.logger.log(`catalogue: ${result.cohorts.length} cohort(s), ${result.benchmarks.length} benchmark(s)`);
    return result;
  }

  private async loadTabular(dir: string, raw: unknown): Promise<{ slug: string } & IngestResult> {
    const descriptor = validateCohortDescriptor(raw);
    const csv = readFileSync(join(dir, descriptor.source));
    return { slug: descriptor.slug, ...(await this.cohorts.ingestTabular(null, descriptor, csv)) };
  }

  /** An imaging cohort from its folder, or (SYNTHETIC phantoms) from the generated copy, made on first use. */
  private async loadImaging(dir: string, raw: unknown): Promise<{ slug: string } & IngestResult> {
    const descriptor = validateImagingDescriptor(raw);
    const root = descriptor.generator
      ? await ensureGeneratedCohort({ slug: descriptor.slug, cohortDir: dir, generator: descriptor.generator, root: this.config.generatedDir })
      : dir;
    const source = directorySource(root);
    const result = await this.cohorts.ingestImaging(null, descriptor, source, descriptor.generator ? { immutableSourceKey: root } : {});
    return { slug: descriptor.slug, ...result };
  }

  private subdirs(kind: 'cohorts' | 'benchmarks', file: string): string[] {
    const root = join(this.config.catalogueDir, kind);
    if (!existsSync(root)) return [];
    return readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(root, d.name, file)))
      .map((d) => join(root, d.name))
      .sort();
  }
}
