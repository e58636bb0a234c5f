import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { DomainError, ErrorCode } from '../common/domain-error';
import { sha256Hex } from '../common/hashing';
import { feedbackSpec, publicMetric } from '../leaderboards/held-out-feedback';
import { holmAdjust } from '../metrics/hypothesis-tests';
import { metricDirection, type MetricValue } from '../metrics/score-report';
import { COMPLEMENTARY_SUPPRESSION, type SubgroupResult } from '../metrics/subgroups';
import type { SubmissionManifest } from '../submissions/submissions.entity';
import { taskDefinition } from '../tasks/registry';
import { benchmarkBootstrap } from '../tasks/scoring-support';
import type { CaseResult } from '../tasks/task-definition';
import { cell, namedEstimate, type TaskReport } from '../tasks/task-report';
import { type CountTable, EVIDENCE_SCHEMA, type Estimate, type EvidenceRecord, type NamedEstimate, type ReportAudience } from './evidence';
import { determinismForEvidence } from '../runs/determinism-check';
import type { RunDeterminism, RunFederationState } from '../runs/evaluation.entity';

/**
 * Everything a report is built from, as stored: a snapshot the pipeline reads (report-pipeline.ts), so that the
 * builder is a pure function of it (no clock, no random, no I/O) and re-building gives the same canonical bytes.
 */
export interface EvidenceInput {
  audience: ReportAudience;
  run: {
    id: string;
    submissionId: string;
    benchmarkVersionId: string;
    phase: string;
    split: string;
    status: string;
    failureReason: string | null;
    failureDetail: string | null;
    attempts: number;
    casesTotal: number;
    modelSha256: string;
    cohortContentHash: string;
    benchmarkContentHash: string;
    metricCodeVersion: string | null;
    runnerImageId: string | null;
    sandboxRuntime: string | null;
    workerId: string | null;
    timings: Record<string, number | undefined>;
    queuedAt: Date;
    startedAt: Date | null;
    finishedAt: Date | null;
    /** The determinism re-run of a seeded sample of cases (src/runs/determinism-check.ts); null when none was made. */
    determinism?: RunDeterminism | null;
    /** A federated phase's run: where each node stood (src/runs/federated-runs.ts); null at the facility. */
    federation?: RunFederationState | null;
  };
  /** null when the run failed before scoring. */
  result: { n: number; metrics: Record<string, MetricValue>; details: Record<string, unknown>; perCase: CaseResult[] | null } | null;
  submission: { id: string; name: string; kind: 'onnx' | 'container'; manifest: SubmissionManifest; sha256: string; createdAt: Date; intendedUse: EvidenceRecord['intendedUse'] };
  organisationName: string;
  benchmark: { slug: string; title: string; version: number; contentHash: string; definition: BenchmarkDefinition };
  /** released: the phase's leaderboard is public (held-out scores may be shown to vendors, rounded). */
  phase: { released: boolean };
  cohort: { slug: string; title: string; attribution: string; version: number; contentHash: string; synthetic: boolean; cases: { caseId: string; metadata: Record<string, string> }[] };
  /** This submission's leaderboard entry of the phase, if it is on the board. */
  leaderboard: { entries: number; rank: number | null; medianRank: number | null; rankInterval: [number, number] | null; rankShare: number[] | null; kendallTau: { median: number; q25: number; q75: number } | null } | null;
  /** Paired comparisons (the task's `compare`, as the leaderboard's) against the submissions the evaluator chose. */
  comparators: { against: { submissionId: string; name: string; organisation: string }; n: number; comparison: Record<string, unknown> }[];
  software: { assayVersion: string; libraries: Record<string, string> };
}

/** The vendor form of this run is not allowed by the benchmark's held-out feedback (the reason says why). */
export class ReportRefused extends DomainError {
  constructor(reason: string) {
    super(ErrorCode.Conflict, reason, [{ field: 'audience', problem: reason }]);
  }
}

/** reportId: first 32 hex digits of sha256(`${submissionId}:${benchmarkVersionId}:${phase}:${audience}`). */
export function reportIdOf(input: { submissionId: string; benchmarkVersionId: string; phase: string; audience: ReportAudience }): string {
  return sha256Hex(`${input.submissionId}:${input.benchmarkVersionId}:${input.phase}:${input.audience}`).slice(0, 32);
}

