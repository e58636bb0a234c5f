import fc from 'fast-check';
import { holmAdjust } from './hypothesis-tests';
import { rankMin, rankStability, rankSubmissions, significanceMap } from './ranking';

// Hand-worked examples following challengeR's documented behaviour (METRICS.md §7.2): aggregateThenRank(mean,
// ties "min"), rankThenAggregate(mean), testThenRank(alpha 0.05, p.adjust "none"), missing values as the worst.
describe('ranking', () => {
  const V = [
    [0.9, 0.8, 0.7, 0.6], // A: mean 0.75
    [0.8, 0.9, 0.6, 0.7], // B: mean 0.75 (tie with A)
    [0.5, 0.4, 0.9, 0.2], // C: mean 0.5
  ];

  it('aggregate-then-rank: means, ties share the lowest rank ("min": 1, 1, 3)', () => {
    const r = rankSubmissions({ values: V, direction: 'higher', method: 'aggregate-then-rank' });
    expect(r.score[0]).toBeCloseTo(0.75, 15);
    expect(r.score[2]).toBeCloseTo(0.5, 15);
    expect(r.rank).toEqual([1, 1, 3]);
  });

  it('aggregate-then-rank: a missing case is scored as the worst observed value (or the given one) and lower-is-better flips', () => {
    const values = [
      [1, 2, Number.NaN],
      [2, 2, 2],
    ];
    // Worst for "lower" = max observed = 2 → A = (1+2+2)/3 = 5/3 < 2: A first.
    expect(rankSubmissions({ values, direction: 'lower', method: 'aggregate-then-rank' }).rank).toEqual([1, 2]);
    // With missingValue 10 → A = 13/3 > 2: B first.
    expect(rankSubmissions({ values, direction: 'lower', method: 'aggregate-then-rank', missingValue: 10 }).rank).toEqual([2, 1]);
  });

  it('rank-then-aggregate: per-case ranks with ties averaged, missing gets the worst rank', () => {
    // Case ranks: c1 A1 B2 C3; c2 B1 A2 C3; c3 C1 A2 B3; c4 B1 A2 C3 → mean A 1.75, B 1.75, C 2.5.
    const r = rankSubmissions({ values: V, direction: 'higher', method: 'rank-then-aggregate' });
    expect(r.score).toEqual([1.75, 1.75, 2.5]);
    expect(r.rank).toEqual([1, 1, 3]);
    // Ties averaged; NaN takes the worst rank: case [5, 5, NaN] → 1.5, 1.5, 3.
    const t = rankSubmissions({ values: [[5], [5], [Number.NaN]], direction: 'higher', method: 'rank-then-aggregate' });
    expect(t.score).toEqual([1.5, 1.5, 3]);
  });

  it('test-then-rank: counts one-sided Wilcoxon wins at α = 0.05; equal counts share a rank', () => {
    // 12 cases: A beats B by 0.1 on every case, B beats C by 0.1 everywhere; A vs C significant too.
    const base = Array.from({ length: 12 }, (_, i) => 0.5 + i * 0.01);
    const values = [base.map((v) => v + 0.2), base.map((v) => v + 0.1), base];
    const r = rankSubmissions({ values, direction: 'higher', method: 'test-then-rank' });
    expect(r.score).toEqual([2, 1, 0]);
    expect(r.rank).toEqual([1, 2, 3]);
    // Two identical submissions: no significant difference between them → same wins, shared rank.
    const same = rankSubmissions({ values: [base, base, base.map((v) => v - 0.3)], direction: 'higher', method: 'test-then-rank' });
    expect(same.rank).toEqual([1, 1, 3]);
  });

  it('significance map: Holm over all ordered pairs', () => {
    const base = Array.from({ length: 12 }, (_, i) => 0.5 + i * 0.01);
    const m = significanceMap({ values: [base.map((v) => v + 0.2), base], direction: 'higher' });
    expect(m.p[0]?.[1]).toBeLessThan(0.05);
    expect(m.pHolm[0]?.[1]).toBe(holmAdjust([m.p[0]?.[1] ?? null, m.p[1]?.[0] ?? null])[0]);
    expect(m.significant).toEqual([
      [false, true],
      [false, false],
    ]);
  });

  it('rank stability: deterministic for a seed, intervals bracket the median, τ = 1 for a dominant order', () => {
    const base = Array.from({ length: 30 }, (_, i) => (i % 7) / 10);
    const values = [base.map((v) => v + 1), base.map((v) => v + 0.5), base];
    const a = rankStability({ values, direction: 'higher', method: 'aggregate-then-rank', replicates: 200, seed: 1 });
    const b = rankStability({ values, direction: 'higher', method: 'aggregate-then-rank', replicates: 200, seed: 1 });
    expect(a.rankCounts).toEqual(b.rankCounts);
    expect(a.medianRank).toEqual([1, 2, 3]);
    expect(a.rankInterval).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(a.kendallTau.median).toBe(1);
    expect(a.B).toBe(200);
  });

  it('property: rankMin gives 1 to the best and is invariant to adding a constant', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 20 }), (x) => {
        const r = rankMin(x);
        expect(Math.min(...r)).toBe(1);
        expect(rankMin(x.map((v) => v + 3))).toEqual(r);
      }),
    );
  });
});
