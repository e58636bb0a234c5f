import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { BenchmarksService, ResolvedBenchmark } from '../benchmarks/benchmarks.service';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { Database } from '../database/database.module';
import { metricDirection } from '../metrics/score-report';
import { ComparisonResponse, LeaderboardMetricResponse, LeaderboardResponse, type LeaderboardSiteResponse, sparseRankShare } from './leaderboards.dto';
import { LeaderboardEntryEntity, LeaderboardSnapshotEntity } from './leaderboards.entity';
import { LeaderboardPage, LeaderboardViewCache, SerializedLeaderboard } from './leaderboard-views';
import { LeaderboardsRepository } from './leaderboards.repository';
import { onePerVendor } from './ranking';
import { EntityManager } from 'typeorm';
import type { MetricValue } from '../metrics/score-report';
import {
  FeedbackMechanism,
  feedbackSpec,
  LADDER_SECONDARY_WITHHELD,
  LadderOutcome,
  ladderMethod,
  ladderRound,
  LadderState,
  parameterFreeLadderRound,
  publicMetric,
  scoredRunView,
  ScoredRunView,
} from './held-out-feedback';
import { rankMin } from '../metrics/ranking';
import { RANK_INTERVAL_REPLICATES } from '../metrics/stats';
import { aggregateRankRobustness, perCaseRankRobustness, RobustnessResult } from '../tasks/rank-robustness';
import { taskDefinition } from '../tasks/registry';
import type { CaseResult, TaskDefinition } from '../tasks/task-definition';
import { GrantsService } from '../grants/grants.service';

@Injectable()
export class LeaderboardsService {
  /** Serialized views of materialized boards, validated against the database on every read (readSerialized). */
  private readonly views = new LeaderboardViewCache();

  constructor(
    private readonly repository: LeaderboardsRepository,
    private readonly benchmarks: BenchmarksService,
    private readonly db: Database,
    private readonly grants: GrantsService,
  ) {}

