import fc from 'fast-check';
import { descendingOrder, stratifiedBootstrapCis, weightedAveragePrecision } from './binary-classification';
import { createSeededRandomInt, quantileType7 } from './stats';
import { aurocAndSensitivityAtSpecificityBootstrap, aurocBootstrap, sensitivityAtSpecificity } from './weighted-binary';

// Oracle: the per-case stratified bootstrap that the tie-group version replaced.
function naiveStratified(labels: number[], scores: number[], threshold: number, replicates: number, seed: number): number[][] {
  const posIdx: number[] = [];
  const negIdx: number[] = [];
  labels.forEach((y, i) => (y === 1 ? posIdx : negIdx).push(i));
  const m = posIdx.length;
  const n = negIdx.length;
  const order = descendingOrder(scores);
  const randomInt = createSeededRandomInt(seed);
  const weights = new Float64Array(labels.length);
  const ba: number[] = [];
  const ap: number[] = [];
  const brier: number[] = [];
  for (let b = 0; b < replicates; b++) {
    weights.fill(0);
    for (let k = 0; k < m; k++) {
      const i = posIdx[randomInt(m)] as number;
      weights[i] = (weights[i] as number) + 1;
    }
    for (let k = 0; k < n; k++) {
      const i = negIdx[randomInt(n)] as number;
      weights[i] = (weights[i] as number) + 1;
    }
    let tp = 0;
    let tn = 0;
    let sq = 0;
    for (let i = 0; i < labels.length; i++) {
      const w = weights[i] as number;
      if (w === 0) continue;
      const s = scores[i] as number;
      const y = labels[i] as number;
      if (y === 1 && s >= threshold) tp += w;
      if (y === 0 && s < threshold) tn += w;
      sq += w * (s - y) * (s - y);
    }
    ba.push((tp / m + tn / n) / 2);
    ap.push(weightedAveragePrecision(order, scores, labels, weights));
    brier.push(sq / (m + n));
  }
  return [ba, ap, brier].map((v) => {
    const sorted = v.sort((x, y) => x - y);
    return [quantileType7(sorted, 0.025), quantileType7(sorted, 0.975)];
  });
}

const dataArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 12 })), { minLength: 2, maxLength: 60 })
  .map((cases) => {
    const labels = cases.map((c) => c[0]);
    labels[0] = 1;
    labels[1] = 0;
    return { labels, scores: cases.map((c) => c[1] / 12) };
  });

describe('binary bootstrap fast paths', () => {
  it('stratified BA/AP/Brier CIs equal the per-case walk exactly (tied scores)', () => {
    fc.assert(
      fc.property(dataArb, fc.integer({ min: 0, max: 1000 }), (d, seed) => {
        const fast = stratifiedBootstrapCis({ ...d, threshold: 0.5 }, { replicates: 60, seed });
        const [ba, ap, brier] = naiveStratified(d.labels, d.scores, 0.5, 60, seed);
        expect(fast.balancedAccuracy).toEqual(ba);
        expect(fast.averagePrecision).toEqual(ap);
        expect(fast.brier).toEqual(brier);
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it('the shared AUROC + sens@spec bootstrap equals the separate calls', () => {
    fc.assert(
      fc.property(dataArb, fc.integer({ min: 0, max: 1000 }), fc.constantFrom<'percentile' | 'bca'>('percentile', 'bca'), (d, seed, interval) => {
        const options = { target: 0.8, replicates: 60, seed, interval };
        const both = aurocAndSensitivityAtSpecificityBootstrap(d, options);
        expect(both.auroc).toEqual(aurocBootstrap(d, options));
        expect(both.sensitivityAtSpecificity).toEqual(sensitivityAtSpecificity(d, options));
      }),
      { numRuns: 200, seed: 5 },
    );
  });
});
