import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { parse } from 'yaml';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { canonicalJson } from '../common/canonical-json';
import { sha256Hex } from '../common/hashing';
import { BINARY_CLASSIFICATION } from '../tasks/binary-classification/binary-classification.task';
import { DETECTION } from '../tasks/detection/detection.task';
import { MASK_ARTIFACT, SEGMENTATION } from '../tasks/segmentation/segmentation.task';
import { SURVIVAL } from '../tasks/survival/survival.task';
import type { TaskScore } from '../tasks/task-definition';
import { encodeNifti1Gz } from '../volumes/nifti-write';
import { IDENTITY_DIRECTION, type Volume } from '../volumes/volume';
import { buildEvidence, type EvidenceInput, ReportRefused, reportIdOf } from './evidence-builder';
import type { EvidenceRecord } from './evidence';
import { mulberry32 } from '../common/seeded-random';

const shipped = (slug: string, over: (d: BenchmarkDefinition) => void = () => undefined): BenchmarkDefinition => {
  const d = parse(readFileSync(join(__dirname, `../../benchmarks/${slug}/benchmark.yaml`), 'utf8')) as BenchmarkDefinition;
  d.metrics.bootstrapReplicates = 200;
  over(d);
  return d;
};

/** A seeded uniform in [0, 1), so the fixtures are the same on every run. */
const rng = mulberry32;

const SITES = ['site-a', 'site-b', 'site-c'];
const metadataOf = (ids: string[]): Map<string, Record<string, string>> =>
  new Map(ids.map((id, i) => [id, { site: SITES[i % 3] as string, sex: i % 2 ? 'F' : 'M', age_band: i % 4 < 2 ? '<60' : '>=60', scanner: `scanner-${i % 2}` }]));

function snapshot(input: { definition: BenchmarkDefinition; score: TaskScore | null; ids: string[]; audience?: 'full' | 'vendor'; split?: 'sample' | 'test'; released?: boolean; over?: Partial<EvidenceInput> }): EvidenceInput {
  const split = input.split ?? 'test';
  const meta = metadataOf(input.ids);
  return {
    audience: input.audience ?? 'full',
    run: {
      id: '11111111-1111-4111-8111-111111111111',
      submissionId: '22222222-2222-4222-8222-222222222222',
      benchmarkVersionId: '33333333-3333-4333-8333-333333333333',
      phase: split,
      split,
      status: input.score ? 'succeeded' : 'failed',
      failureReason: input.score ? null : 'timeout',
      failureDetail: input.score ? null : 'the algorithm ran past 300 s',
      attempts: 1,
      casesTotal: input.ids.length,
      modelSha256: 'a'.repeat(64),
      cohortContentHash: 'c'.repeat(64),
      benchmarkContentHash: 'b'.repeat(64),
      metricCodeVersion: input.score?.metricCodeVersion ?? null,
      runnerImageId: 'sha256:' + 'd'.repeat(64),
      sandboxRuntime: 'runc',
      workerId: 'worker-1',
      timings: { totalMs: 1234, scoringMs: 56 },
      queuedAt: new Date('2026-12-01T10:00:00Z'),
      startedAt: new Date('2026-12-01T10:00:01Z'),
      finishedAt: new Date('2026-12-01T10:00:03Z'),
    },
    result: input.score
      ? { n: input.score.n, metrics: input.score.metrics, details: { ...input.score.details, metricCodeVersion: input.score.metricCodeVersion, subgroups: input.score.subgroups }, perCase: input.score.perCase }
      : null,
    submission: {
      id: '22222222-2222-4222-8222-222222222222',
      name: '<script>alert(1)</script> model',
      kind: 'onnx',
      manifest: { name: 'm', version: '1.2.0', inputs: {}, outputs: {} },
      sha256: 'a'.repeat(64),
      createdAt: new Date('2026-12-01T09:00:00Z'),
      intendedUse: { purpose: 'Triage <img src=x onerror=alert(1)>', operatingMode: 'triage' },
    },
    organisationName: 'Vendor "A" & <Co>',
    benchmark: { slug: input.definition.slug, title: input.definition.title, version: 1, contentHash: 'b'.repeat(64), definition: input.definition },
    phase: { released: input.released ?? true },
    cohort: { slug: input.definition.cohort.slug, title: 'cohort', attribution: 'attribution', version: 1, contentHash: 'c'.repeat(64), synthetic: input.definition.slug.startsWith('lesion-'), cases: input.ids.map((caseId) => ({ caseId, metadata: meta.get(caseId) as Record<string, string> })) },
    leaderboard: { entries: 3, rank: 1, medianRank: 1.123456789, rankInterval: [1, 2], rankShare: [0.612345678, 0.387654322, 0], kendallTau: { median: 0.81234567, q25: 0.7, q75: 0.9 } },
    comparators: [],
    software: { assayVersion: '0.1.0', libraries: { 'onnxruntime-node': '1.0.0' } },
    ...input.over,
  };
}

