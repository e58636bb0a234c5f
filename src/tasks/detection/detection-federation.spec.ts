// Detection over federated nodes. Each node scores its own scans with the task's real scorer (LUNA16 matching), its
// summary goes through the node's real output shaping and egress filter and the hub's real summary reader, and the
// hub pools. Oracles: the golden values of test/golden/detection-goldens.json (LUNA16 / DIAG CPM calculator /
// computed by make-detection-goldens.py) for one golden set split over nodes, and the single-site task score of the
// union for several sets joined.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { filterEgress } from '../../federation/node-policy';
import { evaluationOutputOf } from '../../node-runs/evaluation-handler';
import { summaryFromOutput } from '../../runs/federated-runs';
import type { EgressLevel, NodeSummaryFrom } from '../federation';
import type { TaskScore } from '../task-definition';
import type { DetectionNodeSummary } from './detection-federation';
import type { ScoreDistribution } from '../../metrics/pooling';
import { DETECTION } from './detection.task';

interface GoldenScan {
  caseId: string;
  lesions: { lesionId: string; x: number; y: number; z: number; diameterMm: number }[];
  detections: { x: number; y: number; z: number; score: number }[];
}
interface GoldenSet {
  name: string;
  threshold: number;
  scans: GoldenScan[];
  expected: Record<'cpm' | 'cpm_nearest' | 'sensitivity' | 'fp_per_scan', number | null>;
}
const golden = JSON.parse(readFileSync(join(__dirname, '../../../test/golden/detection-goldens.json'), 'utf8')) as { sets: GoldenSet[] };
const set = (name: string): GoldenSet => {
  const s = golden.sets.find((x) => x.name === name);
  if (!s) throw new Error(`no golden set ${name}`);
  return s;
};

const definitionOf = (threshold: number, replicates = 400): BenchmarkDefinition =>
  ({ task: 'detection', metrics: { primary: 'cpm', secondary: ['cpm_nearest', 'sensitivity', 'fp_per_scan'], threshold, bootstrapReplicates: replicates }, subgroups: { attributes: [], minSize: 3 } }) as unknown as BenchmarkDefinition;

function scoreOf(scans: readonly GoldenScan[], definition: BenchmarkDefinition): TaskScore {
  const score = DETECTION.score({
    truth: { caseIds: scans.map((s) => s.caseId), scans: scans.map((s) => ({ caseId: s.caseId, lesions: s.lesions })) },
    predictions: new Map(scans.map((s) => [s.caseId, { detections: s.detections }])),
    definition,
    metadata: new Map(),
  } as never) as TaskScore | { missing: string[] };
  if ('missing' in score) throw new Error('missing');
  return score;
}

const SECRET = randomBytes(32);
const federation = DETECTION.federation;

/** One node's scored run as the hub reads it: summarised, shaped, filtered by the node's policy, sent as JSON. */
function atHub(node: string, scans: readonly GoldenScan[], definition: BenchmarkDefinition, egress: EgressLevel, seed: number): NodeSummaryFrom<unknown> & { wire: string } {
  if (!federation) throw new Error('detection has no federation');
  const score = scoreOf(scans, definition);
  const summary = federation.summarize({ score, definition, egress, seed });
  const output = evaluationOutputOf({ status: 'succeeded', egress, n: score.n, summary, metricCodeVersion: score.metricCodeVersion, cohortContentHash: 'c'.repeat(64), determinism: null, timings: {} });
  const wire = JSON.stringify(filterEgress(output, egress, SECRET));
  return { node, summary: summaryFromOutput(JSON.parse(wire)), wire };
}

const close = (a: number | null | undefined, b: number | null | undefined): void => {
  expect(typeof a).toBe('number');
  expect(Math.abs((a as number) - (b as number))).toBeLessThanOrEqual(1e-12);
};

