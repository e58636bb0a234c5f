import fc from 'fast-check';
import { onePerVendor, rankWithMinTies, roundTo } from './ranking';

describe('rankWithMinTies', () => {
  it('gives ties the lowest rank of their group and skips after them (challengeR ties.method="min")', () => {
    const ranked = rankWithMinTies([0.9, 0.8, 0.8, 0.7], (x) => x, 'higher');
    expect(ranked.map((r) => r.rank)).toEqual([1, 2, 2, 4]);
  });

  it('ranks lower-is-better metrics ascending', () => {
    const ranked = rankWithMinTies([0.3, 0.1, 0.2], (x) => x, 'lower');
    expect(ranked.map((r) => r.item)).toEqual([0.1, 0.2, 0.3]);
  });

  it('is a permutation whose ranks never decrease and start at 1', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 30 }), (values) => {
        const ranked = rankWithMinTies(values, (x) => x, 'higher');
        expect(ranked).toHaveLength(values.length);
        expect(ranked[0]?.rank).toBe(1);
        for (let i = 1; i < ranked.length; i++) expect((ranked[i] as { rank: number }).rank).toBeGreaterThanOrEqual((ranked[i - 1] as { rank: number }).rank);
      }),
    );
  });
});

describe('onePerVendor', () => {
  const row = (org: string, primary: number, day: number) => ({ organisationId: org, primary, evaluatedAt: new Date(2026, 0, day) });
  it('keeps each vendor’s best, or its latest', () => {
    const rows = [row('a', 0.8, 1), row('a', 0.9, 2), row('a', 0.85, 3), row('b', 0.7, 1)];
    expect(onePerVendor(rows, 'best', 'higher').map((r) => r.primary).sort()).toEqual([0.7, 0.9]);
    expect(onePerVendor(rows, 'latest', 'higher').map((r) => r.primary).sort()).toEqual([0.7, 0.85]);
  });
});

describe('roundTo', () => {
  it('rounds to the declared digits', () => {
    expect(roundTo(0.987654, 4)).toBe(0.9877);
    expect(roundTo(null, 4)).toBeNull();
  });
});