async function binaryScore(seed = 7, n = 60): Promise<{ score: TaskScore; ids: string[]; definition: BenchmarkDefinition }> {
  const definition = shipped('wdbc-malignancy', (d) => (d.subgroups = { attributes: ['site', 'sex'], minSize: 15 }));
  const r = rng(seed);
  const ids = Array.from({ length: n }, (_, i) => `WDBC-${String(i + 1).padStart(3, '0')}`);
  const labels = ids.map((_, i) => (i % 5 < 2 ? 1 : 0));
  const predictions = new Map(ids.map((id, i) => [id, { probability: Math.min(1, Math.max(0, 0.3 * (labels[i] as number) + 0.7 * r())) }]));
  const score = (await BINARY_CLASSIFICATION.score({ truth: { caseIds: ids, labels }, predictions, definition, metadata: metadataOf(ids) })) as TaskScore;
  return { score, ids, definition };
}

const canonical = (r: EvidenceRecord): string => canonicalJson(r);

describe('buildEvidence: federated runs', () => {
  it('shows no heterogeneity of a metric whose per-site rows are suppressed, also from a result stored before the hub withheld it', async () => {
    const { score, ids, definition } = await binaryScore();
    const base = snapshot({ definition, score, ids });
    const stored = base.result as NonNullable<EvidenceInput['result']>;
    const het = { i2: 0.5, tau2: 0.01, q: 3, df: 1, pQ: 0.08, predictionInterval: null, method: 'DerSimonian–Laird' };
    const site = (group: string, value: number) => ({ group, suppressed: false, n: 30, value, ci: [value - 0.1, value + 0.05], method: 'per node' });
    const details = {
      ...stored.details,
      federation: { egress: { a: 'aggregates', b: 'aggregates' }, heterogeneity: { auroc: het, sensitivity: het } },
      subgroups: { ...(stored.details['subgroups'] as object), node: { auroc: [{ group: 'a', suppressed: true, n: '< 10' }, { group: 'b', suppressed: true, n: 'withheld (complementary suppression)' }], sensitivity: [site('a', 0.8), site('b', 0.7)] } },
    };
    const node = (name: string) => ({ node: name, nodeId: name, cohort: 'c', jobId: `job-${name}`, status: 'done', outcome: 'succeeded', lastSeen: null });
    const input = { ...base, run: { ...base.run, federation: { attempt: 1, deadline: '2026-12-02T00:00:00.000Z', nodes: [node('a'), node('b')] } }, result: { ...stored, details } } as unknown as EvidenceInput;
    const e = buildEvidence(input);
    expect(e.federation?.perNode.rows.every((r) => r.suppressed)).toBe(true);
    expect(e.federation?.heterogeneity.map((h) => h.metric)).toEqual(['sensitivity']);
  });
});

