import { aggregateRankRobustness, perCaseRankRobustness, RankingProblem } from './rank-robustness';
import { mulberry32 } from '../common/seeded-random';
import { binaryRankingProblem } from './binary-classification/ranking';
import { survivalRankingProblem } from './survival/ranking';

function synthetic(k: number, n: number, seed: number): RankingProblem {
  const random = mulberry32(seed);
  const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
  // Submission s separates the classes with strength decreasing in s.
  const predictions = Array.from({ length: k }, (_, s) => labels.map((y) => Math.min(1, Math.max(0, 0.5 + (y ? 1 : -1) * (0.3 - 0.05 * s) + (random() - 0.5) * 0.6))));
  return binaryRankingProblem({ metric: 'auroc', direction: 'higher', threshold: 0.5, labels, predictions });
}

describe('aggregateRankRobustness', () => {
  it('ranks by the aggregate metric and puts each reported rank inside its bootstrap interval', () => {
    const result = aggregateRankRobustness(synthetic(4, 300, 1), { replicates: 200, seed: 7 });
    expect(result.rank).toEqual([1, 2, 3, 4]);
    result.rank.forEach((r, s) => {
      const [lo, hi] = result.rankInterval[s] as [number, number];
      expect(lo).toBeLessThanOrEqual(r);
      expect(hi).toBeGreaterThanOrEqual(r);
    });
    for (const share of result.rankShare) expect(share.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(result.kendallTau.median).toBeGreaterThan(0);
    expect(result.kendallTau.median).toBeLessThanOrEqual(1);
  });

  it('is identical for the same seed and differs for another', () => {
    const data = synthetic(3, 120, 2);
    const a = aggregateRankRobustness(data, { replicates: 100, seed: 11 });
    expect(aggregateRankRobustness(data, { replicates: 100, seed: 11 })).toEqual(a);
    expect(aggregateRankRobustness(data, { replicates: 100, seed: 12 }).rankShare).not.toEqual(a.rankShare);
  });

  it('gives identical submissions a shared rank in every replicate', () => {
    const data = synthetic(2, 90, 3);
    data.rows[1] = [...(data.rows[0] as number[])];
    const result = aggregateRankRobustness(data, { replicates: 50, seed: 1 });
    expect(result.rank).toEqual([1, 1]);
    expect(result.rankInterval).toEqual([
      [1, 1],
      [1, 1],
    ]);
  });
});

describe('aggregateRankRobustness fast paths', () => {
  it('gives the same rank distribution from case multiplicities as from expanded replicates (AUROC)', () => {
    const data = synthetic(3, 150, 5);
    const fast = aggregateRankRobustness(data, { replicates: 200, seed: 9 });
    const slow = aggregateRankRobustness(data, { replicates: 200, seed: 9, expand: true });
    expect(fast.rankShare).toEqual(slow.rankShare);
    expect(fast.rankInterval).toEqual(slow.rankInterval);
    expect(fast.kendallTau).toEqual(slow.kendallTau);
  });

  it('does the same for Harrell’s and Uno’s C', () => {
    const random = mulberry32(4);
    const n = 80;
    const times = Array.from({ length: n }, () => Math.ceil(random() * 50));
    const labels = Array.from({ length: n }, () => (random() < 0.7 ? 1 : 0));
    const predictions = [0, 1, 2].map((s) => times.map((t) => -t + (random() - 0.5) * 20 * (s + 1)));
    for (const metric of ['c_index_harrell', 'c_index_uno']) {
      const data = survivalRankingProblem({ metric, direction: 'higher', events: labels, times, predictions });
      const fast = aggregateRankRobustness(data, { replicates: 100, seed: 2 });
      const slow = aggregateRankRobustness(data, { replicates: 100, seed: 2, expand: true });
      expect(fast.rankShare).toEqual(slow.rankShare);
      expect(fast.rank).toEqual(slow.rank);
    }
  });
});

describe('perCaseRankRobustness', () => {
  it('ranks by mean per-case rank of the squared error, and refuses survival', () => {
    const result = perCaseRankRobustness(synthetic(3, 150, 4), 'rank-then-aggregate', { replicates: 100, seed: 3 });
    expect(result.rank[0]).toBe(1);
    expect(result.method).toMatch(/squared error/);
    const survival = survivalRankingProblem({ metric: 'c_index_harrell', direction: 'higher', events: [1, 0, 1], times: [1, 2, 3], predictions: [[1, 2, 3]] });
    expect(() => perCaseRankRobustness(survival, 'test-then-rank', { replicates: 10, seed: 1 })).toThrow(/per-case metric/);
  });
});

describe('rank intervals (issue 8)', () => {
  it('are integer ranks (inverted CDF) and come with their Monte Carlo error', () => {
    const result = aggregateRankRobustness(synthetic(6, 120, 8), { replicates: 400, seed: 3 });
    for (const [lo, hi] of result.rankInterval) {
      expect(Number.isInteger(lo)).toBe(true);
      expect(Number.isInteger(hi)).toBe(true);
    }
    expect(result.monteCarlo.tailSe).toBeCloseTo(Math.sqrt((0.025 * 0.975) / 400), 12);
    expect(result.monteCarlo.boundaryUncertain).toHaveLength(6);
    expect(result.method).toMatch(/inverted CDF.*Monte Carlo s\.e\. of each 2\.5% tail share 0\.0078 \(B = 3746 keeps it within ±0\.005/);
  });

  it('the interval is the type-1 quantile of the rank distribution: share below lo < 2.5% ≤ share up to lo', () => {
    const B = 500;
    const result = aggregateRankRobustness(synthetic(5, 90, 2), { replicates: B, seed: 5 });
    result.rankShare.forEach((share, s) => {
      const [lo, hi] = result.rankInterval[s] as [number, number];
      const cdf = (r: number): number => share.slice(0, r).reduce((a, b) => a + b, 0);
      expect(cdf(lo - 1)).toBeLessThan(0.025 + 1e-12);
      expect(cdf(lo)).toBeGreaterThanOrEqual(0.025 - 1e-12);
      expect(cdf(hi - 1)).toBeLessThan(0.975 + 1e-12);
      expect(cdf(hi)).toBeGreaterThanOrEqual(0.975 - 1e-12);
    });
  });

  it("re-selects a vendor's best submission inside each replicate (with alternatives the vendor does at least as well)", () => {
    const data = synthetic(3, 150, 6);
    // Vendor of entry 2 also submitted four noisy variants; on the full data entry 2 is its best.
    const random = mulberry32(77);
    const variants = Array.from({ length: 4 }, () => (data.rows[2] as number[]).map((p) => Math.min(1, Math.max(0, p + (random() - 0.5) * 0.5))));
    const plain = aggregateRankRobustness(data, { replicates: 300, seed: 4 });
    const reselected = aggregateRankRobustness({ ...data, alternatives: [[], [], variants] }, { replicates: 300, seed: 4 });
    expect(reselected.method).toMatch(/re-selected inside every replicate/);
    const meanRank = (r: typeof plain, s: number): number => (r.rankShare[s] as number[]).reduce((a, p, i) => a + p * (i + 1), 0);
    expect(meanRank(reselected, 2)).toBeLessThanOrEqual(meanRank(plain, 2));
    // Same replicates: the expanded reference path agrees.
    const slow = aggregateRankRobustness({ ...data, alternatives: [[], [], variants] }, { replicates: 300, seed: 4, expand: true });
    expect(slow.rankShare).toEqual(reselected.rankShare);
  });

  it('survival resamples patients plainly (the scheme of the survival CIs), binary stratifies by outcome', () => {
    const random = mulberry32(9);
    const n = 60;
    const times = Array.from({ length: n }, () => Math.ceil(random() * 40));
    const labels = Array.from({ length: n }, () => (random() < 0.6 ? 1 : 0));
    const predictions = [0, 1].map((s) => times.map((t) => -t + (random() - 0.5) * 15 * (s + 1)));
    const r = aggregateRankRobustness(survivalRankingProblem({ metric: 'c_index_harrell', direction: 'higher', events: labels, times, predictions }), { replicates: 50, seed: 1 });
    expect(r.method).toMatch(/bootstrap over patients \(plain, as the survival CIs\)/);
    expect(aggregateRankRobustness(synthetic(2, 60, 1), { replicates: 20, seed: 1 }).method).toMatch(/stratified by outcome/);
  });
});
