import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { deepFreeze } from '../common/deep-freeze';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { sha256OfCanonical } from '../common/hashing';
import { CohortsService } from '../cohorts/cohorts.service';
import type { CohortVersionEntity } from '../cohorts/cohorts.entity';
import { Database } from '../database/database.module';
import { taskDefinition } from '../tasks/registry';
import { BenchmarkDefinition, type BenchmarkDefinitionDto } from './benchmark-definition';
import { validateBenchmarkDefinition } from './benchmark-definition.validate';
import { BenchmarkEntity, BenchmarkPhaseEntity, BenchmarkVersionEntity } from './benchmarks.entity';
import { BenchmarksRepository } from './benchmarks.repository';

/** Benchmark versions kept by resolveCurrent (least recently used out). */
const VERSIONS_KEPT = 256;
const rankOf = (order: string[], name: string): number => {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
};

export interface ResolvedBenchmark {
  benchmark: BenchmarkEntity;
  version: BenchmarkVersionEntity;
  phases: BenchmarkPhaseEntity[];
  /**
   * Each phase's leaderboard rebuild stamp (src/leaderboards/leaderboard-stamp.ts; null: never built), read in the
   * same statement as the phases, so a leaderboard read needs no statement of its own to check its kept views.
   * Absent where a benchmark was put together without it: the leaderboard then reads the stamp itself.
   */
  boardStamps?: ReadonlyMap<string, string | null>;
  /** The version row's stamp (`xmin`) as read with the phases; what is made from its definition is kept under it too. */
  versionStamp?: string;
}

@Injectable()
export class BenchmarksService {
  private readonly logger = new Logger('BenchmarksService');
  /** Current versions as read, by id, with the row stamp they were read under (resolveCurrent). */
  private readonly versions = new Map<string, { stamp: string; version: BenchmarkVersionEntity }>();