describe('buildEvidence: binary classification', () => {
  it('fills the sixteen sections from the stored result: ROC, PR, reliability, decision curve, confusion table, Wilson estimates, subgroups', async () => {
    const { score, ids, definition } = await binaryScore();
    const e = buildEvidence(snapshot({ definition, score, ids }));
    expect(e.reportId).toBe(sha256Hex('22222222-2222-4222-8222-222222222222:33333333-3333-4333-8333-333333333333:test:full').slice(0, 32));
    expect(e.date).toBe('2026-12-01T10:00:03.000Z');
    expect(e.primary.endpoint).toMatchObject({ metric: 'auroc', value: score.metrics['auroc']?.value, ci: score.metrics['auroc']?.ci, n: 60 });
    expect(e.primary.curves.map((c) => c.kind)).toEqual(['roc', 'pr']);
    const roc = e.primary.curves[0] as Extract<EvidenceRecord['primary']['curves'][number], { kind: 'roc' }>;
    expect(roc.points[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(roc.points[roc.points.length - 1]).toEqual({ fpr: 1, tpr: 1 });
    expect(e.calibration?.curves.map((c) => c.kind)).toEqual(['reliability', 'decision']);
    const sens = e.primary.secondary.find((s) => s.metric === 'sensitivity' && s.counts);
    const confusion = score.details['confusion'] as { tp: number; fn: number };
    expect(sens?.counts).toEqual({ numerator: confusion.tp, denominator: confusion.tp + confusion.fn });
    expect(sens?.method).toMatch(/Wilson/);
    expect(e.primary.tables[0]?.rows[0]).toEqual(['predicted positive', confusion.tp, expect.any(Number), expect.any(Number)]);
    // site groups have 20 cases (>= 15), sex groups 30: all estimated; forest-plot rows in attribute, level order.
    expect(e.subgroups.rows.map((r) => `${r.attribute}:${r.level}:${r.n}:${r.insufficient}`)).toEqual(['sex:F:30:false', 'sex:M:30:false', 'site:site-a:20:false', 'site:site-b:20:false', 'site:site-c:20:false']);
    expect(e.robustness.byAttribute.map((r) => r.level)).toEqual(['site-a', 'site-b', 'site-c']);
    // A subgroup with one class only: AUROC not estimable, flagged insufficient rather than shown.
    const oneClass = await binaryScore();
    const byClass = new Map(ids.map((id, i) => [id, { site: i % 5 < 2 ? 'pos-only' : 'mixed-' + (i % 2), sex: 'F', age_band: '<60', scanner: 's' }]));
    const split = (await BINARY_CLASSIFICATION.score({ truth: { caseIds: ids, labels: oneClass.score.perCase.map((r) => r['label'] as number) }, predictions: new Map(oneClass.score.perCase.map((r) => [r.caseId, { probability: r['probability'] as number }])), definition, metadata: byClass })) as TaskScore;
    const flagged = buildEvidence(snapshot({ definition, score: split, ids })).subgroups.rows.filter((r) => r.attribute === 'site');
    expect(flagged.find((r) => r.level === 'pos-only')).toMatchObject({ insufficient: true, estimate: { value: null } });
    expect(e.cohort.demographics.map((t) => t.attribute)).toEqual(['age_band', 'sex']);
    expect(e.cohort.acquisition.map((t) => t.attribute)).toEqual(['scanner', 'site']);
    expect(e.cohort.flow).toMatchObject({ eligible: 60, excluded: 0, failed: 0, analysed: 60 });
    expect(e.failureAnalysis.worst).toHaveLength(10);
    expect(e.annexes.perCase?.columns).toEqual(['caseId', 'label', 'probability']);
    expect(e.annexes.perCase?.rows[0]).toEqual(['WDBC-001', 1, score.perCase[0]?.['probability']]);
    expect(e.annexes.metricDefinitions.map((m) => m.metric)).toContain('auroc');
    expect(e.benchmarkContext).toMatchObject({ nonRegulatory: true, rank: 1, rankInterval: [1, 2], medianRank: 1.123456789 });
    expect(e.referenceStandard.definition).toMatch(/histopathology/);
    expect(e.cohort.synthetic).toBe(false);
    expect(e.intendedUse?.operatingMode).toBe('triage');
  });

  it('builds the same canonical bytes twice, and they are RFC 8785 canonical (canonicalize as oracle)', async () => {
    const { score, ids, definition } = await binaryScore();
    const again = await binaryScore();
    const a = buildEvidence(snapshot({ definition, score, ids }));
    const b = buildEvidence(snapshot({ definition: again.definition, score: again.score, ids: again.ids }));
    expect(canonical(a)).toBe(canonical(b));
    expect(canonical(a)).toBe(canonicalize(a));
  });

  it('carries vendor-supplied markup as data, never altered', async () => {
    const { score, ids, definition } = await binaryScore();
    const e = buildEvidence(snapshot({ definition, score, ids }));
    expect(e.identity.submission.name).toBe('<script>alert(1)</script> model');
    expect(e.identity.submission.organisation).toBe('Vendor "A" & <Co>');
    expect(e.intendedUse?.purpose).toBe('Triage <img src=x onerror=alert(1)>');
  });

  it('vendor form of a held-out run: no per-case annex, rounded scores, no Wilson CIs or counts, no curves, tables, subgroups or comparators', async () => {
    const { score, ids, definition } = await binaryScore();
    const comparators = [{ against: { submissionId: 'x', name: 'other', organisation: 'B' }, n: 60, comparison: BINARY_CLASSIFICATION.compare({ definition, a: score.perCase, b: score.perCase }) }];
    const e = buildEvidence(snapshot({ definition, score, ids, audience: 'vendor', over: { comparators } }));
    expect(e.reportId).toBe(reportIdOf({ submissionId: '22222222-2222-4222-8222-222222222222', benchmarkVersionId: '33333333-3333-4333-8333-333333333333', phase: 'test', audience: 'vendor' }));
    expect(e.annexes.perCase).toBeNull();
    expect(e.annexes.perCaseWithheld).toMatch(/withheld/);
    const auroc = score.metrics['auroc'];
    expect(e.primary.endpoint.value).toBe(Number((auroc?.value as number).toFixed(4)));
    expect(e.primary.endpoint.ci?.[0]).toBeLessThanOrEqual(auroc?.ci?.[0] as number);
    const sens = e.primary.secondary.find((s) => s.metric === 'sensitivity');
    expect(sens?.ci).toBeNull();
    expect(sens?.counts).toBeUndefined();
    expect(e.primary.secondary.every((s) => s.value === null || Number(s.value.toFixed(4)) === s.value)).toBe(true);
    expect(e.primary.curves).toEqual([]);
    expect(e.primary.tables).toEqual([]);
    expect(e.calibration).toBeNull();
    expect(e.subgroups.rows).toEqual([]);
    expect(e.failureAnalysis.worst).toEqual([]);
    expect(e.comparators).toEqual([]);
    expect(e.benchmarkContext?.medianRank).toBe(1.1235);
    expect(e.benchmarkContext?.rankShare).toEqual([0.6123, 0.3877, 0]);
    expect(e.withheld?.map((w) => w.section)).toEqual(['cohortTables', 'subgroups', 'robustness', 'failureAnalysis', 'comparators']);
    // Counts of the held-out cases by attribute (stage, histology, sex…) are not the vendor's to read.
    expect([e.cohort.demographics, e.cohort.acquisition, e.cohort.disease]).toEqual([[], [], []]);
    // Nothing in the vendor form carries a per-case value: no case id appears anywhere.
    expect(canonical(e)).not.toMatch(/WDBC-0/);
  });

  it("carries the run's determinism re-run: staff read which cases differed, the held-out vendor form only the counts", async () => {
    const { score, ids, definition } = await binaryScore();
    const base = snapshot({ definition, score, ids });
    const determinism = { checked: true, cases: 5, identical: 4, method: 'seeded re-run (5 of 60 cases)', mismatches: ['WDBC-0042'], summary: '4 of 5 re-run cases gave identical outputs; 1 differed', detail: 'WDBC-0042: probability 0.61 then 0.62' };
    const full = buildEvidence({ ...base, run: { ...base.run, determinism } });
    expect(full.execution.determinism).toEqual({ checked: true, cases: 5, identical: 4, method: 'seeded re-run (5 of 60 cases)', detail: 'WDBC-0042: probability 0.61 then 0.62' });
    const vendorBase = snapshot({ definition, score, ids, audience: 'vendor' });
    const vendor = buildEvidence({ ...vendorBase, run: { ...vendorBase.run, determinism } });
    expect(vendor.execution.determinism.detail).toBe('4 of 5 re-run cases gave identical outputs; 1 differed');
    expect(canonical(vendor)).not.toMatch(/WDBC-0042/);
    // No record (a run from before the check, or a public phase): said so, never a silent "identical".
    expect(buildEvidence(base).execution.determinism).toMatchObject({ checked: false, identical: 0 });
  });

  it('vendor form: a board with undefined rank statistics (two entries: no Kendall τ spread) keeps them null', async () => {
    const { score, ids, definition } = await binaryScore();
    const base = snapshot({ definition, score, ids, audience: 'vendor' });
    // As stored for a two-entry board: what the database gives back may hold nulls where a statistic is undefined.
    const leaderboard = { ...base.leaderboard!, entries: 2, medianRank: null, kendallTau: { median: null, q25: null, q75: null } as unknown as { median: number; q25: number; q75: number } };
    const e = buildEvidence({ ...base, leaderboard });
    expect(e.benchmarkContext?.medianRank).toBeNull();
    expect(e.benchmarkContext?.kendallTau).toEqual({ median: null, q25: null, q75: null });
  });

  it('vendor form of the sample split keeps the per-case annex (its labels are public)', async () => {
    const { score, ids, definition } = await binaryScore();
    const e = buildEvidence(snapshot({ definition, score, ids, audience: 'vendor', split: 'sample' }));
    expect(e.annexes.perCase?.rows).toHaveLength(60);
    expect(e.primary.curves.length).toBeGreaterThan(0);
  });

  it('refuses the vendor form of a held-out run before release, and under the Ladder, saying why', async () => {
    const { score, ids, definition } = await binaryScore();
    expect(() => buildEvidence(snapshot({ definition, score, ids, audience: 'vendor', released: false }))).toThrow(/not released/);
    const ladder = { ...definition, feedback: { mechanism: 'ladder' as const, step: 0.01 } };
    expect(() => buildEvidence(snapshot({ definition: ladder, score, ids, audience: 'vendor' }))).toThrow(ReportRefused);
    expect(() => buildEvidence(snapshot({ definition: ladder, score, ids, audience: 'full' }))).not.toThrow();
  });

  it('compares against the chosen submissions with the task’s paired comparison, Holm across metrics', async () => {
    const { score, ids, definition } = await binaryScore();
    const other = await binaryScore(99);
    const comparison = BINARY_CLASSIFICATION.compare({ definition, a: score.perCase, b: other.score.perCase });
    const e = buildEvidence(snapshot({ definition, score, ids, over: { comparators: [{ against: { submissionId: 'x', name: 'other', organisation: 'B' }, n: 60, comparison } ] } }));
    const auroc = e.comparators[0]?.results.find((r) => r.metric === 'auroc');
    expect(auroc?.difference.method).toMatch(/paired DeLong/);
    expect(auroc?.difference.value).toBeCloseTo((score.metrics['auroc']?.value as number) - (other.score.metrics['auroc']?.value as number), 12);
    expect(e.comparators[0]?.results.every((r) => r.pValue === null || (r.pHolm as number) >= r.pValue)).toBe(true);
  });

  it('reports a failed run: no estimates, the failure with its reason, every case failed in the flow', async () => {
    const { ids, definition } = await binaryScore();
    const e = buildEvidence(snapshot({ definition, score: null, ids }));
    expect(e.primary.endpoint.value).toBeNull();
    expect(e.execution.failures).toEqual([{ reason: 'timeout', count: 60, detail: 'the algorithm ran past 300 s' }]);
    expect(e.cohort.flow).toMatchObject({ eligible: 60, failed: 60, analysed: 0 });
    expect(e.annexes.perCase).toBeNull();
  });

  it('evaluates pre-specified acceptance criteria on the shown estimate', async () => {
    const { score, ids, definition } = await binaryScore();
    definition.report = { ...(definition.report as NonNullable<BenchmarkDefinition['report']>), acceptanceCriteria: [{ metric: 'auroc', bound: 'ci_lower', op: '>=', value: 0 }, { metric: 'brier', bound: 'estimate', op: '<=', value: 0 }] };
    const e = buildEvidence(snapshot({ definition, score, ids }));
    expect(e.primary.acceptance).toEqual([{ criterion: 'auroc: lower 95% CI bound >= 0', met: true }, { criterion: 'brier: estimate <= 0', met: false }]);
    expect(e.protocol.acceptanceCriteria).toHaveLength(2);
  });
});

describe('buildEvidence: survival', () => {
  it("shows Harrell's and Uno's C, event counts, no calibration, and flags small subgroups as insufficient", async () => {
    const definition = shipped('lung-survival');
    const r = rng(3);
    const ids = Array.from({ length: 40 }, (_, i) => `LUNG-${String(i + 1).padStart(4, '0')}`);
    const time = ids.map(() => 30 + Math.floor(r() * 900));
    const event = ids.map((_, i) => (i % 4 === 0 ? 0 : 1));
    const predictions = new Map(ids.map((id, i) => [id, { risk: 1000 - (time[i] as number) + 300 * r() }]));
    const score = (await SURVIVAL.score({ truth: { caseIds: ids, time, event }, predictions, definition, metadata: metadataOf(ids) })) as TaskScore;
    const e = buildEvidence(snapshot({ definition, score, ids }));
    expect(e.primary.endpoint.metric).toBe('c_index_harrell');
    expect(e.primary.secondary.map((s) => s.metric)).toEqual(expect.arrayContaining(['c_index_uno', 'c_index_harrell']));
    expect(e.primary.tables[0]?.rows).toEqual([['events', 30], ['censored', 10], ['total', 40]]);
    expect(e.calibration).toBeNull();
    // minSize 10: each site has 13-14 patients, each age band 20, each sex 20; all estimable here.
    expect(e.subgroups.rows.length).toBeGreaterThan(0);
    expect(e.subgroups.rows.every((row) => row.insufficient === (row.n < 10 || row.estimate.value === null))).toBe(true);
    expect(e.protocol.metrics).toEqual([{ name: 'c_index_harrell' }, { name: 'c_index_uno', params: { tau: 730 } }]);
    expect(e.failureAnalysis.worst).toEqual([]);
    expect(canonical(e)).toBe(canonical(buildEvidence(snapshot({ definition, score, ids }))));
  });
});

describe('buildEvidence: segmentation', () => {
  const dims: [number, number, number] = [12, 12, 6];
  const cube = (lo: [number, number, number], hi: [number, number, number]): Volume => {
    const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
    for (let k = lo[2]; k < hi[2]; k++) for (let j = lo[1]; j < hi[1]; j++) for (let i = lo[0]; i < hi[0]; i++) data[i + dims[0] * (j + dims[1] * k)] = 1;
    return { dims, spacing: [1, 1, 2], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
  };
  const none = (): Volume => cube([0, 0, 0], [0, 0, 0]);

  it('shows Dice/NSD/HD95 distributions, empty-case counts and exclusions in the flow; the vendor form drops them', async () => {
    const definition = shipped('lesion-segmentation', (d) => (d.subgroups = { attributes: ['site', 'scanner'], minSize: 2 }));
    const truth: Record<string, Volume> = { P1: cube([2, 2, 1], [7, 7, 4]), P2: cube([3, 3, 1], [8, 8, 5]), P3: none(), P4: none(), P5: cube([1, 1, 1], [5, 5, 3]), P6: cube([4, 4, 2], [9, 9, 5]) };
    const pred: Record<string, Volume> = { P1: cube([3, 2, 1], [7, 7, 4]), P2: cube([3, 3, 1], [8, 8, 5]), P3: none(), P4: cube([1, 1, 1], [3, 3, 2]), P5: none(), P6: cube([4, 4, 2], [8, 9, 5]) };
    const ids = Object.keys(truth);
    const score = (await SEGMENTATION.score({
      truth: { caseIds: ids, mask: async (id) => truth[id] as Volume },
      predictions: new Map(ids.map((id) => [id, { mask: `masks/${id}.nii.gz` }])),
      definition,
      metadata: metadataOf(ids),
      readArtifact: async (id, name) => {
        expect(name).toBe(MASK_ARTIFACT);
        return encodeNifti1Gz(pred[id] as Volume);
      },
    })) as TaskScore;
    const e = buildEvidence(snapshot({ definition, score, ids }));
    expect(e.primary.curves.map((c) => (c.kind === 'distribution' ? c.metric : c.kind))).toEqual(['dice', 'nsd', 'hd95']);
    const dice = e.primary.curves[0] as { values: number[] };
    expect(dice.values).toHaveLength(5); // P3 both empty: no Dice under 'exclude'
    expect(e.primary.tables[0]?.rows).toEqual([['ok', 3], ['ref_empty', 1], ['pred_empty', 1], ['both_empty', 1]]);
    expect(e.cohort.flow).toMatchObject({ eligible: 6, excluded: 1, failed: 0, analysed: 5 });
    expect(e.failureAnalysis.failedCases).toEqual([{ caseRef: 'P4', reason: 'lesion predicted in a case without reference lesion' }, { caseRef: 'P5', reason: 'empty predicted mask over a reference lesion' }]);
    expect(e.failureAnalysis.worst[0]).toMatchObject({ metric: 'dice', value: 0 });
    expect(e.protocol.emptyCaseRule).toMatch(/both-empty cases excluded/);
    expect(e.cohort.synthetic).toBe(true);
    expect(e.limitations[0]).toMatch(/SYNTHETIC/);
    expect(e.referenceStandard.definition).toMatch(/^SYNTHETIC/);
    const vendor = buildEvidence(snapshot({ definition, score, ids, audience: 'vendor' }));
    expect(vendor.primary.curves).toEqual([]);
    expect(vendor.failureAnalysis.failedCases).toEqual([]);
    expect(vendor.cohort.flow.excluded).toBe(0);
    expect(vendor.annexes.perCase).toBeNull();
    expect(canonical(vendor)).not.toMatch(/"P[1-6]"/);
  });
});

describe('buildEvidence: detection', () => {
  it('shows the FROC, the CPM conventions and lesion counts at the locked threshold', async () => {
    const definition = shipped('lesion-detection', (d) => (d.subgroups = { attributes: ['site'], minSize: 1 }));
    const ids = ['S1', 'S2', 'S3'];
    const truth = {
      caseIds: ids,
      scans: [
        { caseId: 'S1', lesions: [{ lesionId: 'L1', x: 0, y: 0, z: 0, diameterMm: 10 }, { lesionId: 'L2', x: 50, y: 0, z: 0, diameterMm: 6 }] },
        { caseId: 'S2', lesions: [] },
        { caseId: 'S3', lesions: [{ lesionId: 'L1', x: 10, y: 10, z: 10, diameterMm: 8 }] },
      ],
    };
    const predictions = new Map<string, Record<string, unknown>>([
      ['S1', { detections: [{ x: 1, y: 1, z: 0, score: 0.9 }, { x: 50, y: 2.9, z: 0, score: 0.3 }] }],
      ['S2', { detections: [{ x: 0, y: 0, z: 0, score: 0.6 }] }],
      ['S3', { detections: [] }],
    ]);
    const score = (await DETECTION.score({ truth, predictions, definition, metadata: metadataOf(ids) })) as TaskScore;
    const e = buildEvidence(snapshot({ definition, score, ids }));
    expect(e.primary.curves.map((c) => c.kind)).toEqual(['froc']);
    expect(e.primary.tables[0]?.rows).toEqual([['scans', 3], ['reference lesions', 3], ['detected (TP)', 1], ['missed (FN)', 2], ['false positives', 1]]);
    expect(e.primary.tables[1]?.columns).toEqual(['FP/scan', 'interpolated (primary)', 'nearest (DIAG)', 'MONAI staircase']);
    expect(e.protocol.hitCriterion).toMatch(/LUNA16|radius/);
    expect(e.robustness.sensitivity.map((s) => s.choice)).toEqual(["CPM, DIAG's nearest-point convention", 'CPM, MONAI staircase convention']);
    expect(e.failureAnalysis.failedCases).toEqual([{ caseRef: 'S3', reason: 'no reference lesion of the scan detected at the locked threshold' }]);
    expect(e.limitations.some((l) => /lesion size/.test(l))).toBe(true);
    expect(canonical(e)).toBe(canonicalize(e));
  });
});
