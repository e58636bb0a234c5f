import fc from 'fast-check';
import {
  aurocWithDelong,
  auroc,
  averagePrecision,
  brierScore,
  confusionAtThreshold,
  delongComponents,
  delongVariance,
  pairedDelong,
  proportionWithWilson,
  stratifiedBootstrapCis,
} from './binary-classification';
import { MetricInputError } from './metrics.errors';
import { erfc, midRanks, twoSidedNormalP, wilsonInterval } from './stats';

// METRICS.md §4.2 toy data.
const Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1];
const A = [0.9, 0.8, 0.7, 0.35, 0.6, 0.3, 0.2, 0.1, 0.35, 0.55, 0.4, 0.65];
const B = [0.7, 0.9, 0.4, 0.5, 0.5, 0.2, 0.3, 0.2, 0.6, 0.8, 0.1, 0.45];

/** O(m·n) definition-level DeLong, the cross-check for the fast algorithm. */
function naiveDelong(labels: number[], scores: number[]): { auc: number; variance: number } {
  const xs = scores.filter((_, i) => labels[i] === 1);
  const ys = scores.filter((_, i) => labels[i] === 0);
  const psi = (x: number, y: number): number => (x > y ? 1 : x === y ? 0.5 : 0);
  const v10 = xs.map((x) => ys.reduce((s, y) => s + psi(x, y), 0) / ys.length);
  const v01 = ys.map((y) => xs.reduce((s, x) => s + psi(x, y), 0) / xs.length);
  const auc = v10.reduce((s, v) => s + v, 0) / xs.length;
  const s10 = v10.reduce((s, v) => s + (v - auc) ** 2, 0) / (xs.length - 1);
  const s01 = v01.reduce((s, v) => s + (v - auc) ** 2, 0) / (ys.length - 1);
  return { auc, variance: s10 / xs.length + s01 / ys.length };
}

const caseArb = fc
  .array(fc.record({ label: fc.constantFrom(0, 1), score: fc.double({ min: 0, max: 1, noNaN: true }) }), {
    minLength: 2,
    maxLength: 60,
  })
  .filter((cs) => cs.some((c) => c.label === 1) && cs.some((c) => c.label === 0));
// Coarse scores so ties are frequent.
const tiedCaseArb = fc
  .array(fc.record({ label: fc.constantFrom(0, 1), score: fc.integer({ min: 0, max: 6 }).map((k) => k / 6) }), {
    minLength: 4,
    maxLength: 60,
  })
  .filter((cs) => cs.filter((c) => c.label === 1).length >= 2 && cs.filter((c) => c.label === 0).length >= 2);
const split = (cs: { label: number; score: number }[]): { labels: number[]; scores: number[] } => ({
  labels: cs.map((c) => c.label),
  scores: cs.map((c) => c.score),
});

describe('stats helpers', () => {
  it('gives scipy rankdata(method="average") mid-ranks', () => {
    expect(Array.from(midRanks([3, 1, 3, 2, 3]))).toEqual([4, 1, 4, 2, 4]);
  });

  it('matches known erfc and normal tail values', () => {
    expect(erfc(0)).toBe(1);
    expect(erfc(1)).toBeCloseTo(0.15729920705028513, 15);
    expect(erfc(3)).toBeCloseTo(2.209049699858544e-5, 18);
    expect(erfc(-1)).toBeCloseTo(1.8427007929497148, 15);
    expect(twoSidedNormalP(1.959963984540054)).toBeCloseTo(0.05, 14);
    expect(twoSidedNormalP(0)).toBe(1);
  });

  it('reproduces the METRICS.md §4.4 Wilson golden for 5/6', () => {
    const [lo, hi] = wilsonInterval(5, 6);
    expect(lo).toBeCloseTo(0.4365, 4);
    expect(hi).toBeCloseTo(0.9699, 4);
  });
});

