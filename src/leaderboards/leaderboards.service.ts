import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { Database } from '../database/database.module';
import { metricDirection } from '../metrics/score-report';
import { ComparisonResponse, LeaderboardResponse } from './leaderboards.dto';
import { compareBinary, compareSurvival } from '../metrics/comparison';
import { wilcoxonSignedRank } from '../metrics/hypothesis-tests';
import { LeaderboardEntryEntity } from './leaderboards.entity';
import { LeaderboardsRepository } from './leaderboards.repository';
import { onePerVendor, roundTo } from './ranking';
import { rankMin } from '../metrics/ranking';
import { aggregateRankRobustness, perCaseRankRobustness, RankingData, RobustnessResult } from './rank-robustness';
import { CohortsService } from '../cohorts/cohorts.service';
import { StorageService } from '../storage/storage.service';
import { OUTPUT_FIELD_BY_TASK } from '../benchmarks/benchmark-definition';
import { parseTruthCsv } from '../metrics/predictions';
import { parseSurvivalTruthCsv } from '../metrics/survival-predictions';

@Injectable()
export class LeaderboardsService {
  constructor(
    private readonly repository: LeaderboardsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly db: Database,
    private readonly cohorts: CohortsService,
    private readonly storage: StorageService,
  ) {}

  /**
   * Rebuilds one phase's leaderboard from finished evaluations (after each one); reads only read the result. Ranks
   * with the benchmark's method and measures the ranking's robustness by a seeded bootstrap over cases.
   */
  async materialize(benchmarkVersionId: string, phase: string): Promise<void> {
    const version = await this.benchmarks.requireVersion(benchmarkVersionId);
    const def = version.definition;
    const direction = metricDirection(def.metrics.primary);
    const split = def.phases.find((p) => p.name === phase)?.split;
    if (!split) throw new Error(`benchmark version ${benchmarkVersionId} has no phase ${phase}`);
    const truth = await this.loadTruth(version.cohortVersionId, split);
    const robustnessSpec = def.ranking.robustness ?? { replicates: 1000, seed: 20261123 };
    await this.db.transaction(async (tx) => {
      await this.repository.lockLeaderboard(tx, benchmarkVersionId, phase);
      const rows = (await this.repository.findFinishedEvaluations(tx, benchmarkVersionId, phase))
        .map((r) => ({ ...r, primary: r.metrics[def.metrics.primary]?.value ?? null }))
        .filter((r): r is typeof r & { primary: number } => typeof r.primary === 'number' && Number.isFinite(r.primary));
      const chosen = onePerVendor(rows, def.ranking.perVendor, direction);
      const field = OUTPUT_FIELD_BY_TASK[def.task] ?? 'probability';
      const byRun = await this.repository.findPredictionsOfRuns(tx, chosen.map((c) => c.runId));
      const data: RankingData = {
        task: def.task === 'survival' ? 'survival' : 'binary-classification',
        metric: def.metrics.primary,
        direction,
        labels: truth.labels,
        ...(truth.times ? { times: truth.times } : {}),
        ...(def.metrics.threshold === undefined ? {} : { threshold: def.metrics.threshold }),
        ...(def.metrics.tau === undefined ? {} : { tau: def.metrics.tau }),
        predictions: chosen.map((c) => truth.caseIds.map((id) => Number(byRun.get(c.runId)?.get(id)?.[field] ?? Number.NaN))),
      };
      let robust: RobustnessResult | null = null;
      if (chosen.length > 0 && data.predictions.every((row) => row.every(Number.isFinite))) {
        robust = def.ranking.method === 'aggregate-then-rank' ? aggregateRankRobustness(data, robustnessSpec) : perCaseRankRobustness(data, def.ranking.method, robustnessSpec);
      }
      const ranks = robust?.rank ?? rankMin(chosen.map((r) => (direction === 'higher' ? r.primary : -r.primary)));
      const entries: LeaderboardEntryEntity[] = chosen.map((item, s) => ({
        benchmarkVersionId,
        phase,
        submissionId: item.submissionId,
        runId: item.runId,
        organisationId: item.organisationId,
        organisationName: item.organisationName,
        submissionName: item.submissionName,
        rank: ranks[s] as number,
        primaryValue: item.primary,
        metrics: item.metrics,
        evaluatedAt: item.evaluatedAt,
        medianRank: robust && chosen.length > 1 ? (robust.medianRank[s] ?? null) : null,
        rankInterval: robust && chosen.length > 1 ? (robust.rankInterval[s] ?? null) : null,
        rankShare: robust && chosen.length > 1 ? (robust.rankShare[s] ?? null) : null,
      }));
      await this.repository.replaceEntries(tx, benchmarkVersionId, phase, entries);
      await this.repository.replaceSnapshot(tx, {
        benchmarkVersionId,
        phase,
        method: robust?.method ?? `${def.ranking.method} on ${def.metrics.primary}, ties "min"`,
        details: { kendallTau: robust && chosen.length > 1 ? robust.kendallTau : null, B: robust?.B ?? 0, seed: robust?.seed ?? robustnessSpec.seed, degenerate: robust?.degenerate ?? 0, entries: chosen.length },
        computedAt: new Date(),
      });
    });
  }

