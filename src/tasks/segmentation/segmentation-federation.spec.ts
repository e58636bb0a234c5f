// Segmentation over federated nodes: each node scores its own cases with the task's real scorer (DeepMind surfel
// model) and sends sums, counts and replicate sums only; the hub's means are the single-site means on the union.
import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { encodeNifti1Gz } from '../../volumes/nifti-write';
import { IDENTITY_DIRECTION, type Volume } from '../../volumes/volume';
import type { EgressLevel } from '../federation';
import type { MeanNodeSummary } from '../mean-federation';
import type { TaskScore } from '../task-definition';
import { SEGMENTATION } from './segmentation.task';

const dims: [number, number, number] = [16, 16, 8];
function cube(lo: [number, number, number], hi: [number, number, number]): Volume {
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = lo[2]; k < hi[2]; k++) for (let j = lo[1]; j < hi[1]; j++) for (let i = lo[0]; i < hi[0]; i++) data[i + dims[0] * (j + dims[1] * k)] = 1;
  return { dims, spacing: [1, 1, 2], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}
const definition = { task: 'segmentation', metrics: { primary: 'dice', secondary: ['nsd', 'hd95'], toleranceMm: 2, bootstrapReplicates: 300 }, subgroups: { attributes: [], minSize: 3 } } as unknown as BenchmarkDefinition;

// 14 cases: varied offsets and sizes, one both-empty case (excluded under the default policy).
const cases = Array.from({ length: 14 }, (_, i) => {
  const id = `CASE-${String(i).padStart(2, '0')}`;
  if (i === 6) return { id, ref: cube([0, 0, 0], [0, 0, 0]), pred: cube([0, 0, 0], [0, 0, 0]) };
  const a = 2 + (i % 4);
  const ref = cube([a, a, 1], [a + 6 + (i % 3), a + 5, 6]);
  const pred = cube([a + (i % 2), a, 1 + (i % 2)], [a + 6, a + 5 + (i % 3), 6]);
  return { id, ref, pred };
});

async function scoreOf(subset: typeof cases): Promise<TaskScore> {
  const score = await SEGMENTATION.score({
    truth: { caseIds: subset.map((c) => c.id), mask: async (id: string) => (cases.find((c) => c.id === id) as (typeof cases)[number]).ref } as never,
    predictions: new Map(subset.map((c) => [c.id, { mask: `masks/${c.id}.nii.gz` }])),
    definition,
    metadata: new Map(),
    readArtifact: async (id) => encodeNifti1Gz((cases.find((c) => c.id === id) as (typeof cases)[number]).pred),
  });
  if ('missing' in score) throw new Error('missing');
  return score;
}

describe('segmentation pooled over nodes (means of per-case values)', () => {
  it('the pooled means equal the single-site means on the union; the CI is a bootstrap stratified by node', async () => {
    const single = await scoreOf(cases);
    const federation = SEGMENTATION.federation;
    if (!federation) throw new Error('segmentation has no federation');
    const parts = [cases.slice(0, 5), cases.slice(5, 11), cases.slice(11)];
    const nodes = await Promise.all(parts.map(async (p, k) => ({ node: `site-${k + 1}`, summary: federation.summarize({ score: await scoreOf(p), definition, egress: 'aggregates' as EgressLevel, seed: 77 + k }) })));
    const pooled = federation.pool({ definition, nodes });
    expect(pooled.n).toBe(14);
    for (const m of ['dice', 'iou', 'hd', 'hd95', 'masd', 'assd', 'nsd']) {
      expect(pooled.metrics[m]?.pooling).toBe('exact');
      expect(Math.abs((pooled.metrics[m]?.value as number) - (single.metrics[m]?.value as number))).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(single.metrics[m]?.value as number)));
      const [lo, hi] = pooled.metrics[m]?.ci as [number, number];
      expect(lo).toBeLessThanOrEqual(pooled.metrics[m]?.value as number);
      expect(hi).toBeGreaterThanOrEqual(pooled.metrics[m]?.value as number);
    }
    expect(pooled.metrics['dice']?.method).toMatch(/stratified by node.*B = 300/);
    // Node 3 has 3 cases: shown (minSize 3); the both-empty case counts in n but not in the Dice denominator.
    expect((nodes[1]?.summary as MeanNodeSummary).sums['dice']?.denominator).toBe(5);
    expect(pooled.perNode['dice']?.map((r) => [r.group, r.suppressed])).toEqual([
      ['site-1', false],
      ['site-2', false],
      ['site-3', false],
    ]);
    expect(pooled.heterogeneity['dice']).toMatchObject({ df: 2, method: expect.stringMatching(/DerSimonian–Laird/) });
    // Nothing per case leaves: no case id in any summary.
    for (const n of nodes) expect(JSON.stringify(n.summary)).not.toMatch(/CASE-/);

    // The hub's consistency check: every real summary passes; a mean's count above the node's cases does not.
    for (const n of nodes) expect(federation.check({ definition, summary: n.summary })).toBeNull();
    const real = nodes[1]?.summary as MeanNodeSummary;
    const dice = real.sums['dice'] as MeanNodeSummary['sums'][string];
    expect(federation.check({ definition, summary: { ...real, sums: { ...real.sums, dice: { ...dice, denominator: real.n + 1 } } } })).toMatch(/sums.dice: denominator 7 exceeds 6/);
    expect(federation.check({ definition, summary: { ...real, sums: { ...real.sums, dice: { ...dice, denominator: 2.5 } } } })).toMatch(/not a case count/);
    expect(federation.check({ definition, summary: { ...real, sums: { ...real.sums, hd95: { ...dice, numerator: null } } } })).toMatch(/sums.hd95: numerator or denominator is not a finite number/);
    expect(federation.check({ definition, summary: { ...real, n: 'six' } })).toMatch(/not a case count/);
  });
});