describe('AUROC and DeLong', () => {
  it('reproduces the METRICS.md §4.2 golden example', () => {
    const a = aurocWithDelong({ labels: Y, scores: A });
    expect(a.auc).toBeCloseTo(0.902778, 6);
    expect(a.variance).toBeCloseTo(0.007793, 6);
    expect(a.ci?.[0]).toBeCloseTo(0.729754, 6);
    expect(a.ci?.[1]).toBe(1);
    expect(a.method).toBe('DeLong (Sun & Xu fast algorithm), Wald 95% CI clipped to [0,1]');
    expect(auroc({ labels: Y, scores: B })).toBeCloseTo(0.847222, 6);
    const p = pairedDelong(A, B, Y);
    expect(p.difference).toBeCloseTo(0.055556, 6);
    expect(p.pValue).toBeCloseTo(0.649774, 6);
  });

  it('agrees with the O(m·n) definition to 1e-12, with and without ties', () => {
    fc.assert(
      fc.property(fc.oneof(caseArb, tiedCaseArb), (cs) => {
        const data = split(cs);
        const fast = delongComponents(data);
        const naive = naiveDelong(data.labels, data.scores);
        expect(Math.abs(fast.auc - naive.auc)).toBeLessThanOrEqual(1e-12);
        const v = delongVariance(fast);
        if (v !== null) expect(Math.abs(v - naive.variance)).toBeLessThanOrEqual(1e-12);
      }),
    );
  });

  it('exposes per-case components whose means are the AUC', () => {
    const c = delongComponents({ labels: Y, scores: A });
    expect(c.v10).toHaveLength(6);
    expect(c.v01).toHaveLength(6);
    const meanV10 = c.v10.reduce((s, v) => s + v, 0) / c.v10.length;
    const meanV01 = c.v01.reduce((s, v) => s + v, 0) / c.v01.length;
    expect(meanV10).toBeCloseTo(c.auc, 14);
    expect(meanV01).toBeCloseTo(c.auc, 14);
  });

  it('returns a null CI when a class has a single case (pROC gives NA)', () => {
    const r = aurocWithDelong({ labels: [1, 0, 0], scores: [0.9, 0.1, 0.2] });
    expect(r.auc).toBe(1);
    expect(r.ci).toBeNull();
    expect(r.method).toMatch(/not estimable/);
  });

  it('gives p = null and no CI for a model compared with itself, and says why', () => {
    const p = pairedDelong(A, A, Y);
    expect(p.difference).toBe(0);
    expect(p.pValue).toBeNull();
    expect(p.method).toMatch(/Var\(Δ\) = 0.*pROC prints p = 1/);
  });

  it('paired DeLong degrades (null variance and p, with the reason) when a class has one case', () => {
    const p = pairedDelong([0.9, 0.1, 0.2, 0.4], [0.3, 0.1, 0.5, 0.2], [1, 0, 0, 0]);
    expect(p.difference).toBeCloseTo(1 - 2 / 3, 12);
    expect(p.variance).toBeNull();
    expect(p.pValue).toBeNull();
    expect(p.method).toMatch(/1 positive and 3 negative.*at least 2 in each class/);
  });

  it('AUROC(−score) = 1 − AUROC', () => {
    fc.assert(
      fc.property(caseArb, (cs) => {
        const data = split(cs);
        const neg = { labels: data.labels, scores: data.scores.map((s) => -s) };
        expect(auroc(neg)).toBeCloseTo(1 - auroc(data), 12);
      }),
    );
  });

  it('AUROC and AP are invariant under strictly increasing transforms', () => {
    fc.assert(
      // A float formula like exp(3s) is not strictly monotone on doubles (5e-324 and 0 collide), so build the
      // transform explicitly: distinct values mapped to cumulative sums of random positive gaps, plus an affine shift.
      fc.property(fc.oneof(caseArb, tiedCaseArb), fc.integer({ min: 1, max: 1_000_000 }), (cs, seed) => {
        const data = split(cs);
        const distinct = [...new Set(data.scores)].sort((x, y) => x - y);
        const mapped = new Map<number, number>();
        let acc = -seed;
        distinct.forEach((v, k) => {
          acc += 1 + ((seed * (k + 7)) % 97);
          mapped.set(v, acc);
        });
        const transformed = { labels: data.labels, scores: data.scores.map((s) => mapped.get(s) as number) };
        expect(auroc(transformed)).toBe(auroc(data));
        expect(averagePrecision(transformed)).toBe(averagePrecision(data));
      }),
    );
  });

  it('has a CI that contains the estimate and lies in [0, 1]', () => {
    fc.assert(
      fc.property(fc.oneof(caseArb, tiedCaseArb), (cs) => {
        const r = aurocWithDelong(split(cs));
        expect(r.auc).toBeGreaterThanOrEqual(0);
        expect(r.auc).toBeLessThanOrEqual(1);
        if (r.ci !== null) {
          expect(r.ci[0]).toBeGreaterThanOrEqual(0);
          expect(r.ci[1]).toBeLessThanOrEqual(1);
          expect(r.ci[0]).toBeLessThanOrEqual(r.auc);
          expect(r.ci[1]).toBeGreaterThanOrEqual(r.auc);
        }
      }),
    );
  });
});

