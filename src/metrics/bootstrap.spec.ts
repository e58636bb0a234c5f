import fc from 'fast-check';
import { aurocWithDelong } from './binary-classification';
import { bootstrapCi, bootstrapReplicates, forEachReplicate, pairedBootstrap } from './bootstrap';
import { aurocBootstrap, sensitivityAtSpecificity, sortBinary, weightedAucSorted } from './weighted-binary';

const Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1];
const A = [0.9, 0.8, 0.7, 0.35, 0.6, 0.3, 0.2, 0.1, 0.35, 0.55, 0.4, 0.65];
const mean =
  (x: readonly number[]) =>
  (w: Float64Array): number => {
    let s = 0;
    let t = 0;
    x.forEach((v, i) => {
      s += v * (w[i] as number);
      t += w[i] as number;
    });
    return s / t;
  };

describe('bootstrap engine', () => {
  it('gives bit-identical replicates for the same seed and different ones for another seed', () => {
    const a = bootstrapReplicates({ n: 12, replicates: 50, seed: 1 }, mean(A));
    const b = bootstrapReplicates({ n: 12, replicates: 50, seed: 1 }, mean(A));
    const c = bootstrapReplicates({ n: 12, replicates: 50, seed: 2 }, mean(A));
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    expect(Array.from(a.values)).not.toEqual(Array.from(c.values));
  });

  it('keeps stratum sizes fixed when stratified', () => {
    forEachReplicate({ n: 12, strata: Y, replicates: 100, seed: 3 }, (w) => {
      let pos = 0;
      Y.forEach((y, i) => (pos += y === 1 ? (w[i] as number) : 0));
      expect(pos).toBe(6);
    });
  });

  it('counts undefined replicates as degenerate and drops them from the interval', () => {
    // Unstratified AUC on 3 cases: replicates with one class are undefined.
    const s = sortBinary({ labels: [1, 0, 0], scores: [0.9, 0.1, 0.5] });
    const r = bootstrapCi((w) => weightedAucSorted(s, Float64Array.from(s.order, (i) => w[i] as number)), { n: 3, replicates: 200, seed: 5 });
    expect(r.degenerate).toBeGreaterThan(0);
    expect(r.degenerate).toBeLessThan(200);
    expect(r.B).toBe(200);
    expect(r.seed).toBe(5);
    expect(r.method).toContain('undefined replicates dropped and counted');
  });

  it('falls back to the percentile interval and says why when BCa is undefined (AUC = 1)', () => {
    const r = aurocBootstrap({ labels: [1, 1, 0, 0], scores: [0.9, 0.8, 0.2, 0.1] }, { replicates: 100, seed: 1, interval: 'bca' });
    expect(r.ci).toEqual([1, 1]);
    expect(r.fallback).toBe('all replicates equal');
  });

  it('bootstrap AUROC point estimate equals the Mann–Whitney AUC and its CI roughly matches DeLong', () => {
    const r = aurocBootstrap({ labels: Y, scores: A }, { replicates: 2000, seed: 20240601 });
    const d = aurocWithDelong({ labels: Y, scores: A });
    expect(r.value).toBeCloseTo(d.auc, 15);
    expect((r.ci as [number, number])[0]).toBeGreaterThan(0.6);
    expect((r.ci as [number, number])[1]).toBe(1);
  });

  it('sens@spec re-selects the threshold per replicate and reports the post-hoc threshold (METRICS.md §4.4: 0.8333 at 0.55)', () => {
    const r = sensitivityAtSpecificity({ labels: Y, scores: A }, { target: 0.8, replicates: 500, seed: 9 });
    expect(r.value).toBeCloseTo(5 / 6, 12);
    expect(r.threshold).toBe(0.55);
    expect(r.method).toContain('re-selected inside every bootstrap replicate');
  });

  it('property: a paired bootstrap of a statistic against itself has difference 0, CI [0, 0] and p = 1', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 2, maxLength: 30 }), fc.integer(), (x, seed) => {
        const r = pairedBootstrap(mean(x), mean(x), { n: x.length, replicates: 30, seed });
        expect(r.difference).toBe(0);
        expect(r.ci).toEqual([0, 0]);
        expect(r.p).toBe(1);
      }),
      { numRuns: 50 },
    );
  });

  it('property: percentile interval is ordered and brackets are within the replicate range', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 40 }), fc.integer(), (x, seed) => {
        const r = bootstrapCi(mean(x), { n: x.length, replicates: 50, seed });
        const [lo, hi] = r.ci as [number, number];
        expect(lo).toBeLessThanOrEqual(hi);
        expect(lo).toBeGreaterThanOrEqual(Math.min(...x) - 1e-12);
        expect(hi).toBeLessThanOrEqual(Math.max(...x) + 1e-12);
      }),
      { numRuns: 50 },
    );
  });

  it('property: weighted AUC with unit weights equals the DeLong/Mann–Whitney AUC', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 8 })), { minLength: 2, maxLength: 60 }),
        (rows) => {
          const labels = rows.map((r) => r[0]);
          const scores = rows.map((r) => r[1] / 8);
          fc.pre(labels.includes(0) && labels.includes(1));
          const s = sortBinary({ labels, scores });
          expect(weightedAucSorted(s, new Float64Array(s.n).fill(1))).toBeCloseTo(aurocWithDelong({ labels, scores }).auc, 14);
        },
      ),
    );
  });
});
