// Binary classification over federated nodes: each node scores its own cases with the task's real scorer and
// summarises under its egress level; the hub pools. Oracle: the single-site scorer on the union of the same cases,
// and pROC's AUROC and DeLong variance for WDBC (test/golden/binary-goldens.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { type EgressLevel, guardSuppressedSites, HETEROGENEITY_WITHHELD } from '../federation';
import type { TaskScore } from '../task-definition';
import { BINARY_CLASSIFICATION } from './binary-classification.task';
import { BINARY_FEDERATION, type BinaryNodeSummary } from './binary-federation';

const golden = (JSON.parse(readFileSync(join(__dirname, '../../../test/golden/binary-goldens.json'), 'utf8')) as { datasets: { name: string; labels: number[]; scores: number[]; pROC: { auc: number; var_delong: number } }[] }).datasets.find(
  (d) => d.name === 'wdbc-worst-area',
) as { labels: number[]; scores: number[]; pROC: { auc: number; var_delong: number } };

const definition = { task: 'binary-classification', metrics: { primary: 'auroc', secondary: [], threshold: 0.2, bootstrapReplicates: 400 }, subgroups: { attributes: [], minSize: 10 } } as unknown as BenchmarkDefinition;
// worst_area scaled into [0, 1] so Brier is defined: a monotone map, AUROC unchanged.
const probability = golden.scores.map((s) => s / 4300);
const caseIds = golden.labels.map((_, i) => `WDBC-${String(i).padStart(4, '0')}`);

function scoreOf(indices: readonly number[]): TaskScore {
  const out = BINARY_CLASSIFICATION.score({
    truth: { caseIds: indices.map((i) => caseIds[i] as string), labels: indices.map((i) => golden.labels[i] as number) },
    predictions: new Map(indices.map((i) => [caseIds[i] as string, { probability: probability[i] as number }])),
    definition,
    metadata: new Map(),
  });
  if ('missing' in out) throw new Error('missing cases');
  return out as TaskScore;
}

const all = golden.labels.map((_, i) => i);
const split = (sizes: number[]): number[][] => {
  let at = 0;
  return sizes.map((s) => all.slice(at, (at += s)));
};

function federate(parts: number[][], egress: EgressLevel | EgressLevel[]): { summaries: { node: string; summary: BinaryNodeSummary }[]; pooled: ReturnType<typeof BINARY_FEDERATION.pool> } {
  const summaries = parts.map((idx, k) => ({ node: `hospital-${String.fromCharCode(97 + k)}`, summary: BINARY_FEDERATION.summarize({ score: scoreOf(idx), definition, egress: Array.isArray(egress) ? (egress[k] as EgressLevel) : egress, seed: 5000 + k }) }));
  return { summaries, pooled: BINARY_FEDERATION.pool({ definition, nodes: summaries }) };
}