  /** The split's truth in case order: labels (binary) or events and times (survival); read here, never mounted. */
  private async loadTruth(cohortVersionId: string, split: string): Promise<{ caseIds: string[]; labels: number[]; times?: number[] }> {
    const cohortVersion = await this.cohorts.requireVersion(cohortVersionId);
    const file = this.cohorts.fileOf(cohortVersion, 'truth', `${split}/labels.csv`);
    const text = (await this.storage.getBuffer('truth', file.key)).toString('utf8');
    if (text.startsWith('case_id,time,event')) {
      const parsed = parseSurvivalTruthCsv(text);
      if (!parsed.ok) throw new Error(`truth ${file.key}: ${parsed.error.message}`);
      return { caseIds: parsed.value.map((t) => t.caseId), labels: parsed.value.map((t) => t.event), times: parsed.value.map((t) => t.time) };
    }
    const parsed = parseTruthCsv(text);
    if (!parsed.ok) throw new Error(`truth ${file.key}: ${parsed.error.message}`);
    return { caseIds: parsed.value.map((t) => t.caseId), labels: parsed.value.map((t) => t.label) };
  }

  /**
   * Paired comparison of two leaderboard entries on the same held-out cases: AUROC by paired DeLong, the other
   * metrics by a paired bootstrap (survival: both C-indices), Holm across metrics; for binary tasks also a per-case
   * Wilcoxon signed-rank test on the squared errors. Evaluators and regulators only (it reads per-case results).
   */
  async compare(slug: string, phaseName: string, submissionA: string, submissionB: string): Promise<ComparisonResponse> {
    const { version } = await this.benchmarks.resolveCurrent(slug);
    const def = version.definition;
    const entries = await this.repository.findEntries(version.id, phaseName);
    const pick = (id: string, field: string): LeaderboardEntryEntity => {
      const e = entries.find((x) => x.submissionId === id);
      if (!e) throw new DomainError(ErrorCode.NotFound, `submission '${id}' is not on the ${slug} ${phaseName} leaderboard`, [{ field, problem: 'not on this leaderboard' }]);
      return e;
    };
    const a = pick(submissionA, 'a');
    const b = pick(submissionB, 'b');
    if (a.submissionId === b.submissionId) throw new DomainError(ErrorCode.ValidationFailed, 'b: same as a (compare two different submissions)', [{ field: 'b', problem: 'same as a' }]);
    const split = def.phases.find((p) => p.name === phaseName)?.split ?? 'test';
    const truth = await this.loadTruth(version.cohortVersionId, split);
    const field = OUTPUT_FIELD_BY_TASK[def.task] ?? 'probability';
    const byRun = await this.repository.findPredictionsOfRuns(this.db.manager(), [a.runId, b.runId]);
    const series = (runId: string): number[] => truth.caseIds.map((id) => Number(byRun.get(runId)?.get(id)?.[field]));
    const pa = series(a.runId);
    const pb = series(b.runId);
    let comparison: Record<string, unknown>;
    if (def.task === 'survival') {
      comparison = compareSurvival({ time: truth.times as number[], event: truth.labels, riskA: pa, riskB: pb, ...(def.metrics.tau === undefined ? {} : { tau: def.metrics.tau }) });
    } else {
      comparison = compareBinary({ labels: truth.labels, scoresA: pa, scoresB: pb, threshold: def.metrics.threshold ?? 0.5 });
      const se = (p: number[]): number[] => p.map((v, i) => (v - (truth.labels[i] as number)) ** 2);
      const w = wilcoxonSignedRank(se(pa), se(pb));
      comparison.per_case_squared_error = { statistic: w.statistic, p: w.pValue, method: `${w.method}; per-case squared error (p − y)², A vs B` };
    }
    return { benchmark: slug, phase: phaseName, n: truth.caseIds.length, a: { submissionId: a.submissionId, submission: a.submissionName, organisation: a.organisationName }, b: { submissionId: b.submissionId, submission: b.submissionName, organisation: b.organisationName }, difference: 'A − B', comparison };
  }

  /** `granted`: the caller's grants let it see this phase even when hidden (checked by the controller). */
  async read(principal: Principal, slug: string, phaseName: string, granted = false): Promise<LeaderboardResponse> {
    const { version, phases } = await this.benchmarks.resolveCurrent(slug);
    const phase = phases.find((p) => p.name === phaseName);
    if (!phase) throw new DomainError(ErrorCode.NotFound, `benchmark '${slug}' has no phase '${phaseName}'`, [{ field: 'phase', problem: `one of ${phases.map((p) => p.name).join(', ')}` }]);
    const privileged = principal.role === Role.Evaluator || principal.role === Role.Admin || granted;
    if (phase.leaderboardVisibility === 'hidden' && !privileged) throw notFound('leaderboard', `${slug}/${phaseName}`);
    const def = version.definition;
    const digits = def.precision ?? 4;
    const metricNames = [def.metrics.primary, ...def.metrics.secondary];
    const entries = await this.repository.findEntries(version.id, phase.name);
    const snapshot = await this.repository.findSnapshot(version.id, phase.name);
    return {
      benchmark: slug,
      benchmarkVersion: version.version,
      benchmarkContentHash: version.contentHash,
      phase: phase.name,
      split: phase.split,
      primaryMetric: def.metrics.primary,
      direction: metricDirection(def.metrics.primary),
      ranking: `${def.ranking.method}, ties "${def.ranking.ties}", ${def.ranking.perVendor} submission per vendor`,
      robustness: snapshot
        ? { method: snapshot.method, kendallTau: snapshot.details.kendallTau, replicates: snapshot.details.B, seed: snapshot.details.seed, degenerateReplicates: snapshot.details.degenerate }
        : null,
      precision: digits,
      rows: entries.map((e) => ({
        rank: e.rank,
        organisation: e.organisationName,
        submission: e.submissionName,
        submissionId: e.submissionId,
        evaluatedAt: e.evaluatedAt.toISOString(),
        medianRank: e.medianRank,
        rankInterval: e.rankInterval,
        rankShare: e.rankShare,
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
