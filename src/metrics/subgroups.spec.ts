import { aurocWithDelong } from './binary-classification';
import { pick, subgroupMetrics } from './subgroups';

describe('subgroupMetrics', () => {
  const labels = [1, 0, 1, 0, 1, 0, 1, 0, 1];
  const scores = [0.9, 0.1, 0.8, 0.3, 0.4, 0.6, 0.7, 0.2, 0.5];
  const groups = ['a', 'a', 'a', 'a', 'b', 'b', null, null, 'b'];
  const compute = (idx: readonly number[]) => {
    const r = aurocWithDelong({ labels: pick(labels, idx), scores: pick(scores, idx) });
    return { value: r.auc, ci: r.ci, method: r.method };
  };

  it('reports n and the metric per group, suppresses groups below k without any value', () => {
    const out = subgroupMetrics({ groups, minSize: 2, compute });
    expect(out.map((g) => g.group)).toEqual(['a', 'b', 'unknown']);
    expect(out[0]).toMatchObject({ suppressed: false, n: 4, value: 1 });
    expect(out[1]).toMatchObject({ suppressed: false, n: 3 });
    expect(out[2]).toMatchObject({ suppressed: false, n: 2 });
    const bigger = subgroupMetrics({ groups, minSize: 4, compute });
    expect(bigger.map((g) => [g.group, g.suppressed, g.n])).toEqual([
      ['a', false, 4],
      ['b', true, '< 4'],
      ['unknown', true, '< 4'],
    ]);
  });

  it('withholds the next-smallest group when only one is below k (complementary suppression), so the overall value cannot reveal it', () => {
    const out = subgroupMetrics({ groups, minSize: 3, compute });
    expect(out.map((g) => [g.group, g.suppressed, g.n])).toEqual([
      ['a', false, 4],
      ['b', true, 'withheld (complementary suppression)'],
      ['unknown', true, '< 3'],
    ]);
  });

  it('reports a group where the metric is not estimable as null with the reason', () => {
    const out = subgroupMetrics({ groups: labels.map((y) => String(y)), minSize: 1, compute });
    expect(out[0]).toMatchObject({ suppressed: false, value: null });
    expect(out[0]?.suppressed === false && out[0].method).toContain('not estimable');
  });
});
