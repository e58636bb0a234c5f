import fc from 'fast-check';
import { logisticRecalibration } from './calibration';

/** Seeded LCG so the inputs are fixed without a fixture file. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function permute<T>(xs: readonly T[], order: readonly number[]): T[] {
  return order.map((i) => xs[i] as T);
}

describe('logistic recalibration: fits, separation and non-identifiability (issue 8)', () => {
  it('fits a well-posed but badly calibrated model (p ≪ prevalence) where plain Newton from 0 overshot', () => {
    const rnd = lcg(3);
    const labels = Array.from({ length: 200 }, (_, i) => (i < 60 ? 1 : 0));
    const p = labels.map(() => 0.0005 + 0.0015 * rnd());
    const r = logisticRecalibration(labels, p);
    expect(r.interceptVerdict).toBe('ok');
    // Score equation of the offset model: Σ y = Σ expit(a + logit p) at the MLE.
    const a = r.intercept as number;
    const fitted = p.reduce((s, pi) => s + 1 / (1 + Math.exp(-(a + Math.log(pi / (1 - pi))))), 0);
    expect(fitted).toBeCloseTo(60, 9);
    expect(a).toBeGreaterThan(5);
    expect(r.method).not.toMatch(/did not converge/);
  });

  it('reports complete separation as such, whatever the row order (no finite slope from an underflow)', () => {
    const n = 1000;
    const labels = Array.from({ length: n }, (_, i) => (i < 300 ? 1 : 0));
    const p = labels.map((y, i) => (y === 1 ? 0.6 + (0.39 * i) / n : 0.01 + (0.5 * i) / n));
    const r = logisticRecalibration(labels, p);
    expect(r.slope).toBeNull();
    expect(r.slopeVerdict).toBe('separation');
    expect(r.method).toMatch(/complete separation/);
    expect(r.interceptVerdict).toBe('ok'); // the intercept model has no separation with both classes present
    const rnd = lcg(9);
    for (let k = 0; k < 5; k++) {
      const order = Array.from({ length: n }, (_, i) => i).sort(() => rnd() - 0.5);
      const q = logisticRecalibration(permute(labels, order), permute(p, order));
      expect(q.slopeVerdict).toBe('separation');
      expect(q.intercept).toBe(r.intercept);
    }
  });

  it('says quasi-complete separation when the classes only touch at one tied value', () => {
    const r = logisticRecalibration([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.3, 0.5, 0.7]);
    expect(r.slopeVerdict).toBe('separation');
    expect(r.method).toMatch(/quasi-complete separation/);
  });

  it('says the slope is not identifiable when every p is the same, in any row order', () => {
    const labels = [1, 0, 0, 1, 0, 0, 0, 1];
    const p = labels.map(() => 0.3);
    const r = logisticRecalibration(labels, p);
    expect(r.slope).toBeNull();
    expect(r.slopeVerdict).toBe('not-identifiable');
    expect(r.method).toMatch(/not identifiable/);
    // Intercept: logit(3/8) − logit(0.3).
    expect(r.intercept as number).toBeCloseTo(Math.log(3 / 5) - Math.log(0.3 / 0.7), 12);
    const q = logisticRecalibration([...labels].reverse(), p);
    expect(q).toEqual(r);
  });

  it('property: any row permutation gives the same verdicts and bit-identical values', () => {
    const row = fc.record({ y: fc.constantFrom(0, 1), p: fc.oneof(fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }), fc.constantFrom(0.2, 0.5, 0.8)) });
    fc.assert(
      fc.property(fc.array(row, { minLength: 2, maxLength: 60 }), fc.func(fc.double({ noNaN: true })), (rows, key) => {
        const labels = rows.map((r) => r.y);
        const p = rows.map((r) => r.p);
        const a = logisticRecalibration(labels, p);
        const order = rows.map((_, i) => i).sort((i, j) => key(i) - key(j) || i - j);
        const b = logisticRecalibration(permute(labels, order), permute(p, order));
        expect(b).toEqual(a);
      }),
      { numRuns: 300, seed: 88 },
    );
  });

  it('every non-null fit satisfies its score equations (it converged where it says it did)', () => {
    const row = fc.record({ y: fc.constantFrom(0, 1), p: fc.double({ min: 1e-4, max: 1 - 1e-4, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(row, { minLength: 4, maxLength: 80 }), (rows) => {
        const labels = rows.map((r) => r.y);
        const x = rows.map((r) => Math.log(r.p / (1 - r.p)));
        const r = logisticRecalibration(labels, rows.map((q) => q.p));
        if (r.slope !== null) {
          let g0 = 0;
          let g1 = 0;
          x.forEach((xi, i) => {
            const mu = 1 / (1 + Math.exp(-((r.slopeModelIntercept as number) + r.slope! * xi)));
            g0 += (labels[i] as number) - mu;
            g1 += ((labels[i] as number) - mu) * xi;
          });
          expect(Math.abs(g0)).toBeLessThan(1e-7 * rows.length);
          expect(Math.abs(g1)).toBeLessThan(1e-6 * rows.length * (1 + Math.max(...x.map(Math.abs))));
        } else {
          expect(['separation', 'not-identifiable', 'not-estimable']).toContain(r.slopeVerdict);
        }
      }),
      { numRuns: 200, seed: 5 },
    );
  });
});
