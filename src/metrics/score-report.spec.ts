import fc from 'fast-check';
import { MetricInputError } from './metrics.errors';
import { BINARY_METRIC_NAMES, METRIC_CODE_VERSION, metricDirection, scoreBinary } from './score-report';

const Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1];
const A = [0.9, 0.8, 0.7, 0.35, 0.6, 0.3, 0.2, 0.1, 0.35, 0.55, 0.4, 0.65];

const caseArb = fc
  .array(fc.record({ label: fc.constantFrom(0, 1), score: fc.double({ min: 0, max: 1, noNaN: true }) }), {
    minLength: 2,
    maxLength: 40,
  })
  .filter((cs) => cs.some((c) => c.label === 1) && cs.some((c) => c.label === 0));

describe('scoreBinary', () => {
  it('reports every metric with value, ci and method (METRICS.md §4.2/§4.4/§4.5 goldens)', () => {
    const r = scoreBinary({ labels: Y, scores: A });
    expect(r).toMatchObject({ task: 'binary', n: 12, nPositive: 6, nNegative: 6, threshold: 0.5 });
    expect(r.metricCodeVersion).toBe(METRIC_CODE_VERSION);
    expect(r.confusion).toEqual({ tp: 5, fp: 1, tn: 5, fn: 1 });
    expect(Object.keys(r.metrics).sort()).toEqual([...BINARY_METRIC_NAMES].sort());
    for (const m of Object.values(r.metrics)) {
      expect(m.method.length).toBeGreaterThan(0);
      expect(m.value).not.toBeNull();
    }
    // 6 per class is below the bootstrap floor: the closed-form CIs are given, the bootstrap ones withheld.
    for (const name of ['auroc', 'sensitivity', 'specificity', 'ppv', 'npv'] as const) expect(r.metrics[name].ci).not.toBeNull();
    for (const name of ['auprc', 'brier', 'balanced_accuracy'] as const) {
      expect(r.metrics[name].ci).toBeNull();
      expect(r.metrics[name].method).toMatch(/withheld: 6 positive and 6 negative case\(s\), below the floor of 10 per class/);
    }
    expect(r.bootstrap).toMatchObject({ run: false, minPerClass: 10, B: 2000 });
    expect(r.secondary).toBeUndefined();
    expect(r.metrics.auroc.value).toBeCloseTo(0.902778, 6);
    expect(r.metrics.auroc.ci?.[0]).toBeCloseTo(0.729754, 6);
    expect(r.metrics.auroc.method).toContain('DeLong (Sun & Xu fast algorithm), Wald 95% CI clipped to [0,1]');
    expect(r.metrics.auprc.method).toContain('average_precision_score');
    expect(r.metrics.brier.value).toBeCloseTo(0.139167, 6);
    expect(r.metrics.sensitivity.value).toBeCloseTo(0.8333, 4);
    expect(r.metrics.sensitivity.ci?.[0]).toBeCloseTo(0.4365, 4);
    expect(r.metrics.specificity.ci?.[1]).toBeCloseTo(0.9699, 4);
  });

  it('gives every CI once both classes reach the floor', () => {
    const labels = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const scores = labels.map((y, i) => Math.min(1, 0.3 * y + ((i * 37) % 23) / 30));
    const r = scoreBinary({ labels, scores, bootstrap: { replicates: 200, seed: 1 } });
    for (const m of Object.values(r.metrics)) expect(m.ci).not.toBeNull();
    expect(r.metrics.balanced_accuracy.method).toMatch(/stratified bootstrap.*B=200, seed=1/);
    expect(r.bootstrap).toMatchObject({ run: true, degenerate: 0 });
    expect(r.secondary?.auroc_bootstrap.ci).not.toBeNull();
  });

  it('withholds bootstrap intervals for one positive in 20,000 instead of printing a near-zero width (issue 8)', () => {
    const n = 20000;
    const labels = Array.from({ length: n }, (_, i) => (i === 7 ? 1 : 0));
    const scores = labels.map((y, i) => (y === 1 ? 0.97 : ((i * 7919) % 10007) / 10007));
    const r = scoreBinary({ labels, scores });
    expect(r.metrics.auroc.value).toBeGreaterThan(0.9);
    expect(r.metrics.auroc.ci).toBeNull(); // DeLong needs 2 per class
    expect(r.metrics.balanced_accuracy.ci).toBeNull();
    expect(r.metrics.balanced_accuracy.method).toMatch(/1 positive and 19999 negative/);
    expect(r.bootstrap.withheld).toMatch(/floor of 10 per class/);
    expect(r.secondary).toBeUndefined();
  });

  it('with no positives reports Brier, specificity and NPV and marks AUROC not estimable (METRICS.md §4.1)', () => {
    const r = scoreBinary({ labels: [0, 0, 0, 0], scores: [0.1, 0.2, 0.7, 0.3] });
    expect(r.metrics.auroc).toMatchObject({ value: null, ci: null });
    expect(r.metrics.auroc.method).toMatch(/not estimable: no positive \(1\) cases/);
    expect(r.metrics.auprc.value).toBeNull();
    expect(r.metrics.balanced_accuracy.value).toBeNull();
    expect(r.metrics.sensitivity.value).toBeNull();
    expect(r.metrics.brier.value).toBeCloseTo((0.01 + 0.04 + 0.49 + 0.09) / 4, 15);
    expect(r.metrics.specificity.value).toBe(0.75);
    expect(r.metrics.npv.value).toBe(1);
    expect(r.metrics.ppv.value).toBe(0);
  });

  it('marks PPV not estimable (null, with reason) when nothing is called positive', () => {
    const r = scoreBinary({ labels: [1, 0, 1, 0], scores: [0.2, 0.1, 0.3, 0.4], threshold: 0.9 });
    expect(r.metrics.ppv).toEqual({ value: null, ci: null, method: 'TP/(TP+FP); not estimable: denominator is 0', counts: { numerator: 0, denominator: 0 } });
    expect(r.metrics.sensitivity.value).toBe(0);
  });

  it('throws a typed error for n = 0, NaN scores and bad labels', () => {
    expect(() => scoreBinary({ labels: [1, 2], scores: [0.1, 0.2] })).toThrow(MetricInputError);
    expect(() => scoreBinary({ labels: [], scores: [] })).toThrow(/n = 0/);
    expect(() => scoreBinary({ labels: [1, 0], scores: [Number.NaN, 0.2] })).toThrow(/not a finite number/);
  });

  it('is deterministic and keeps every CI inside [0, 1]', () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: 0, max: 1, noNaN: true }), (cs, threshold) => {
        const input = {
          labels: cs.map((c) => c.label),
          scores: cs.map((c) => c.score),
          threshold,
          bootstrap: { replicates: 50, seed: 3 },
        };
        const a = scoreBinary(input);
        expect(scoreBinary(input)).toEqual(a);
        for (const m of Object.values(a.metrics)) {
          if (m.ci === null) continue;
          expect(m.ci[0]).toBeGreaterThanOrEqual(0);
          expect(m.ci[1]).toBeLessThanOrEqual(1);
          expect(m.ci[0]).toBeLessThanOrEqual(m.ci[1]);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('metricDirection', () => {
  it('says lower is better for brier and higher for the rest of the binary metrics', () => {
    expect(metricDirection('brier')).toBe('lower');
    for (const name of BINARY_METRIC_NAMES.filter((n) => n !== 'brier')) expect(metricDirection(name)).toBe('higher');
  });

  it('refuses unknown metric names', () => {
    expect(() => metricDirection('accuracy_typo')).toThrow(/unknown metric/);
  });
});
