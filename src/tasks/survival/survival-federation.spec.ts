// Survival over federated nodes: each NCCTG lung institution as a node, scored with the task's real scorer; the hub
// pools Harrell's C stratified by node from the nodes' pair sums. Oracle: R survival::concordance with strata(inst)
// (test/golden/pooling-goldens.json, test/golden/make-pooling-goldens.R).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import type { TaskScore } from '../task-definition';
import { SURVIVAL } from './survival.task';
import { SURVIVAL_FEDERATION, type SurvivalNodeSummary } from './survival-federation';

const nums = (x: string): number[] => (JSON.parse(x) as (number | string)[]).map(Number);
const golden = (JSON.parse(readFileSync(join(__dirname, '../../../test/golden/pooling-goldens.json'), 'utf8')) as { stratified_concordance: Record<string, string> }).stratified_concordance as Record<string, string>;
const time = nums(golden['time'] as string);
const event = nums(golden['event'] as string);
const risk = nums(golden['risk'] as string);
const inst = nums(golden['inst'] as string);
const definition = { task: 'survival', metrics: { primary: 'c_index_harrell', secondary: [], bootstrapReplicates: 200 }, subgroups: { attributes: [], minSize: 10 } } as unknown as BenchmarkDefinition;

function nodeScore(indices: number[]): TaskScore {
  const caseIds = indices.map((i) => `P${i}`);
  const out = SURVIVAL.score({ truth: { caseIds, time: indices.map((i) => time[i] as number), event: indices.map((i) => event[i] as number) }, predictions: new Map(indices.map((i) => [`P${i}`, { risk: risk[i] as number }])), definition, metadata: new Map() });
  if ('missing' in out) throw new Error('missing');
  return out as TaskScore;
}

const byInst = new Map<number, number[]>();
inst.forEach((g, i) => byInst.set(g, [...(byInst.get(g) ?? []), i]));

describe('survival pooled over nodes (NCCTG lung institutions)', () => {
  it("Harrell's C stratified by node equals R survival::concordance(... + strata(inst)), and is labelled as not the union's C", () => {
    const nodes = [...byInst.entries()].map(([g, idx], k) => ({ node: `inst-${String(g).padStart(2, '0')}`, summary: SURVIVAL_FEDERATION.summarize({ score: nodeScore(idx), definition, egress: 'aggregates', seed: 900 + k }) }));
    const pooled = SURVIVAL_FEDERATION.pool({ definition, nodes });
    const s = pooled.metrics['c_index_harrell_stratified'];
    expect(Math.abs((s?.value as number) - Number(golden['concordance_stratified']))).toBeLessThan(1e-12);
    // The union's C differs (pairs across institutions), which is why the stratified one is named for what it is.
    expect(Math.abs((s?.value as number) - Number(golden['concordance_union']))).toBeGreaterThan(0.01);
    expect(s?.method).toMatch(/not the C of the union/);
    expect(s?.ci?.[0]).toBeLessThanOrEqual(s?.value as number);
    expect(s?.ci?.[1]).toBeGreaterThanOrEqual(s?.value as number);
    expect(pooled.n).toBe(time.length);
    // Nothing per patient leaves: a summary carries no time, event or risk of a case.
    const text = JSON.stringify(nodes.map((n) => n.summary));
    expect(text).not.toMatch(/"time"|"event"|"risk"/);

    // The hub's consistency check: every real summary passes; pair sums no set of n patients gives do not.
    for (const n of nodes) expect(SURVIVAL_FEDERATION.check({ definition, summary: n.summary })).toBeNull();
    const real = nodes.find((n) => n.summary.harrell !== null && n.summary.n >= 10)?.summary as SurvivalNodeSummary;
    const h = real.harrell as NonNullable<SurvivalNodeSummary['harrell']>;
    const maxPairs = (real.n * (real.n - 1)) / 2;
    expect(SURVIVAL_FEDERATION.check({ definition, summary: { ...real, harrell: { ...h, denominator: maxPairs + 1, numerator: 1 } } })).toMatch(/exceeds/);
    expect(SURVIVAL_FEDERATION.check({ definition, summary: { ...real, harrell: { ...h, numerator: h.denominator + 1 } } })).toMatch(/outside \[0, /);
    expect(SURVIVAL_FEDERATION.check({ definition, summary: { ...real, harrell: { ...h, numerator: h.numerator + 0.25 } } })).toMatch(/not pair counts/);
  });

  it("the institutions' own C-indices are pooled by a labelled meta-analysis where every node has an estimate and a CI", () => {
    const large = [...byInst.entries()].filter(([, idx]) => idx.length >= 20);
    expect(large.length).toBeGreaterThanOrEqual(3);
    const nodes = large.map(([g, idx], k) => ({ node: `inst-${g}`, summary: SURVIVAL_FEDERATION.summarize({ score: nodeScore(idx), definition, egress: 'aggregates', seed: 700 + k }) as SurvivalNodeSummary }));
    const pooled = SURVIVAL_FEDERATION.pool({ definition, nodes });
    expect(pooled.metrics['c_index_harrell']).toMatchObject({ pooling: 'meta-analysis', method: expect.stringMatching(/DerSimonian–Laird/) });
    expect(pooled.heterogeneity['c_index_harrell']).toMatchObject({ df: large.length - 1, predictionInterval: expect.any(Array) });
    expect(pooled.perNode['c_index_harrell']?.length).toBe(large.length);
  });
});
