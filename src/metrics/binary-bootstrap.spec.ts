import fc from 'fast-check';
import { descendingOrder, weightedAveragePrecision } from './binary-classification';
import { cellBootstrap } from './binary-bootstrap';
import { sensitivityAtSpecificitySorted, sortBinary, toSortedWeights, weightedAucSorted } from './weighted-binary';

const data = fc
  .array(fc.record({ y: fc.constantFrom(0, 1), s: fc.oneof(fc.constantFrom(0, 0.25, 0.5, 0.75, 1), fc.double({ min: 0, max: 1, noNaN: true })) }), { minLength: 4, maxLength: 60 })
  .filter((cs) => cs.filter((c) => c.y === 1).length >= 2 && cs.filter((c) => c.y === 0).length >= 2);

describe('cellBootstrap (one stratified bootstrap drawn as cell counts)', () => {
  it('every replicate statistic equals the per-case weighted statistic on the same resample', () => {
    fc.assert(
      fc.property(data, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1000 }), (cs, threshold, seed) => {
        const labels = cs.map((c) => c.y);
        const scores = cs.map((c) => c.s);
        const n = labels.length;
        // A representative case per (group score, class): the cell's count goes to it (the statistics only see cell totals).
        const rep = new Map<string, number>();
        cs.forEach((c, i) => {
          const key = `${c.s}|${c.y}`;
          if (!rep.has(key)) rep.set(key, i);
        });
        const weights: Float64Array[] = [];
        const result = cellBootstrap(labels, scores, {
          replicates: 20,
          seed,
          threshold,
          specificityTarget: 0.8,
          onReplicate: (_b, pos, neg) => {
            const w = new Float64Array(n);
            const groupScores = [...new Set(scores)].sort((a, b) => a - b);
            groupScores.forEach((s, g) => {
              if ((pos[g] as number) > 0) w[rep.get(`${s}|1`) as number] = pos[g] as number;
              if ((neg[g] as number) > 0) w[rep.get(`${s}|0`) as number] = neg[g] as number;
            });
            weights.push(w);
          },
        });
        const sorted = sortBinary({ labels, scores });
        const order = descendingOrder(scores);
        weights.forEach((w, b) => {
          let m = 0;
          let n0 = 0;
          let tp = 0;
          let tn = 0;
          let sq = 0;
          w.forEach((wi, i) => {
            if (labels[i] === 1) {
              m += wi;
              if ((scores[i] as number) >= threshold) tp += wi;
            } else {
              n0 += wi;
              if ((scores[i] as number) < threshold) tn += wi;
            }
            sq += wi * ((scores[i] as number) - (labels[i] as number)) ** 2;
          });
          expect(m).toBe(labels.filter((y) => y === 1).length); // class sizes fixed
          const sw = toSortedWeights(sorted, w);
          expect(result.values.auroc[b]).toBe(weightedAucSorted(sorted, sw));
          expect(result.values.sensitivityAtSpecificity[b]).toBe(sensitivityAtSpecificitySorted(sorted, sw, 0.8).value);
          expect(result.values.balancedAccuracy[b]).toBe((tp / m + tn / n0) / 2);
          expect(Math.abs((result.values.averagePrecision[b] as number) - weightedAveragePrecision(order, scores, labels, w))).toBeLessThan(1e-12);
          expect(Math.abs((result.values.brier?.[b] as number) - sq / n)).toBeLessThan(1e-12);
        });
      }),
      { numRuns: 60, seed: 12 },
    );
  });

  it('cell counts have the multinomial mean and variance of resampling cases (m·p, m·p(1 − p))', () => {
    const labels = Array.from({ length: 40 }, (_, i) => (i < 15 ? 1 : 0));
    const scores = labels.map((_, i) => [0.1, 0.2, 0.2, 0.3, 0.9][i % 5] as number);
    const B = 4000;
    const sum = new Float64Array(4);
    const sumSq = new Float64Array(4);
    cellBootstrap(labels, scores, {
      replicates: B,
      seed: 3,
      threshold: 0.5,
      specificityTarget: 0.8,
      onReplicate: (_b, pos) => pos.forEach((c, g) => { sum[g] = (sum[g] as number) + c; sumSq[g] = (sumSq[g] as number) + c * c; }),
    });
    // Positives are cases 0..14: scores by i % 5 → groups 0.1:3, 0.2:6, 0.3:3, 0.9:3 of m = 15.
    [3, 6, 3, 3].forEach((size, g) => {
      const p = size / 15;
      const mean = (sum[g] as number) / B;
      const variance = (sumSq[g] as number) / B - mean * mean;
      const se = Math.sqrt((15 * p * (1 - p)) / B);
      expect(Math.abs(mean - 15 * p)).toBeLessThan(5 * se);
      expect(Math.abs(variance / (15 * p * (1 - p)) - 1)).toBeLessThan(0.1);
    });
  });

  it('is deterministic for a seed', () => {
    const labels = [1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1];
    const scores = [0.9, 0.1, 0.8, 0.3, 0.7, 0.4, 0.2, 0.6, 0.5, 0.1, 0.9, 0.35];
    const a = cellBootstrap(labels, scores, { replicates: 50, seed: 1, threshold: 0.5, specificityTarget: 0.8 });
    expect(cellBootstrap(labels, scores, { replicates: 50, seed: 1, threshold: 0.5, specificityTarget: 0.8 })).toEqual(a);
    expect(cellBootstrap(labels, scores, { replicates: 50, seed: 2, threshold: 0.5, specificityTarget: 0.8 }).values.auroc).not.toEqual(a.values.auroc);
  });
});