describe('degenerate input', () => {
  const expectCode = (fn: () => unknown, code: string): void => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(MetricInputError);
      expect((e as MetricInputError).code).toBe(code);
      return;
    }
    throw new Error('expected a MetricInputError');
  };

  it('throws METRIC_EMPTY_INPUT when n = 0', () => {
    expectCode(() => auroc({ labels: [], scores: [] }), 'METRIC_EMPTY_INPUT');
    expectCode(() => brierScore({ labels: [], scores: [] }), 'METRIC_EMPTY_INPUT');
  });

  it('throws METRIC_ONE_CLASS when only one class is present', () => {
    expectCode(() => auroc({ labels: [1, 1], scores: [0.2, 0.3] }), 'METRIC_ONE_CLASS');
    expectCode(() => averagePrecision({ labels: [0, 0], scores: [0.2, 0.3] }), 'METRIC_ONE_CLASS');
    // Counts need no second class (METRICS.md §4.1: specificity and NPV are still estimable without positives).
    expect(confusionAtThreshold({ labels: [0, 0], scores: [0.2, 0.6] }, 0.5)).toEqual({ tp: 0, fp: 1, tn: 1, fn: 0 });
  });

  it('throws METRIC_NON_FINITE_SCORE on NaN or infinite scores', () => {
    expectCode(() => auroc({ labels: [1, 0], scores: [Number.NaN, 0.3] }), 'METRIC_NON_FINITE_SCORE');
    expectCode(() => auroc({ labels: [1, 0], scores: [Infinity, 0.3] }), 'METRIC_NON_FINITE_SCORE');
  });

  it('throws on bad labels, length mismatch and non-probability Brier input', () => {
    expectCode(() => auroc({ labels: [1, 2], scores: [0.1, 0.3] }), 'METRIC_BAD_LABEL');
    expectCode(() => auroc({ labels: [1, 0], scores: [0.1] }), 'METRIC_LENGTH_MISMATCH');
    expectCode(() => brierScore({ labels: [1, 0], scores: [1.5, 0.3] }), 'METRIC_BAD_PROBABILITY');
    expectCode(() => confusionAtThreshold({ labels: [1, 0], scores: [1, 0] }, Number.NaN), 'METRIC_BAD_PARAMETER');
  });
});

describe('threshold metrics', () => {
  it('counts positive iff score ≥ threshold (METRICS.md §4.4 golden)', () => {
    expect(confusionAtThreshold({ labels: Y, scores: A }, 0.5)).toEqual({ tp: 5, fp: 1, tn: 5, fn: 1 });
    expect(confusionAtThreshold({ labels: [1, 0], scores: [0.5, 0.49] }, 0.5)).toEqual({ tp: 1, fp: 0, tn: 1, fn: 0 });
  });

  it('reports a proportion with n = 0 as not estimable', () => {
    expect(proportionWithWilson(0, 0)).toEqual({ value: null, ci: null, k: 0, n: 0 });
  });

  it('keeps Wilson CIs inside [0, 1] and around the estimate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, f) => {
        const k = Math.round(f * n);
        const { value, ci } = proportionWithWilson(k, n);
        expect(ci).not.toBeNull();
        const [lo, hi] = ci as [number, number];
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(1);
        expect(lo).toBeLessThanOrEqual(value as number);
        expect(hi).toBeGreaterThanOrEqual(value as number);
      }),
    );
  });
});

describe('stratified bootstrap', () => {
  it('is bit-identical for the same seed and changes with the seed', () => {
    const input = { labels: Y, scores: A, threshold: 0.5 };
    const a = stratifiedBootstrapCis(input, { replicates: 500, seed: 42 });
    const b = stratifiedBootstrapCis(input, { replicates: 500, seed: 42 });
    const c = stratifiedBootstrapCis(input, { replicates: 500, seed: 43 });
    expect(b).toEqual(a);
    expect(c.averagePrecision).not.toEqual(a.averagePrecision);
    expect(a.method).toContain('seed=42');
  });

  it('reduces to the point estimate when every replicate is the original sample', () => {
    // One case per class: every stratified resample is the original data.
    const r = stratifiedBootstrapCis({ labels: [1, 0], scores: [0.8, 0.3], threshold: 0.5 }, { replicates: 10, seed: 1 });
    expect(r.balancedAccuracy).toEqual([1, 1]);
    expect(r.averagePrecision).toEqual([1, 1]);
    expect(r.brier?.[0]).toBeCloseTo((0.04 + 0.09) / 2, 15);
  });
});
