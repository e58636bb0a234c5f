import fc from 'fast-check';
import {
  fitLogisticRegression,
  LogisticRegressionError,
  LogisticRegressionModel,
  predictProbability,
  sigmoid,
} from './logistic-regression';

/** Gradient of the penalised negative log-likelihood, computed here independently of the fitter. */
function penalisedGradient(model: LogisticRegressionModel, x: number[][], y: number[]): number[] {
  const g = [0, ...model.weights.map((w) => model.lambda * w)];
  x.forEach((row, i) => {
    const z = row.map((v, j) => (v - (model.mean[j] ?? 0)) / (model.std[j] ?? 1));
    const eta = z.reduce((acc, v, j) => acc + v * (model.weights[j] ?? 0), model.intercept);
    const r = 1 / (1 + Math.exp(-eta)) - (y[i] ?? 0);
    g[0] = (g[0] ?? 0) + r;
    z.forEach((v, j) => (g[j + 1] = (g[j + 1] ?? 0) + r * v));
  });
  return g;
}

const maxAbs = (v: number[]): number => Math.max(...v.map(Math.abs));

describe('fitLogisticRegression', () => {
  it('has a zero gradient at the optimum on random data (property)', () => {
    const dataset = fc
      .record({ n: fc.integer({ min: 4, max: 30 }), p: fc.integer({ min: 1, max: 6 }) })
      .chain(({ n, p }) =>
        fc.record({
          x: fc.array(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: p, maxLength: p }), {
            minLength: n,
            maxLength: n,
          }),
          y: fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n }),
          lambda: fc.double({ min: 0.01, max: 10, noNaN: true }),
        }),
      )
      .filter(({ y }) => y.includes(0) && y.includes(1));
    fc.assert(
      fc.property(dataset, ({ x, y, lambda }) => {
        const model = fitLogisticRegression(x, y, { lambda });
        expect(maxAbs(penalisedGradient(model, x, y))).toBeLessThan(1e-8);
        expect(model.gradientNorm).toBeLessThan(1e-10);
        expect([...model.weights, model.intercept].every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 200, seed: 20240601 },
    );
  });

  it('stays finite on perfectly separable data thanks to the penalty', () => {
    const x = [[-3], [-2], [-1], [1], [2], [3]];
    const y = [0, 0, 0, 1, 1, 1];
    const model = fitLogisticRegression(x, y, { lambda: 1 });
    expect(Number.isFinite(model.weights[0])).toBe(true);
    expect(model.weights[0]).toBeGreaterThan(0);
    expect(Math.abs(model.weights[0] ?? Infinity)).toBeLessThan(10);
    // Symmetric data: the intercept is 0 and the probabilities mirror each other.
    expect(model.intercept).toBeCloseTo(0, 10);
    expect(predictProbability(model, [2]) + predictProbability(model, [-2])).toBeCloseTo(1, 12);
    expect(maxAbs(penalisedGradient(model, x, y))).toBeLessThan(1e-10);
  });

  it('reproduces the closed form for a binary predictor without penalty (group rates)', () => {
    // 2x2 table: x = 1 has 7 positives of 10, x = 0 has 2 positives of 8. Unpenalised ML fits each group's rate,
    // so the fitted log-odds ratio is log((7/3) / (2/6)).
    const x: number[][] = [];
    const y: number[] = [];
    const add = (value: number, positives: number, total: number): void => {
      for (let i = 0; i < total; i++) {
        x.push([value]);
        y.push(i < positives ? 1 : 0);
      }
    };
    add(1, 7, 10);
    add(0, 2, 8);
    const model = fitLogisticRegression(x, y, { lambda: 0 });
    expect(predictProbability(model, [1])).toBeCloseTo(0.7, 12);
    expect(predictProbability(model, [0])).toBeCloseTo(0.25, 12);
    const logOddsRatio = Math.log(7 / 3) - Math.log(2 / 6);
    expect((model.weights[0] ?? 0) / (model.std[0] ?? 1)).toBeCloseTo(logOddsRatio, 10);
  });

  it('matches the closed-form penalised slope on a symmetric design', () => {
    // x = +1: a positives, c negatives; x = -1: c positives, a negatives. By symmetry b = 0 and the standardised
    // slope w solves 2 ((a + c) sigmoid(w) - a) + lambda w = 0; check the fit satisfies it.
    const a = 5;
    const c = 2;
    const lambda = 0.7;
    const x = [...Array<number[]>(a + c).fill([1]), ...Array<number[]>(a + c).fill([-1])];
    const y = [...Array<number>(a).fill(1), ...Array<number>(c).fill(0), ...Array<number>(c).fill(1), ...Array<number>(a).fill(0)];
    const model = fitLogisticRegression(x, y, { lambda });
    const w = model.weights[0] ?? Number.NaN;
    expect(model.std[0]).toBeCloseTo(1, 12);
    expect(model.intercept).toBeCloseTo(0, 12);
    expect(2 * ((a + c) * sigmoid(w) - a) + lambda * w).toBeCloseTo(0, 10);
    // Sanity: the penalty shrinks the slope below the unpenalised log-odds log(a / c).
    expect(w).toBeGreaterThan(0);
    expect(w).toBeLessThan(Math.log(a / c));
  });

  it('is deterministic', () => {
    const x = [[1, 5], [2, 3], [3, 8], [4, 1], [5, 9], [6, 2]];
    const y = [0, 1, 0, 1, 1, 0];
    expect(fitLogisticRegression(x, y)).toEqual(fitLogisticRegression(x, y));
  });

  it('rejects malformed input with clear errors', () => {
    expect(() => fitLogisticRegression([], [])).toThrow(/no training rows/);
    expect(() => fitLogisticRegression([[1], [2]], [0])).toThrow(/2 rows but 1 labels/);
    expect(() => fitLogisticRegression([[1], [2, 3]], [0, 1])).toThrow(/row 1 has 2 features/);
    expect(() => fitLogisticRegression([[1], [Number.NaN]], [0, 1])).toThrow(/non-finite/);
    expect(() => fitLogisticRegression([[1], [2]], [0, 2])).toThrow(/expected 0 or 1/);
    expect(() => fitLogisticRegression([[1], [2]], [1, 1])).toThrow(LogisticRegressionError);
    expect(() => fitLogisticRegression([[1], [2]], [0, 1], { lambda: -1 })).toThrow(/lambda/);
  });
});

describe('sigmoid', () => {
  it('is stable at the extremes', () => {
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(0)).toBe(0.5);
  });
});
