import { Inject, Injectable, Logger } from '@nestjs/common';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateCohortDescriptor } from '../cohorts/cohort-ingest';
import { CohortsService } from '../cohorts/cohorts.service';
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
      const descriptor = validateCohortDescriptor(parse(readFileSync(join(dir, 'cohort.yaml'), 'utf8')));
      const csv = readFileSync(join(dir, descriptor.source));
      const { version, created } = await this.cohorts.ingestTabular(null, descriptor, csv);
      result.cohorts.push({ slug: descriptor.slug, version: version.version, contentHash: version.contentHash, created });
    }
    for (const dir of this.subdirs('benchmarks', 'benchmark.yaml')) {
      const raw: unknown = parse(readFileSync(join(dir, 'benchmark.yaml'), 'utf8'));
      const { version, created } = await this.benchmarks.upsertDefinition(null, raw, 'catalogue');
      result.benchmarks.push({ slug: version.definition.slug, version: version.version, contentHash: version.contentHash, created });
    }
    this.logger.log(`catalogue: ${result.cohorts.length} cohort(s), ${result.benchmarks.length} benchmark(s)`);
    return result;
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