  /**
   * Rebuilds one phase's leaderboard from finished evaluations (after each one); reads only read the result. Ranks
   * with the benchmark's method and measures the ranking's robustness by a seeded bootstrap over cases, from the
   * stored per-case results (never the truth), through the task's definition.
   */
  async materialize(benchmarkVersionId: string, phase: string): Promise<void> {
    const version = await this.benchmarks.requireVersion(benchmarkVersionId);
    const def = version.definition;
    const direction = metricDirection(def.metrics.primary);
    const split = def.phases.find((p) => p.name === phase)?.split;
    if (!split) throw new Error(`benchmark version ${benchmarkVersionId} has no phase ${phase}`);
    const task = taskDefinition(def.task);
    // B from the promised precision of the rank intervals' 2.5% tails (RANK_INTERVAL_REPLICATES), unless declared.
    const robustnessSpec = def.ranking.robustness ?? { replicates: RANK_INTERVAL_REPLICATES, seed: 20261123 };
    const feedback = feedbackSpec(def);
    // The Ladder governs held-out phases only: the sample split's labels are public anyway.
    const ladder = split === 'test' && feedback.mechanism !== 'round';
    await this.db.transaction(async (tx) => {
      await this.repository.lockLeaderboard(tx, benchmarkVersionId, phase);
      const rows = (await this.repository.findFinishedEvaluations(tx, benchmarkVersionId, phase))
        .map((r) => ({ ...r, primary: r.metrics[def.metrics.primary]?.value ?? null }))
        .filter((r): r is typeof r & { primary: number } => typeof r.primary === 'number' && Number.isFinite(r.primary));
      let ladderStates: Map<string, LadderState> | null = null;
      if (ladder) {
        await this.applyLadder(tx, { benchmarkVersionId, phase, metric: def.metrics.primary, direction, digits: def.precision ?? 4, spec: feedback, rows, task });
        ladderStates = await this.repository.findLadderStates(tx, benchmarkVersionId, phase, def.metrics.primary);
      }
      // Under the Ladder a vendor is represented by the submission that last moved its ladder.
      const chosen = ladderStates ? rows.filter((r) => ladderStates?.get(r.organisationId)?.leaderRunId === r.runId) : onePerVendor(rows, def.ranking.perVendor, direction);
      // "best per vendor": each replicate re-selects a vendor's best among all its submissions (choosing once on the
      // whole test set would make a many-submission vendor's interval optimistic).
      const reselect = !ladderStates && def.ranking.perVendor === 'best' && def.ranking.method === 'aggregate-then-rank';
      const others = reselect ? chosen.map((c) => rows.filter((r) => r.organisationId === c.organisationId && r.runId !== c.runId)) : [];
      const byRun = await this.repository.findPerCaseOfRuns(tx, [...chosen, ...others.flat()].map((c) => c.runId));
      const caseOrder = chosen[0] ? (byRun.get(chosen[0].runId) ?? []).map((r) => r.caseId) : [];
      const perCase = chosen.map((c) => alignCases(byRun.get(c.runId), caseOrder));
      const alternatives = others.map((list) => list.map((r) => alignCases(byRun.get(r.runId), caseOrder)));
      let robust: RobustnessResult | null = null;
      if (chosen.length > 0 && caseOrder.length > 0 && isComplete(perCase) && alternatives.every(isComplete)) {
        const problem = task.rankingProblem({ definition: def, entries: perCase, ...(others.some((o) => o.length > 0) ? { alternatives } : {}) });
        if ([problem.rows, ...(problem.alternatives ?? [])].every((set) => set.every((row) => row.every(Number.isFinite)))) {
          robust = def.ranking.method === 'aggregate-then-rank' ? aggregateRankRobustness(problem, robustnessSpec) : perCaseRankRobustness(problem, def.ranking.method, robustnessSpec);
        }
      }
      const shown = (r: (typeof chosen)[number]): number | null => ladderStates?.get(r.organisationId)?.shown ?? null;
      // Under the Ladder ranks follow the shown values, so the ranking reveals no more than they do.
      const ranks = ladderStates
        ? rankMin(chosen.map((r) => (direction === 'higher' ? 1 : -1) * (shown(r) as number)))
        : (robust?.rank ?? rankMin(chosen.map((r) => (direction === 'higher' ? r.primary : -r.primary))));
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
        shownPrimary: shown(item),
        metrics: item.metrics,
        evaluatedAt: item.evaluatedAt,
        medianRank: robust && chosen.length > 1 ? (robust.medianRank[s] ?? null) : null,
        rankInterval: robust && chosen.length > 1 ? (robust.rankInterval[s] ?? null) : null,
        rankShare: robust && chosen.length > 1 ? (robust.rankShare[s] ?? null) : null,
        sites: item.sites,
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

  /**
   * Ladder rounds for the phase's finished runs that have had none, oldest result first: each locks its vendor's
   * ladder row, compares, and records the new state and what the vendor is told, in the rebuild's transaction (so a
   * crash leaves no half-applied round, and a rerun skips the runs already done).
   */
  private async applyLadder(
    tx: EntityManager,
    input: {
      benchmarkVersionId: string;
      phase: string;
      metric: string;
      direction: 'higher' | 'lower';
      digits: number;
      spec: { mechanism: FeedbackMechanism; step: number | null };
      rows: { runId: string; organisationId: string; primary: number }[];
      task: TaskDefinition;
    },
  ): Promise<void> {
    const done = await this.repository.findRunsWithFeedback(tx, input.rows.map((r) => r.runId));
    for (const row of input.rows) {
      if (done.has(row.runId)) continue;
      const key = { benchmarkVersionId: input.benchmarkVersionId, phase: input.phase, organisationId: row.organisationId, metric: input.metric };
      const previous = await this.repository.lockLadder(tx, key);
      let outcome: LadderOutcome;
      if (input.spec.mechanism === 'ladder') {
        outcome = ladderRound({ previous, runId: row.runId, score: row.primary, direction: input.direction, step: input.spec.step as number });
      } else {
        // Parameter-free: the task's per-case losses from stored results (binary: (p − y)²; the schema allows brier only).
        const ids = previous ? [row.runId, previous.leaderRunId] : [row.runId];
        const byRun = await this.repository.findPerCaseOfRuns(tx, ids);
        const loss = input.task.perCaseLoss;
        if (!loss) throw new Error(`task ${input.task.task} has no per-case loss for the parameter-free ladder`);
        const caseOrder = (byRun.get(row.runId) ?? []).map((r) => r.caseId);
        const losses = (runId: string): number[] => alignCases(byRun.get(runId), caseOrder).map((r) => (r ? loss(r) : Number.NaN));
        outcome = parameterFreeLadderRound({ previous, runId: row.runId, losses: losses(row.runId), leaderLosses: previous ? losses(previous.leaderRunId) : null, digits: input.digits });
      }
      await this.repository.recordLadderRound(tx, key, { runId: row.runId, mechanism: input.spec.mechanism === 'ladder' ? 'ladder' : 'ladder-parameter-free', state: outcome.next, improved: outcome.improved, threshold: outcome.threshold });
    }
  }

  /**
   * Whether a reader sees held-out scores at full precision with counts, CIs and rank robustness: evaluators and
   * admins. The one place to extend for regulators holding a grant on the benchmark or submission.
   */
  async mayShowFullPrecision(principal: Principal, scope: { benchmarkVersionId: string; submissionId?: string }): Promise<boolean> {
    if (principal.role === Role.Evaluator || principal.role === Role.Admin) return true;
    // A regulator with a grant on the benchmark (or, for one run, on its submission) reads what staff read.
    return principal.role === Role.Regulator && this.grants.regulatorMayRead(principal, { benchmarkVersionId: scope.benchmarkVersionId, submissionId: scope.submissionId ?? '' });
  }

  /**
   * What the reader of a run sees of its scores (GET /api/runs/:id): the same rounding, release and Ladder rules as
   * the public leaderboard (scoredRunView), from the persisted ladder round of this run.
   */
  async runScoresFor(principal: Principal, run: { id: string; submissionId: string; benchmarkVersionId: string; phase: string; split: string }, metrics: Record<string, MetricValue> | null): Promise<ScoredRunView> {
    const version = await this.benchmarks.requireVersion(run.benchmarkVersionId);
    const phase = await this.benchmarks.findPhase(run.benchmarkVersionId, run.phase);
    return scoredRunView({
      definition: version.definition,
      split: run.split,
      released: phase?.leaderboardVisibility === 'public',
      fullPrecision: await this.mayShowFullPrecision(principal, { benchmarkVersionId: run.benchmarkVersionId, submissionId: run.submissionId }),
      metrics,
      record: await this.repository.findRunFeedback(run.id),
    });
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
    const byRun = await this.repository.findPerCaseOfRuns(this.db.manager(), [a.runId, b.runId]);
    const caseOrder = (byRun.get(a.runId) ?? []).map((r) => r.caseId);
    const pair = [alignCases(byRun.get(a.runId), caseOrder), alignCases(byRun.get(b.runId), caseOrder)];
    if (caseOrder.length === 0 || !isComplete(pair)) {
      throw new DomainError(ErrorCode.ValidationFailed, 'these entries have no stored per-case results on the same cases (scored before per-case results were kept)', [{ field: 'b', problem: 'no per-case results to pair' }]);
    }
    const comparison = taskDefinition(def.task).compare({ definition: def, a: pair[0] as CaseResult[], b: pair[1] as CaseResult[] });
    return { benchmark: slug, phase: phaseName, n: caseOrder.length, a: { submissionId: a.submissionId, submission: a.submissionName, organisation: a.organisationName }, b: { submissionId: b.submissionId, submission: b.submissionName, organisation: b.organisationName }, difference: 'A − B', comparison };
  }

  /** `granted`: the caller's grants let it see this phase even when hidden (checked by the controller). */
  async read(principal: Principal, slug: string, phaseName: string, granted = false): Promise<LeaderboardResponse> {
    return (await this.readSerialized(principal, await this.benchmarks.resolveCurrent(slug), phaseName, granted)).response;
  }

  /** One page of the leaderboard as its reader may see it (readSerialized, then the page's kept bytes). */
  async readPage(principal: Principal, resolved: ResolvedBenchmark, phaseName: string, page: { offset: number; limit: number }, granted = false): Promise<LeaderboardPage> {
    return (await this.readSerialized(principal, resolved, phaseName, granted)).page(page.offset, page.limit);
  }

  /**
   * The leaderboard as its reader may see it, serialized: access and the view (full precision or public) are decided
   * on every call; the view itself is built once per rebuild of the board (materialize) and served from memory while
   * the snapshot's stamp in the database is unchanged (one primary-key read per call), so a rebuild committed by the
   * worker or another API process shows on the next read. The response is deep-frozen (shared by readers).
   */
  async readSerialized(principal: Principal, resolved: ResolvedBenchmark, phaseName: string, granted = false): Promise<SerializedLeaderboard> {
    const { benchmark, version, phases } = resolved;
    const slug = benchmark.slug;
    const phase = phases.find((p) => p.name === phaseName);
    if (!phase) throw new DomainError(ErrorCode.NotFound, `benchmark '${slug}' has no phase '${phaseName}'`, [{ field: 'phase', problem: `one of ${phases.map((p) => p.name).join(', ')}` }]);
    const full = granted || (await this.mayShowFullPrecision(principal, { benchmarkVersionId: version.id }));
    if (phase.leaderboardVisibility === 'hidden' && !full) throw notFound('leaderboard', `${slug}/${phaseName}`);
    // The rebuild stamp as read with the phases (resolveCurrent), when they were read for this very version; or read now.
    const stamps = benchmark.currentVersionId === version.id ? resolved.boardStamps : undefined;
    const boardStamp = stamps?.has(phase.name) ? (stamps.get(phase.name) ?? null) : await this.repository.findSnapshotStamp(version.id, phase.name);
    // A view is made from the board and from the version's definition (precision, feedback mechanism, metrics): it is
    // kept under both stamps, so a definition rewritten in place (a new row stamp) is not served with the old rounding.
    // A board never built (no snapshot row: no rebuild has committed) is kept too, under NEVER_BUILT: its entries are
    // written only by a rebuild, which writes the snapshot in the same transaction, so its first rebuild gives it a
    // stamp. Not keeping it made every read of an empty phase a transaction of five statements.
    const withVersion = (s: string | null): string => {
      const board = s ?? NEVER_BUILT;
      return resolved.versionStamp ? `${resolved.versionStamp}|${board}` : board;
    };
    return this.views.get({ benchmarkVersionId: version.id, phase: phase.name, view: full ? 'full' : 'public' }, withVersion(boardStamp), async () => {
      const board = await this.repository.findBoard(version.id, phase.name);
      return { stamp: withVersion(board.stamp), response: leaderboardView({ slug, version, phase, full, entries: board.entries, snapshot: board.snapshot }) };
    });
  }
}

/** The stamp a board's views are kept under before its first rebuild (a real stamp is `xmin/µs`: no clash). */
const NEVER_BUILT = 'never-built';

/**
 * One view of a materialized leaderboard: full precision (staff, granted regulators) or public (held-out values
 * rounded to the benchmark's precision; under the Ladder the vendor's ladder value only, no rank robustness).
 */
function leaderboardView(input: {
  slug: string;
  version: ResolvedBenchmark['version'];
  phase: ResolvedBenchmark['phases'][number];
  full: boolean;
  entries: LeaderboardEntryEntity[];
  snapshot: LeaderboardSnapshotEntity | null;
}): LeaderboardResponse {
  const { slug, version, phase, full, entries, snapshot } = input;
  const def = version.definition;
  const digits = def.precision ?? 4;
  const heldOut = phase.split === 'test';
  const feedback = feedbackSpec(def);
  const ladder = heldOut && feedback.mechanism !== 'round';
  // Under the Ladder the public sees each vendor's ladder value only: rank robustness and secondary metrics are
  // further functions of the labels (docs/held-out-feedback.md).
  const publicLadder = ladder && !full;
  const metricOf = (e: LeaderboardEntryEntity, name: string): LeaderboardMetricResponse => {
    const m = e.metrics[name];
    if (full) return m ? { ...m } : { value: null, ci: null, method: 'not computed' };
    if (!publicLadder) return publicMetric(m, digits, heldOut);
    if (name === def.metrics.primary) return { value: e.shownPrimary, ci: null, method: ladderMethod(feedback.mechanism, feedback.step, name) };
    return { value: null, ci: null, method: LADDER_SECONDARY_WITHHELD };
  };
  const metricNames = [def.metrics.primary, ...def.metrics.secondary];
  // A federated entry's per-site rows: each node's values; rounded and without counts in the public view of a phase
  // that is not held out. On a held-out phase the public sees none (null), as the held-out vendor report leaves its
  // subgroup tables out: k more held-out numbers per submission, and a suppressed site recoverable from the pooled
  // value and the others. Methods are in the run's report.
  const sitesOf = (e: LeaderboardEntryEntity): LeaderboardSiteResponse[] | null => {
    if (!e.sites || (!full && (heldOut || publicLadder))) return null;
    const tables = e.sites;
    const names = [...new Set(metricNames.flatMap((m) => (tables[m] ?? []).map((g) => g.group)))];
    return names.map((site) => {
      const rows = metricNames.map((m) => [m, (tables[m] ?? []).find((g) => g.group === site)] as const);
      const suppressed = rows.some(([, g]) => g?.suppressed === true);
      const n = rows.map(([, g]) => g).find((g) => g && !g.suppressed)?.n;
      return {
        site,
        suppressed,
        n: full && !suppressed && typeof n === 'number' ? n : null,
        metrics: Object.fromEntries(
          rows.map(([m, g]) => {
            if (!g || g.suppressed) return [m, { value: null, ci: null }];
            const shown = full ? { value: g.value, ci: g.ci } : publicMetric({ value: g.value, ci: g.ci, method: g.method }, digits, heldOut);
            return [m, { value: shown.value, ci: shown.ci }];
          }),
        ),
      };
    });
  };
  return {
    benchmark: slug,
    benchmarkVersion: version.version,
    benchmarkContentHash: version.contentHash,
    phase: phase.name,
    split: phase.split,
    primaryMetric: def.metrics.primary,
    direction: metricDirection(def.metrics.primary),
    ranking: `${def.ranking.method}, ties "${def.ranking.ties}", ${def.ranking.perVendor} submission per vendor`,
    fullPrecision: full,
    feedback: { mechanism: ladder ? feedback.mechanism : 'round', step: ladder ? feedback.step : null },
    robustness: snapshot && !publicLadder
      ? { method: snapshot.method, kendallTau: snapshot.details.kendallTau, replicates: snapshot.details.B, seed: snapshot.details.seed, degenerateReplicates: snapshot.details.degenerate }
      : null,
    precision: digits,
    ...statedOnce(
      entries.map((e) => ({
        rank: e.rank,
        organisation: e.organisationName,
        submission: e.submissionName,
        submissionId: e.submissionId,
        evaluatedAt: e.evaluatedAt.toISOString(),
        medianRank: publicLadder ? null : e.medianRank,
        rankInterval: publicLadder ? null : e.rankInterval,
        ...sparseRankShare(publicLadder ? null : e.rankShare),
        metrics: Object.fromEntries(metricNames.map((name) => [name, metricOf(e, name)])),
        ...(e.sites ? { sites: sitesOf(e) } : {}),
      })),
      metricNames,
    ),
    // The whole board; the view cache serves it in pages (LeaderboardViewCache).
    total: entries.length,
    offset: 0,
    limit: entries.length,
  };
}

/**
 * Each metric's method stated once for the board (`methods`: the method most rows share, first met on a tie); a row
 * keeps `method` only where its own differs, so `row.metrics[m].method ?? methods[m]` is every row's method as before.
 */
function statedOnce(rows: LeaderboardResponse['rows'], metricNames: string[]): { methods: Record<string, string>; rows: LeaderboardResponse['rows'] } {
  const methods: Record<string, string> = {};
  for (const name of metricNames) {
    const counts = new Map<string, number>();
    for (const r of rows) {
      const m = r.metrics[name]?.method;
      if (m !== undefined) counts.set(m, (counts.get(m) ?? 0) + 1);
    }
    let best: [string, number] | null = null;
    for (const entry of counts) if (!best || entry[1] > best[1]) best = entry;
    if (best) methods[name] = best[0];
  }
  return {
    methods,
    rows: rows.map((r) => ({
      ...r,
      metrics: Object.fromEntries(
        Object.entries(r.metrics).map(([name, m]) => {
          if (m.method === undefined || m.method !== methods[name]) return [name, m];
          const { method: _stated, ...rest } = m;
          return [name, rest];
        }),
      ),
    })),
  };
}

/** A run's stored per-case results in the given case order; a case it lacks is null (so the set is not ranked). */
function alignCases(results: readonly CaseResult[] | null | undefined, caseOrder: readonly string[]): (CaseResult | null)[] {
  const byCase = new Map((results ?? []).map((r) => [r.caseId, r]));
  return caseOrder.map((id) => byCase.get(id) ?? null);
}

function isComplete(sets: readonly (readonly (CaseResult | null)[])[]): sets is CaseResult[][] {
  return sets.every((set) => set.every((r) => r !== null));
}