const DEMOGRAPHIC = ['sex', 'age_band', 'age', 'ethnicity'];
const ACQUISITION = ['site', 'scanner', 'vendor', 'protocol', 'field_strength', 'slice_thickness'];
const DISEASE = ['stage', 'histology', 'lesion_size', 'lesion_count'];
const WORST_CASES = 10;

const CHECKLISTS: EvidenceRecord['annexes']['checklists'] = [
  { checklist: 'CLAIM 2024', item: 'Data sources, eligibility, partitions', section: '§5 cohort' },
  { checklist: 'CLAIM 2024', item: 'Reference standard definition and annotators', section: '§4 referenceStandard' },
  { checklist: 'CLAIM 2024', item: 'Metrics and their statistical uncertainty', section: '§7 primary, §16 annexes.metricDefinitions' },
  { checklist: 'CLAIM 2024', item: 'Subgroup performance, failure analysis', section: '§9 subgroups, §11 failureAnalysis' },
  { checklist: 'STARD-AI', item: 'Index test version and operating threshold', section: '§1 identity, §3 protocol' },
  { checklist: 'STARD-AI', item: 'Flow of participants incl. excluded and failed cases', section: '§5 cohort.flow' },
  { checklist: 'TRIPOD+AI', item: 'Discrimination, calibration, clinical utility', section: '§7 primary, §8 calibration' },
  { checklist: 'TRIPOD+AI', item: 'Fairness / subgroups', section: '§9 subgroups' },
  { checklist: 'AI Act Annex IV §2(g)', item: 'Test logs and test reports dated and signed', section: 'date, signature (evidence.json)' },
];

/** Deep copy with every non-finite number as null and undefined fields dropped (canonical JSON has neither). */
function finite<T>(value: T): T {
  if (typeof value === 'number') return (Number.isFinite(value) ? value : null) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => finite(v)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out[k] = finite(v);
  return out as T;
}

function countTable(attribute: string, cases: EvidenceInput['cohort']['cases']): CountTable {
  const counts = new Map<string, number>();
  for (const c of cases) {
    const level = c.metadata[attribute] ?? 'unknown';
    counts.set(level, (counts.get(level) ?? 0) + 1);
  }
  return { attribute, levels: [...counts.keys()].sort().map((level) => ({ level, n: counts.get(level) as number })) };
}

/** The attributes the split's cases carry, in a fixed order. */
function attributesOf(cases: EvidenceInput['cohort']['cases']): string[] {
  return [...new Set(cases.flatMap((c) => Object.keys(c.metadata)))].sort();
}

/** Numbers from a comparison entry of any task's `compare` (binary/survival: ComparisonEntry; image tasks: their own). */
function comparisonResults(comparison: Record<string, unknown>): EvidenceRecord['comparators'][number]['results'] {
  const rows = Object.entries(comparison)
    .filter(([, v]) => v !== null && typeof v === 'object')
    .map(([metric, raw]) => {
      const e = raw as Record<string, unknown>;
      const num = (k: string): number | null => (typeof e[k] === 'number' && Number.isFinite(e[k]) ? (e[k] as number) : null);
      const ci = Array.isArray(e['ci']) && e['ci'].length === 2 && e['ci'].every((x) => typeof x === 'number') ? (e['ci'] as [number, number]) : null;
      const n = num('n');
      const difference: Estimate = { value: num('difference') ?? num('meanDifference'), ci, method: typeof e['method'] === 'string' ? e['method'] : 'paired comparison', ...(n !== null ? { n } : {}) };
      return { metric, difference, pValue: num('p'), pHolm: num('p_holm') };
    });
  // Holm across the metrics where the task's comparison did not adjust (R p.adjust "holm").
  if (rows.some((r) => r.pHolm === null && r.pValue !== null)) {
    const adjusted = holmAdjust(rows.map((r) => r.pValue));
    rows.forEach((r, i) => (r.pHolm = r.pHolm ?? adjusted[i] ?? null));
  }
  return rows;
}

function criterionText(c: { metric: string; bound: string; op: string; value: number }): string {
  return `${c.metric}: ${c.bound === 'estimate' ? 'estimate' : c.bound === 'ci_lower' ? 'lower 95% CI bound' : 'upper 95% CI bound'} ${c.op} ${c.value}`;
}