describe('binary classification pooled over nodes', () => {
  const single = scoreOf(all);

  it("from score distributions: every point value and the DeLong and Wilson CIs equal the single-site run's, and pROC", () => {
    const { pooled } = federate(split([150, 250, 169]), 'score-distributions');
    expect(pooled.n).toBe(569);
    for (const name of ['auroc', 'auprc', 'brier', 'sensitivity', 'specificity', 'balanced_accuracy', 'ppv', 'npv']) {
      const p = pooled.metrics[name];
      const s = single.metrics[name];
      expect(p?.pooling).toBe('exact');
      expect(Math.abs((p?.value as number) - (s?.value as number))).toBeLessThanOrEqual(1e-13);
      expect(p?.method).toMatch(/no case identifiers/);
    }
    for (const name of ['auroc', 'sensitivity', 'specificity', 'ppv', 'npv']) {
      expect(pooled.metrics[name]?.ci?.[0]).toBeCloseTo(single.metrics[name]?.ci?.[0] as number, 13);
      expect(pooled.metrics[name]?.ci?.[1]).toBeCloseTo(single.metrics[name]?.ci?.[1] as number, 13);
    }
    expect(pooled.metrics['auroc']?.value).toBe(single.metrics['auroc']?.value);
    expect(Math.abs((pooled.metrics['auroc']?.value as number) - golden.pROC.auc)).toBeLessThan(1e-12);
    // Bootstrap CIs: the same bootstrap over the same cases, in another case order: each contains its value.
    for (const name of ['auprc', 'brier']) {
      const { value, ci } = pooled.metrics[name] as { value: number; ci: [number, number] };
      expect(ci[0]).toBeLessThanOrEqual(value);
      expect(ci[1]).toBeGreaterThanOrEqual(value);
    }
    // Heterogeneity is shown beside the exact pool.
    expect(pooled.heterogeneity['auroc']).toMatchObject({ df: 2, i2: expect.any(Number), predictionInterval: expect.any(Array) });
    expect(pooled.perNode['auroc']?.map((r) => r.group)).toEqual(['hospital-a', 'hospital-b', 'hospital-c']);
  });

  it('from aggregates only: proportions exact with the single-site Wilson CI, Brier exact, AUROC by a labelled meta-analysis', () => {
    const { pooled, summaries } = federate(split([150, 250, 169]), ['score-distributions', 'aggregates', 'score-distributions']);
    expect(pooled.egress).toEqual({ 'hospital-a': 'score-distributions', 'hospital-b': 'aggregates', 'hospital-c': 'score-distributions' });
    for (const name of ['sensitivity', 'specificity', 'ppv', 'npv']) {
      expect(pooled.metrics[name]).toMatchObject({ value: single.metrics[name]?.value, ci: single.metrics[name]?.ci, pooling: 'exact', counts: single.metrics[name]?.counts });
    }
    expect(Math.abs((pooled.metrics['brier']?.value as number) - (single.metrics['brier']?.value as number))).toBeLessThan(1e-15);
    expect(pooled.metrics['brier']?.method).toMatch(/stratified by node/);
    expect(pooled.metrics['balanced_accuracy']?.value).toBeCloseTo(single.metrics['balanced_accuracy']?.value as number, 15);
    expect(pooled.metrics['auroc']).toMatchObject({ pooling: 'meta-analysis', method: expect.stringMatching(/DerSimonian–Laird/) });
    expect(pooled.metrics['auprc']?.method).toMatch(/variance from the node's 95% bootstrap CI/);
    // The aggregates-only node sent no scores.
    const b = summaries[1]?.summary as BinaryNodeSummary;
    expect(b.distribution).toBeUndefined();
  });

  it('a summary carries no case identifier at any level, and at aggregates nothing that grows with n', () => {
    const small = federate(split([100, 469]), 'aggregates').summaries.map((s) => JSON.stringify(s.summary));
    for (const text of small) for (const id of caseIds) expect(text.includes(id)).toBe(false);
    const sizes = small.map((t) => t.length);
    // Summary size is set by B (bootstrap replicate sums) and the metric list, not by the node's case count.
    expect(Math.abs((sizes[0] as number) - (sizes[1] as number))).toBeLessThan(0.1 * (sizes[0] as number));
    const dist = federate(split([100, 469]), 'score-distributions').summaries.map((s) => JSON.stringify(s.summary));
    for (const text of dist) for (const id of caseIds) expect(text.includes(id)).toBe(false);
  });

  it("the hub's consistency check passes every real summary and names each tampered field", () => {
    for (const egress of ['aggregates', 'score-distributions', 'per-case-pseudonymised'] as EgressLevel[]) {
      for (const { summary } of federate(split([150, 419]), egress).summaries) expect(BINARY_FEDERATION.check({ definition, summary })).toBeNull();
    }
    const real = federate(split([569]), 'score-distributions').summaries[0]?.summary as BinaryNodeSummary;
    const d = real.distribution as { positives: number[]; negatives: number[] };
    const c = real.confusion;
    // threshold 0.2: a negative just below it raised just above it adds an FP the confusion counts do not have.
    const i = d.negatives.findIndex((x) => x < 0.2);
    const tampered: [string, unknown, RegExp][] = [
      ['negative raised over t', { ...real, distribution: { ...d, negatives: d.negatives.map((x, k) => (k === i ? 0.21 : x)).sort((a, b) => a - b) } }, /give TP \d+ and FP \d+/],
      ['a positive dropped', { ...real, distribution: { ...d, positives: d.positives.slice(1) } }, /score lists hold/],
      ['class moved', { ...real, distribution: { positives: [...d.positives, d.negatives[0] as number].sort((a, b) => a - b), negatives: d.negatives.slice(1) } }, /score lists hold/],
      ['confusion off n', { ...real, confusion: { ...c, tn: c.tn + 1 } }, /add up to/],
      ['confusion not counts', { ...real, confusion: { ...c, tp: c.tp - 0.5, fn: c.fn + 0.5 } }, /not counts/],
      ['brier over n', { ...real, brier: { ...(real.brier as object), numerator: real.n + 1 } }, /outside \[0, 569\]/],
      ['brier denominator', { ...real, brier: { ...(real.brier as object), denominator: real.n - 1 } }, /brier: denominator 568, expected 569/],
      ['unsorted', { ...real, distribution: { ...d, positives: [...d.positives].reverse() } }, /not sorted/],
    ];
    for (const [what, summary, problem] of tampered) expect([what, BINARY_FEDERATION.check({ definition, summary })]).toEqual([what, expect.stringMatching(problem)]);
  });

  it('a node below the minimum size shows no per-node value', () => {
    const { pooled } = federate(split([8, 561]), 'score-distributions');
    expect(pooled.perNode['sensitivity']?.[0]).toEqual({ group: 'hospital-a', suppressed: true, n: '< 10' });
    // With two nodes, the other is withheld too: its value would give the small one's through the pooled value.
    expect(pooled.perNode['sensitivity']?.[1]).toEqual({ group: 'hospital-b', suppressed: true, n: 'withheld (complementary suppression)' });
    expect(pooled.metrics['auroc']?.value).toBe(single.metrics['auroc']?.value);
  });

  it("withholds the heterogeneity of a metric whose per-site rows are suppressed: with the pooled estimate it would give the small site's value away", () => {
    // Aggregates only: AUROC by a meta-analysis of the two sites, one of them below the minimum size.
    const small = [...all.filter((i) => golden.labels[i] === 1).slice(0, 4), ...all.filter((i) => golden.labels[i] === 0).slice(0, 5)];
    const { summaries, pooled } = federate([small, all.filter((i) => !small.includes(i))], 'aggregates');
    expect(summaries[0]?.summary.metrics['auroc']?.value).toEqual(expect.any(Number));
    expect(pooled.perNode['auroc']?.every((r) => r.suppressed)).toBe(true);
    expect(pooled.heterogeneity['auroc']).toMatchObject({ q: expect.any(Number), tau2: expect.any(Number) });
    const guarded = guardSuppressedSites(pooled);
    expect(guarded.heterogeneity['auroc']).toBeUndefined();
    expect(guarded.metrics['auroc']).toEqual({ ...pooled.metrics['auroc'], method: `${pooled.metrics['auroc']?.method}; ${HETEROGENEITY_WITHHELD}` });
    // Three sites of fair size: nothing suppressed, the heterogeneity stays as it was.
    const large = federate(split([190, 190, 189]), 'aggregates').pooled;
    expect(large.heterogeneity['auroc']).toBeDefined();
    expect(guardSuppressedSites(large)).toEqual(large);
  });
});