describe('detection pooled over nodes', () => {
  it('a golden set split over three nodes (score lists leave): every pooled point value is the golden value', () => {
    for (const name of ['random-08', 'random-11', 'ties-35', 'random-25', 'overlap-44']) {
      const g = set(name);
      const definition = definitionOf(g.threshold);
      const k = g.scans.length;
      const parts = [g.scans.slice(0, Math.floor(k / 3)), g.scans.slice(Math.floor(k / 3), Math.floor((2 * k) / 3)), g.scans.slice(Math.floor((2 * k) / 3))];
      const nodes = parts.map((p, i) => atHub(`site-${i + 1}`, p, definition, 'score-distributions', 101 + i));
      const pooled = federation?.pool({ definition, nodes }) as NonNullable<ReturnType<NonNullable<typeof federation>['pool']>>;
      expect(pooled.n).toBe(k);
      for (const m of ['cpm', 'cpm_nearest', 'sensitivity', 'fp_per_scan'] as const) {
        expect(pooled.metrics[m]?.pooling).toBe('exact');
        close(pooled.metrics[m]?.value, g.expected[m]);
      }
    }
  });

  it('several sets joined as one cohort: values equal the single-site score, CIs bracket them and are of the single-site order', () => {
    const threshold = 0.5;
    const definition = definitionOf(threshold, 1000);
    const names = ['random-07', 'random-08', 'random-09', 'random-11', 'random-14', 'random-15', 'random-25', 'random-30', 'ties-35', 'overlap-40', 'overlap-44'];
    const scans = names.flatMap((name) => set(name).scans.map((s) => ({ ...s, caseId: `${name}/${s.caseId}` })));
    const single = scoreOf(scans, definition);
    const cuts = [0, 31, 62, scans.length];
    const nodes = [0, 1, 2].map((i) => atHub(`site-${String.fromCharCode(97 + i)}`, scans.slice(cuts[i], cuts[i + 1]), definition, 'score-distributions', 7 + i));
    const pooled = federation?.pool({ definition, nodes }) as NonNullable<ReturnType<NonNullable<typeof federation>['pool']>>;
    for (const m of ['cpm', 'cpm_nearest', 'sensitivity', 'fp_per_scan']) {
      close(pooled.metrics[m]?.value, single.metrics[m]?.value);
      const [lo, hi] = pooled.metrics[m]?.ci as [number, number];
      const [slo, shi] = single.metrics[m]?.ci as [number, number];
      expect(lo).toBeLessThanOrEqual(pooled.metrics[m]?.value as number);
      expect(hi).toBeGreaterThanOrEqual(pooled.metrics[m]?.value as number);
      // Not the same resampling scheme as the single site, but the same order of width (within a factor of 2).
      const ratio = (hi - lo) / (shi - slo);
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    }
    expect(pooled.metrics['sensitivity']?.counts).toEqual(single.metrics['sensitivity']?.counts);
    expect(pooled.metrics['fp_per_scan']?.counts).toEqual(single.metrics['fp_per_scan']?.counts);
    expect(pooled.metrics['cpm']?.method).toMatch(/union of the nodes' lesion and false-positive score lists.*Poisson\(1\).*B=1000/);
    expect(pooled.metrics['sensitivity']?.method).toMatch(/stratified by node/);
    expect(pooled.heterogeneity['cpm']).toMatchObject({ df: 2 });
    expect(pooled.perNode['cpm']?.map((r) => r.group)).toEqual(['site-a', 'site-b', 'site-c']);
    expect(pooled.metricCodeVersion).toBe(single.metricCodeVersion);
    // What left each node: no case id, no lesion id, no coordinates; the score lists are sorted.
    for (const n of nodes) {
      expect(n.wire).not.toMatch(/random-|ties-|overlap-|"L\d|lesionId|caseId/);
      const d = (n.summary as DetectionNodeSummary).distribution;
      expect(d?.positives).toEqual([...(d?.positives ?? [])].sort((a, b) => a - b));
      expect(d?.negatives).toEqual([...(d?.negatives ?? [])].sort((a, b) => a - b));
    }
  });

  it('a node that lets aggregates only leave: sensitivity and FP/scan still exact, CPM by a labelled meta-analysis, no score list travels', () => {
    const definition = definitionOf(0.5, 500);
    const scans = ['random-08', 'random-11', 'random-14', 'random-25', 'ties-35'].flatMap((name) => set(name).scans.map((s) => ({ ...s, caseId: `${name}/${s.caseId}` })));
    const single = scoreOf(scans, definition);
    // The node's own policy is stricter than the job's: the filter drops the lists even though the task made them.
    const a = atHub('site-a', scans.slice(0, 28), definition, 'score-distributions', 11);
    const b = (() => {
      if (!federation) throw new Error('no federation');
      const part = scans.slice(28);
      const score = scoreOf(part, definition);
      const summary = federation.summarize({ score, definition, egress: 'score-distributions', seed: 12 });
      const output = evaluationOutputOf({ status: 'succeeded', egress: 'score-distributions', n: score.n, summary, metricCodeVersion: score.metricCodeVersion, cohortContentHash: 'c'.repeat(64), determinism: null, timings: {} });
      const wire = JSON.stringify(filterEgress(output, 'aggregates', SECRET));
      return { node: 'site-b', summary: summaryFromOutput(JSON.parse(wire)), wire };
    })();
    expect(b.wire).not.toMatch(/scoreDistributions|positives|negatives/);
    expect((b.summary as DetectionNodeSummary).egress).toBe('aggregates');
    const pooled = federation?.pool({ definition, nodes: [a, b] }) as NonNullable<ReturnType<NonNullable<typeof federation>['pool']>>;
    for (const m of ['sensitivity', 'fp_per_scan']) {
      expect(pooled.metrics[m]?.pooling).toBe('exact');
      close(pooled.metrics[m]?.value, single.metrics[m]?.value);
    }
    for (const m of ['cpm', 'cpm_nearest']) {
      expect(pooled.metrics[m]?.pooling).toBe('meta-analysis');
      expect(pooled.metrics[m]?.method).toMatch(/DerSimonian–Laird/);
      expect(pooled.metrics[m]?.ci).not.toBeNull();
    }
    expect(pooled.egress).toEqual({ 'site-a': 'score-distributions', 'site-b': 'aggregates' });
  });

  it('a node that claims more detected lesions than it has lesions is refused at the hub', () => {
    const definition = definitionOf(0.5, 50);
    const g = set('random-08');
    const good = atHub('site-a', g.scans.slice(0, 6), definition, 'score-distributions', 1);
    const bad = atHub('site-b', g.scans.slice(6), definition, 'score-distributions', 2);
    const forged = { node: 'site-b', summary: { ...(bad.summary as DetectionNodeSummary), nLesions: 0 } };
    expect(() => federation?.pool({ definition, nodes: [good, forged] })).toThrow(/detected lesions but 0 reference lesions/);
  });

  it("the hub's consistency check passes every real summary and names each tampered field", () => {
    const definition = definitionOf(0.5, 50);
    const scans = ['random-08', 'random-09', 'overlap-40'].flatMap((name) => set(name).scans.map((x) => ({ ...x, caseId: `${name}/${x.caseId}` })));
    for (const egress of ['aggregates', 'score-distributions'] as EgressLevel[]) {
      expect(federation?.check({ definition, summary: atHub('site-a', scans, definition, egress, 3).summary })).toBeNull();
    }
    const real = atHub('site-a', scans, definition, 'score-distributions', 3).summary as DetectionNodeSummary;
    const d = real.distribution as ScoreDistribution;
    expect(d.negatives.length).toBeGreaterThan(2);
    const above = d.negatives.findIndex((s) => s >= 0.5);
    expect(above).toBeGreaterThanOrEqual(0);
    const below = d.negatives.findIndex((s) => s < 0.5);
    expect(below).toBeGreaterThanOrEqual(0);
    const tampered: [string, unknown, RegExp][] = [
      // One more FP above the threshold in the list than in the node's own FP/scan sum.
      ['extra FP', { ...real, distribution: { ...d, negatives: [...d.negatives, 0.99] } }, /false positives/],
      // A false positive moved below the threshold: same list length, different count at t.
      ['FP lowered', { ...real, distribution: { ...d, negatives: d.negatives.map((s, i) => (i === above ? 0 : s)).sort((x, y) => x - y) } }, /false positives/],
      ['lesion raised', { ...real, distribution: { ...d, positives: d.positives.map((s) => (s < 0.5 ? 0.9 : s)).sort((x, y) => x - y) } }, /detected lesions/],
      ['too many lesions', { ...real, distribution: { ...d, positives: [...d.positives, ...Array.from({ length: real.nLesions }, () => 0.1)].sort((x, y) => x - y) } }, /detected-lesion scores for/],
      ['unsorted', { ...real, distribution: { ...d, negatives: [...d.negatives].reverse() } }, /not sorted/],
      ['NaN', { ...real, distribution: { ...d, positives: [Number.NaN, ...d.positives] } }, /not a finite number/],
      ['lesion count', { ...real, nLesions: real.nLesions + 1 }, /sensitivity: denominator/],
      ['scan count', { ...real, n: real.n - 1 }, /fpPerScan: denominator/],
      ['fractional FP sum', { ...real, fpPerScan: { ...real.fpPerScan, numerator: real.fpPerScan.numerator + 0.5 } }, /not counts/],
      ['n', { ...real, n: -1 }, /not a scan count/],
    ];
    for (const [what, summary, problem] of tampered) expect([what, federation?.check({ definition, summary })]).toEqual([what, expect.stringMatching(problem)]);
  });
});
