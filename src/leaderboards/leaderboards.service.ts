import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { Database } from '../database/database.module';
import { metricDirection } from '../metrics/score-report';
import { LeaderboardResponse } from './leaderboards.dto';
import { LeaderboardEntryEntity } from './leaderboards.entity';
import { LeaderboardsRepository } from './leaderboards.repository';
import { onePerVendor, rankWithMinTies, roundTo } from './ranking';

@Injectable()
export class LeaderboardsService {
  constructor(
    private readonly repository: LeaderboardsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly db: Database,
  ) {}

  /** Rebuilds one phase's leaderboard from finished evaluations (after each one); reads only read the result. */
  async materialize(benchmarkVersionId: string, phase: string): Promise<void> {
    const version = await this.benchmarks.requireVersion(benchmarkVersionId);
    const def = version.definition;
    const direction = metricDirection(def.metrics.primary);
    await this.db.transaction(async (tx) => {
      await this.repository.lockLeaderboard(tx, benchmarkVersionId, phase);
      const rows = (await this.repository.findFinishedEvaluations(tx, benchmarkVersionId, phase))
        .map((r) => ({ ...r, primary: r.metrics[def.metrics.primary]?.value ?? null }))
        .filter((r): r is typeof r & { primary: number } => typeof r.primary === 'number' && Number.isFinite(r.primary));
      const chosen = onePerVendor(rows, def.ranking.perVendor, direction);
      const ranked = rankWithMinTies(chosen, (r) => r.primary, direction);
      const entries: LeaderboardEntryEntity[] = ranked.map(({ item, rank }) => ({
        benchmarkVersionId,
        phase,
        submissionId: item.submissionId,
        runId: item.runId,
        organisationId: item.organisationId,
        organisationName: item.organisationName,
        submissionName: item.submissionName,
        rank,
        primaryValue: item.primary,
        metrics: item.metrics,
        evaluatedAt: item.evaluatedAt,
      }));
      await this.repository.replaceEntries(tx, benchmarkVersionId, phase, entries);
    });
  }

  async read(principal: Principal, slug: string, phaseName: string): Promise<LeaderboardResponse> {
    const { version, phases } = await this.benchmarks.resolveCurrent(slug);
    const phase = phases.find((p) => p.name === phaseName);
    if (!phase) throw new DomainError(ErrorCode.NotFound, `benchmark '${slug}' has no phase '${phaseName}'`, [{ field: 'phase', problem: `one of ${phases.map((p) => p.name).join(', ')}` }]);
    const privileged = principal.role === Role.Evaluator || principal.role === Role.Admin;
    if (phase.leaderboardVisibility === 'hidden' && !privileged) throw notFound('leaderboard', `${slug}/${phaseName}`);
    const def = version.definition;
    const digits = def.precision ?? 4;
    const metricNames = [def.metrics.primary, ...def.metrics.secondary];
    const entries = await this.repository.findEntries(version.id, phase.name);
    return {
      benchmark: slug,
      benchmarkVersion: version.version,
      benchmarkContentHash: version.contentHash,
      phase: phase.name,
      split: phase.split,
      primaryMetric: def.metrics.primary,
      direction: metricDirection(def.metrics.primary),
      ranking: `${def.ranking.method}, ties "${def.ranking.ties}", ${def.ranking.perVendor} submission per vendor`,
      precision: digits,
      rows: entries.map((e) => ({
        rank: e.rank,
        organisation: e.organisationName,
        submission: e.submissionName,
        submissionId: e.submissionId,
        evaluatedAt: e.evaluatedAt.toISOString(),
        metrics: Object.fromEntries(
          metricNames.map((name) => {
            const m = e.metrics[name];
            return [name, { value: roundTo(m?.value ?? null, digits), ci: m?.ci ? [roundTo(m.ci[0], digits) as number, roundTo(m.ci[1], digits) as number] : null, method: m?.method ?? 'not computed' }];
          }),
        ),
      })),
    };
  }
}