  constructor(
    private readonly repository: BenchmarksRepository,
    private readonly cohorts: CohortsService,
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {}

  /**
   * Validates a definition field by field and stores it as a new version when its content (including the cohort
   * version it pins) changed; identical content returns the existing version.
   */
  async upsertDefinition(actor: Principal | null, raw: unknown, source: 'catalogue' | 'api'): Promise<{ version: BenchmarkVersionEntity; created: boolean }> {
    const dto = validateBenchmarkDefinition(raw);
    const cohortVersion = await this.cohorts.latestVersionBySlug(dto.cohort.slug);
    await this.checkAgainstTruth(dto, cohortVersion);
    await this.pinNodeCohorts(dto);
    const definition: BenchmarkDefinition = JSON.parse(JSON.stringify({ ...dto, cohort: { slug: dto.cohort.slug, contentHash: cohortVersion.contentHash } }));
    const contentHash = sha256OfCanonical(definition);
    return this.db.transaction(async (tx) => {
      const benchmark = (await this.repository.findBySlug(dto.slug, tx)) ?? (await this.repository.insertBenchmark(tx, { slug: dto.slug, title: dto.title }));
      await this.repository.lockBenchmark(tx, benchmark.id);
      const existing = await this.repository.findVersionByHash(benchmark.id, contentHash, tx);
      if (existing) return { version: existing, created: false };
      const latest = await this.repository.findLatestVersion(benchmark.id, tx);
      const version = await this.repository.insertVersion(tx, {
        benchmarkId: benchmark.id,
        version: (latest?.version ?? 0) + 1,
        contentHash,
        definition,
        cohortVersionId: cohortVersion.id,
        source,
      });
      await this.repository.insertPhases(
        tx,
        dto.phases.map((p) => ({ benchmarkVersionId: version.id, name: p.name, split: p.split, status: 'open' as const, leaderboardVisibility: p.leaderboard })),
      );
      await this.repository.setCurrentVersion(tx, benchmark.id, version.id, dto.title);
      await this.audit.record(tx, {
        actorUserId: actor?.userId ?? null,
        action: 'benchmark_version.created',
        entityType: 'benchmark_version',
        entityId: version.id,
        payload: { slug: dto.slug, version: version.version, contentHash, cohortContentHash: cohortVersion.contentHash, source },
      });
      this.logger.log(`benchmark ${dto.slug} v${version.version} (${contentHash.slice(0, 12)}) from ${source}`);
      return { version, created: true };
    });
  }

  /** The task's checks of the definition against the truth of every split it scores (e.g. Uno's τ), once, here. */
  /**
   * A federated phase names, per node, the cohort the node registered (metadata only, issue 11): its content hash is
   * pinned into the definition (so a node that later re-ingests different content no longer matches the version).
   * A node or cohort the hub does not know is a 400 naming the field.
   */
  private async pinNodeCohorts(dto: BenchmarkDefinitionDto): Promise<void> {
    const problems: { field: string; problem: string }[] = [];
    for (const [i, phase] of dto.phases.entries()) {
      for (const [k, n] of (phase.federation?.nodes ?? []).entries()) {
        const rows: { content_hash: string }[] = await this.db.manager().query(
          `SELECT c.content_hash FROM node_cohorts c JOIN nodes n ON n.id = c.node_id WHERE n.name = $1 AND c.name = $2 ${n.contentHash ? 'AND c.content_hash = $3' : ''} ORDER BY c.registered_at DESC LIMIT 1`,
          n.contentHash ? [n.node, n.cohort, n.contentHash] : [n.node, n.cohort],
        );
        const hash = rows[0]?.content_hash;
        if (hash) n.contentHash = hash;
        else problems.push({ field: `phases.${i}.federation.nodes.${k}.cohort`, problem: `node '${n.node}' has registered no cohort '${n.cohort}'${n.contentHash ? ` with content hash ${n.contentHash}` : ''}` });
      }
    }
    if (problems.length > 0) throw new DomainError(ErrorCode.ValidationFailed, problems.map((p) => `${p.field}: ${p.problem}`).join('; '), problems);
  }

  private async checkAgainstTruth(dto: BenchmarkDefinition, cohortVersion: CohortVersionEntity): Promise<void> {
    const task = taskDefinition(dto.task);
    const check = task.validateAgainstTruth;
    if (!check) return;
    const problems: { field: string; problem: string }[] = [];
    for (const split of new Set(dto.phases.map((p) => p.split))) {
      const truth = await task.readTruth(this.cohorts.truthSource(cohortVersion, split));
      problems.push(...check.call(task, dto, truth, split));
    }
    if (problems.length > 0) throw new DomainError(ErrorCode.ValidationFailed, problems.map((p) => `${p.field}: ${p.problem}`).join('; '), problems);
  }

  /**
   * The benchmark's current version and its phases. One statement per call reads the benchmark, the current
   * version's stamp, the phases and their leaderboards' rebuild stamps (all of which change); the version itself,
   * with its definition, is kept by id and row stamp, frozen, since Assay writes a version once (a changed definition
   * is a new version) and a row written by anything else has a new stamp. This is on every leaderboard read, page and
   * run (before: three statements and a parse of the definition, and one more for the board's stamp;
   * perf/RESULTS.md). Phases come in the definition's order.
   */
  async resolveCurrent(slug: string): Promise<ResolvedBenchmark> {
    const current = await this.repository.findCurrent(slug);
    if (!current) throw notFound('benchmark', slug);
    const kept = await this.versionOf(current.versionId, current.versionStamp);
    if (!kept) throw notFound('benchmark', slug);
    const { version } = kept;
    const order = version.definition.phases.map((p) => p.name);
    const phases = current.phases.sort((a, b) => rankOf(order, a.name) - rankOf(order, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { benchmark: current.benchmark, version, phases, boardStamps: current.boardStamps, versionStamp: kept.stamp };
  }

  /** The version with the row stamp it was read under (the one asked for, unless the row changed since). */
  private async versionOf(id: string, stamp: string): Promise<{ stamp: string; version: BenchmarkVersionEntity } | null> {
    const kept = this.versions.get(id);
    if (kept?.stamp === stamp) {
      // Least recently used last.
      this.versions.delete(id);
      this.versions.set(id, kept);
      return kept;
    }
    const found = await this.repository.findVersionWithStamp(id);
    if (!found) return null;
    // Frozen whether kept or not (the row changed between the two reads): callers see one kind of version.
    const version = deepFreeze(found.version);
    if (found.stamp === stamp) {
      this.versions.delete(id);
      if (this.versions.size >= VERSIONS_KEPT) this.versions.delete(this.versions.keys().next().value as string);
      this.versions.set(id, { stamp, version });
    }
    return { stamp: found.stamp, version };
  }

  async requireVersion(id: string): Promise<BenchmarkVersionEntity> {
    const version = await this.repository.findVersionById(id);
    if (!version) throw notFound('benchmark version', id);
    return version;
  }

  /** Evaluators open or close a phase and release or hide its leaderboard; every change is audited. */
  async updatePhase(actor: Principal, slug: string, phaseName: string, patch: { status?: 'open' | 'closed'; leaderboard?: 'public' | 'hidden' }): Promise<BenchmarkPhaseEntity> {
    const { version, phases } = await this.resolveCurrent(slug);
    const phase = phases.find((p) => p.name === phaseName);
    if (!phase) throw new DomainError(ErrorCode.NotFound, `benchmark '${slug}' has no phase '${phaseName}'`, [{ field: 'phase', problem: `one of ${phases.map((p) => p.name).join(', ')}` }]);
    const change = { ...(patch.status ? { status: patch.status } : {}), ...(patch.leaderboard ? { leaderboardVisibility: patch.leaderboard } : {}) };
    await this.db.transaction(async (tx) => {
      await this.repository.updatePhase(tx, phase.id, change);
      await this.audit.record(tx, { actorUserId: actor.userId, action: 'benchmark_phase.updated', entityType: 'benchmark_phase', entityId: phase.id, payload: { benchmark: slug, version: version.version, phase: phaseName, ...patch } });
    });
    return { ...phase, ...change };
  }

  findPhase(benchmarkVersionId: string, name: string): Promise<BenchmarkPhaseEntity | null> {
    return this.repository.findPhase(benchmarkVersionId, name);
  }

  listAll(): Promise<BenchmarkEntity[]> {
    return this.repository.listAll();
  }
}