/**
 * Builds the evidence record of one run for one audience. Pure and deterministic: reportId from the pins, date = the
 * run's finish, arrays in defined orders (truth order, sorted levels, worst first then by case id).
 *
 * The vendor form of a held-out (test) run shows what the public leaderboard shows of it and nothing more: scores
 * rounded to the benchmark's precision with CIs rounded outward (Wilson CIs withheld), no per-case values, counts,
 * curves, subgroup or calibration tables, and no comparisons (docs/held-out-feedback.md). It is refused while the
 * phase is not released, and under the Ladder (a vendor then sees its ladder value only).
 */
export function buildEvidence(input: EvidenceInput): EvidenceRecord {
  const { run, result, submission, benchmark, cohort, audience } = input;
  const def = benchmark.definition;
  const task = taskDefinition(def.task);
  const heldOutVendor = audience === 'vendor' && run.split === 'test';
  const digits = def.precision ?? 4;
  if (heldOutVendor) {
    if (!input.phase.released) throw new ReportRefused(`the ${run.phase} phase's results are not released: no vendor report of a held-out run before its leaderboard is public`);
    const spec = feedbackSpec(def);
    if (spec.mechanism !== 'round') throw new ReportRefused(`benchmark ${benchmark.slug} gives held-out feedback through the Ladder (${spec.mechanism}): a vendor sees its ladder value only, so there is no vendor report of a held-out run`);
  }
  const withheld: { section: string; reason: string }[] = [];
  const withhold = (section: string, reason: string): void => {
    if (heldOutVendor) withheld.push({ section, reason });
  };
  const heldOutReason = 'vendor form of a held-out run: per-case values, counts and their functions identify held-out labels (docs/held-out-feedback.md)';

  const perCase = result?.perCase ?? [];
  const report: TaskReport | null = result && task.report ? task.report({ definition: def, metrics: result.metrics, details: result.details, perCase }) : null;
  const primaryName = def.metrics.primary;
  const metricNames = [primaryName, ...def.metrics.secondary];
  const shown = (name: string): NamedEstimate => {
    const m = result?.metrics[name];
    if (!result) return { metric: name, value: null, ci: null, method: `not estimable: the run ${run.status}${run.failureReason ? ` (${run.failureReason})` : ''}`, direction: metricDirection(name) };
    if (heldOutVendor) return { ...publicMetric(m, digits, true), metric: name, direction: metricDirection(name) };
    return namedEstimate(name, m, metricDirection(name));
  };
  const endpoint = { ...shown(primaryName), ...(result && !heldOutVendor ? { n: result.n } : {}) };
  const secondary = def.metrics.secondary.map(shown);
  if (!heldOutVendor && report) secondary.push(...report.extraEstimates);

  const criteria = def.report?.acceptanceCriteria ?? [];
  const acceptance = criteria.map((c) => {
    const e = c.metric === primaryName ? endpoint : secondary.find((s) => s.metric === c.metric);
    const x = c.bound === 'estimate' ? e?.value : c.bound === 'ci_lower' ? e?.ci?.[0] : e?.ci?.[1];
    return { criterion: criterionText(c), met: typeof x === 'number' ? (c.op === '>=' ? x >= c.value : x <= c.value) : null };
  });

  // Cohort: the run's split as stored in cohort_cases, in case-id order.
  const cases = [...cohort.cases].sort((a, b) => (a.caseId < b.caseId ? -1 : a.caseId > b.caseId ? 1 : 0));
  const attributes = attributesOf(cases);
  // The vendor form of a held-out run has no cohort count tables: counts of the held-out cases by stage, histology or
  // lesion size are functions of the held-out reference standard, and vendors are not shown the cohort's description
  // anywhere else (the benchmark page gives it to staff and granted regulators).
  if (attributes.length > 0) withhold('cohortTables', 'vendor form of a held-out run: counts of the held-out cases by attribute describe the held-out reference standard (docs/held-out-feedback.md)');
  const tables = (names: string[]): CountTable[] => (heldOutVendor ? [] : attributes.filter((a) => names.includes(a)).map((a) => countTable(a, cases)));
  const known = [...DEMOGRAPHIC, ...DISEASE];
  const eligible = cases.length > 0 ? cases.length : run.casesTotal;
  const excluded = result && !heldOutVendor ? (report?.excluded?.count ?? 0) : 0;
  const failed = result ? 0 : eligible;
  const flowNotes: string[] = [];
  if (!result) flowNotes.push(`the run ${run.status}${run.failureReason ? ` (${run.failureReason})` : ''}: no case was scored`);
  if (report?.excluded && !heldOutVendor) flowNotes.push(`${report.excluded.count} excluded: ${report.excluded.reason}`);
  if (heldOutVendor) flowNotes.push('exclusions by the empty-case rule are not shown in the vendor form of a held-out run; analysed counts every case with an output');
  flowNotes.push('a case without a prediction fails the whole run (missing_predictions): no case is dropped silently');

  // Subgroups and robustness from the result's subgroup tables (attribute → metric → rows).
  const subgroupTables = (result?.details['subgroups'] ?? {}) as Record<string, Record<string, SubgroupResult[]>>;
  const levelCount = (attribute: string, level: string): number => cases.filter((c) => (c.metadata[attribute] ?? 'unknown') === level).length;
  const subgroupRows = Object.keys(subgroupTables)
    .sort()
    .flatMap((attribute) =>
      (subgroupTables[attribute]?.[primaryName] ?? []).map((r) => {
        const estimate: Estimate = r.suppressed ? { value: null, ci: null, method: r.n === COMPLEMENTARY_SUPPRESSION ? 'suppressed: withheld with the one smaller subgroup, whose value would otherwise follow from the overall value (complementary suppression)' : `suppressed: n ${r.n}` } : { value: r.value, ci: r.ci, method: r.method };
        return { attribute, level: r.group, n: r.suppressed ? levelCount(attribute, r.group) : r.n, estimate, insufficient: r.suppressed || r.value === null };
      }),
    );
  const minSize = def.subgroups?.minSize;
  withhold('subgroups', heldOutReason);
  withhold('robustness', heldOutReason);

  // Failure analysis: worst cases by the task's per-case value (ties by case id), failed cases with their reasons.
  const ref = (r: CaseResult): string => r.caseId;
  const worst = report?.caseValue
    ? perCase
        .map((r) => ({ r, v: report.caseValue?.of(r) ?? null }))
        .filter((x): x is { r: CaseResult; v: number } => x.v !== null && Number.isFinite(x.v))
        .sort((a, b) => (report.caseValue?.direction === 'higher' ? a.v - b.v : b.v - a.v) || (a.r.caseId < b.r.caseId ? -1 : a.r.caseId > b.r.caseId ? 1 : 0))
        .slice(0, WORST_CASES)
        .map((x) => ({ caseRef: ref(x.r), metric: report.caseValue?.metric as string, value: x.v }))
    : [];
  const failedCases = report ? perCase.flatMap((r) => (report.caseFailure(r) ? [{ caseRef: ref(r), reason: report.caseFailure(r) as string }] : [])) : [];
  const failedIds = new Set(failedCases.map((f) => f.caseRef));
  const failureRateBySubgroup = (def.subgroups?.attributes ?? [])
    .filter((a) => attributes.includes(a))
    .sort()
    .flatMap((attribute) =>
      countTable(attribute, cases).levels.map((l) => ({ attribute, level: l.level, n: l.n, failed: cases.filter((c) => (c.metadata[attribute] ?? 'unknown') === l.level && failedIds.has(c.caseId)).length })),
    );
  withhold('failureAnalysis', heldOutReason);

  const failuresByReason = new Map<string, number>();
  for (const f of failedCases) failuresByReason.set(f.reason, (failuresByReason.get(f.reason) ?? 0) + 1);
  const failures: EvidenceRecord['execution']['failures'] = [];
  // The detail of a held-out run's failure can quote the container's output (its last log line): not in the vendor form.
  if (run.failureReason) failures.push({ reason: run.failureReason, count: run.casesTotal, ...(run.failureDetail && !heldOutVendor ? { detail: run.failureDetail } : {}) });
  if (!heldOutVendor) for (const [reason, count] of [...failuresByReason.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) failures.push({ reason, count, detail: 'scored as a failure of the algorithm on the case (counted in every aggregate)' });

  const timings: Record<string, number> = {};
  for (const k of Object.keys(run.timings).sort()) if (typeof run.timings[k] === 'number') timings[k] = run.timings[k] as number;
  const runTimeMs = typeof run.timings['totalMs'] === 'number' ? run.timings['totalMs'] : run.startedAt && run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null;

  const lb = input.leaderboard;
  // Null where the board has none (a Kendall τ over two entries, a rank never reached): kept null, never a number.
  const round = <T extends number | null>(x: T): T => (x === null ? x : (Number(x.toFixed(digits)) as T));
  const benchmarkContext: EvidenceRecord['benchmarkContext'] =
    lb && (audience === 'full' || input.phase.released)
      ? {
          nonRegulatory: true,
          entries: lb.entries,
          rank: lb.rank,
          medianRank: lb.medianRank === null ? null : audience === 'vendor' ? round(lb.medianRank) : lb.medianRank,
          rankInterval: lb.rankInterval,
          rankShare: lb.rankShare === null ? null : audience === 'vendor' ? lb.rankShare.map(round) : lb.rankShare,
          kendallTau: lb.kendallTau === null ? null : audience === 'vendor' ? { median: round(lb.kendallTau.median), q25: round(lb.kendallTau.q25), q75: round(lb.kendallTau.q75) } : lb.kendallTau,
        }
      : null;
  if (audience === 'vendor' && input.comparators.length > 0) withheld.push({ section: 'comparators', reason: "paired comparisons read other vendors' per-case results: evaluators and regulators only" });

  const rs = def.report;
  const synthetic = rs?.cohort.synthetic ?? cohort.synthetic;
  const limitations = [...(rs?.limitations ?? ['the benchmark declares no limitations (benchmark.yaml report.limitations)'])];
  if (synthetic && !limitations.some((l) => /SYNTHETIC/.test(l))) limitations.unshift('SYNTHETIC data: these results are no evidence of clinical performance.');
  if (result && result.n < 100) limitations.push(`${result.n} cases analysed: confidence intervals are wide; subgroup estimates are descriptive.`);
  for (const note of report?.notes ?? []) limitations.push(`Report: ${note}.`);
  limitations.push('Benchmark context (rank, rank interval) is a benchmarking artefact, not regulatory evidence.');

  const bootstrap = benchmarkBootstrap(def);
  const seeds: Record<string, number> = { bootstrap: bootstrap.seed };
  if (def.ranking.robustness) seeds['rankRobustness'] = def.ranking.robustness.seed;
  const manifest = submission.manifest as { version?: string; image?: { imageId?: string } };
  const r = def.limits.resources;
  const columns = report?.perCaseColumns ?? (perCase[0] ? Object.keys(perCase[0]) : ['caseId']);
  const record: EvidenceRecord = {
    schema: EVIDENCE_SCHEMA,
    reportId: reportIdOf({ submissionId: submission.id, benchmarkVersionId: run.benchmarkVersionId, phase: run.phase, audience }),
    audience,
    date: (run.finishedAt ?? run.queuedAt).toISOString(),
    identity: {
      submission: {
        id: submission.id,
        name: submission.name,
        kind: submission.kind,
        version: typeof manifest.version === 'string' ? manifest.version : null,
        organisation: input.organisationName,
        sha256: submission.sha256,
        imageId: submission.kind === 'container' ? (manifest.image?.imageId ?? null) : null,
        submittedAt: submission.createdAt.toISOString(),
      },
      benchmark: { slug: benchmark.slug, title: benchmark.title, version: benchmark.version, contentHash: benchmark.contentHash, phase: run.phase, split: run.split },
      cohort: { slug: cohort.slug, title: cohort.title, version: cohort.version, contentHash: cohort.contentHash, attribution: cohort.attribution },
      software: { assayVersion: input.software.assayVersion, metricCodeVersion: run.metricCodeVersion, runnerImageId: run.runnerImageId, libraries: input.software.libraries },
      seeds,
      execution: {
        runId: run.id,
        workerId: run.workerId,
        sandboxRuntime: run.sandboxRuntime,
        hardware: `sandbox limits: ${r.cpus} CPU, ${r.memoryMiB} MiB memory, ${r.gpus} GPU, ${r.timeoutSeconds} s`,
        queuedAt: run.queuedAt.toISOString(),
        startedAt: run.startedAt?.toISOString() ?? null,
        finishedAt: run.finishedAt?.toISOString() ?? null,
        attempts: run.attempts,
      },
    },
    intendedUse: submission.intendedUse,
    protocol: {
      task: def.task,
      problemCategory: report?.problemCategory ?? def.task,
      primaryMetric: primaryName,
      metrics: metricNames.map((name) => {
        const params: Record<string, unknown> = {};
        if (def.metrics.threshold !== undefined && ['sensitivity', 'specificity', 'ppv', 'npv', 'balanced_accuracy', 'fp_per_scan'].includes(name)) params['threshold'] = def.metrics.threshold;
        if (name === 'nsd' && def.metrics.toleranceMm !== undefined) params['toleranceMm'] = def.metrics.toleranceMm;
        if (name === 'c_index_uno' && def.metrics.tau !== undefined) params['tau'] = def.metrics.tau;
        return Object.keys(params).length > 0 ? { name, params } : { name };
      }),
      ciMethod: report?.ciMethod ?? 'as each metric states',
      bootstrap: { replicates: bootstrap.replicates, seed: bootstrap.seed },
      ...(report?.hitCriterion ? { hitCriterion: report.hitCriterion } : {}),
      ...(report?.emptyCaseRule ? { emptyCaseRule: report.emptyCaseRule } : {}),
      failureRule: 'non-zero exit, timeout, memory exhaustion, output breaking the schema or a case without a prediction fails the run with its reason; no case is dropped silently',
      aggregation: report?.aggregation ?? 'as each metric states',
      subgroups: [...(def.subgroups?.attributes ?? [])],
      multiplicity: 'secondary and subgroup analyses are descriptive (no adjustment); paired comparisons: Holm across the metrics compared',
      ranking: `${def.ranking.method} on ${primaryName}, ties "${def.ranking.ties}", ${def.ranking.perVendor} submission per vendor`,
      acceptanceCriteria: criteria.map((c) => ({ metric: c.metric, bound: c.bound, op: c.op, value: c.value })),
      protocolSha256: benchmark.contentHash,
    },
    referenceStandard: rs?.referenceStandard ? { ...rs.referenceStandard } : { definition: 'not declared by the benchmark (benchmark.yaml report.referenceStandard)' },
    cohort: {
      sources: rs?.cohort.sources ?? cohort.attribution,
      synthetic,
      ...(rs?.cohort.inclusion ? { inclusion: rs.cohort.inclusion } : {}),
      ...(rs?.cohort.collectionPeriod ? { collectionPeriod: rs.cohort.collectionPeriod } : {}),
      ...(rs?.cohort.sampling ? { sampling: rs.cohort.sampling } : {}),
      independence: rs?.cohort.independence ?? 'not attested by the benchmark',
      demographics: tables(DEMOGRAPHIC),
      acquisition: tables([...ACQUISITION, ...attributes.filter((a) => !known.includes(a) && !ACQUISITION.includes(a))]),
      disease: tables(DISEASE),
      flow: { eligible, excluded, failed, analysed: eligible - excluded - failed, notes: flowNotes },
      ...(rs?.intendedPopulation ? { intendedPopulation: rs.intendedPopulation } : {}),
    },
    execution: {
      casesTotal: run.casesTotal,
      casesScored: result?.n ?? 0,
      failures,
      runTimeMs,
      timings,
      // The vendor form of a held-out run names no case (the summary); everyone else reads which cases differed.
      determinism: determinismForEvidence(run.determinism ?? null, { perCase: !heldOutVendor }),
    },
    primary: {
      endpoint,
      acceptance,
      secondary,
      curves: heldOutVendor ? [] : (report?.curves ?? []),
      tables: heldOutVendor ? [] : (report?.tables ?? []).map((t) => ({ title: t.title, columns: t.columns, rows: t.rows })),
    },
    calibration: heldOutVendor ? null : (report?.calibration ?? null),
    subgroups: {
      metric: primaryName,
      rows: heldOutVendor ? [] : subgroupRows,
      insufficientNote: def.subgroups
        ? `subgroups of fewer than ${minSize} cases are suppressed (no estimate); when only one is, the next-smallest is suppressed with it (complementary suppression); a subgroup where the metric is not estimable is marked; all are flagged insufficient`
        : 'the benchmark declares no subgroups',
    },
    robustness: {
      byAttribute: heldOutVendor ? [] : subgroupRows.filter((s) => ACQUISITION.includes(s.attribute)).map((s) => ({ attribute: s.attribute, level: s.level, n: s.n, estimate: s.estimate })),
      sensitivity: heldOutVendor ? [] : (report?.sensitivity ?? []).map((s) => ({ choice: s.choice, estimate: s.estimate })),
    },
    failureAnalysis: heldOutVendor
      ? { worst: [], failedCases: [], failureRateBySubgroup: [], note: 'no per-case values of held-out cases in the vendor form' }
      : { worst, failedCases, failureRateBySubgroup },
    comparators: audience === 'vendor' ? [] : input.comparators.map((c) => ({ against: { ...c.against }, n: c.n, results: comparisonResults(c.comparison) })),
    benchmarkContext,
    limitations,
    changeControl: {
      rerun: `a new model version is evaluated by submitting it to ${benchmark.slug} v${benchmark.version}: the same sequestered ${run.split} split (cohort ${cohort.slug} v${cohort.version}) and the same protocol hash give directly comparable evidence`,
      protocolSha256: benchmark.contentHash,
      cohortContentHash: cohort.contentHash,
      drift: 'compare successive versions on this benchmark version (paired comparison, §12); a new cohort or benchmark version changes the hashes above and starts a new series',
    },
    ...(withheld.length > 0 ? { withheld } : {}),
    ...federationSection(input, heldOutVendor),
    annexes: {
      metricDefinitions: report?.metricDefinitions.map((m) => ({ ...m })) ?? metricNames.map((metric) => ({ metric, definition: result?.metrics[metric]?.method ?? 'not computed', reference: 'Assay src/metrics' })),
      perCase: heldOutVendor || !result ? null : { columns, rows: perCase.map((row) => columns.map((c) => cell(row[c]))) },
      perCaseWithheld: heldOutVendor ? 'withheld: the vendor form of a held-out run carries no per-case table (held-out labels stay in the facility)' : !result ? 'no per-case results: the run was not scored' : null,
      checklists: CHECKLISTS.map((c) => ({ ...c })),
      sbom: { ...input.software.libraries },
    },
  };
  return finite(record);
}

/**
 * §5b Federated nodes: built from what the run stored (its federation state and the pooled result's details). The
 * vendor form of a held-out run keeps the nodes and how each value was pooled, not the per-node values.
 */
function federationSection(input: EvidenceInput, heldOutVendor: boolean): Pick<EvidenceRecord, 'federation'> {
  const state = input.run.federation;
  if (!state) return {};
  const details = (input.result?.details ?? {}) as {
    federation?: { egress?: Record<string, string>; heterogeneity?: Record<string, { i2: number; tau2: number; q: number; df: number; pQ: number; predictionInterval: [number, number] | null; method: string }> };
    subgroups?: { node?: Record<string, SubgroupResult[]> };
  };
  const primary = input.benchmark.definition.metrics.primary;
  const pins = new Map((input.benchmark.definition.phases.find((p) => p.name === input.run.phase)?.federation?.nodes ?? []).map((n) => [n.node, n.contentHash ?? '']));
  const rows = details.subgroups?.node?.[primary] ?? [];
  return {
    federation: {
      nodes: state.nodes.map((n) => ({ node: n.node, cohort: n.cohort, contentHash: pins.get(n.node) ?? '', egress: details.federation?.egress?.[n.node] ?? 'not reported' })),
      pooling: Object.entries(input.result?.metrics ?? {}).map(([metric, v]) => ({ metric, pooling: (v as { pooling?: string }).pooling ?? 'not stated', method: v.method })),
      perNode: {
        metric: primary,
        rows: heldOutVendor ? [] : rows.map((r) => (r.suppressed ? { node: r.group, n: r.n, estimate: null, suppressed: true } : { node: r.group, n: r.n, estimate: { value: r.value, ci: r.ci, method: r.method }, suppressed: false })),
      },
      // Not for a metric with a suppressed site (guardSuppressedSites does the same when pooling; checked again here
      // for a result stored before it did): beside the pooled estimate it would let the suppressed values be worked out.
      heterogeneity: heldOutVendor
        ? []
        : Object.entries(details.federation?.heterogeneity ?? {})
            .filter(([metric]) => !(details.subgroups?.node?.[metric] ?? []).some((r) => r.suppressed))
            .map(([metric, h]) => ({ metric, i2: h.i2, tau2: h.tau2, q: h.q, df: h.df, pQ: h.pQ, predictionInterval: h.predictionInterval, method: h.method })),
    },
  };
}
