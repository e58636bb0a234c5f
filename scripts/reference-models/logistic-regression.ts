// L2-regularised logistic regression fitted by Newton's method (IRLS), pure and deterministic.
//
// Features are standardised with the training mean and population standard deviation; the fit minimises
//   sum_i [ log(1 + exp(eta_i)) - y_i * eta_i ] + (lambda / 2) * ||w||^2,   eta_i = b + z_i . w
// where z are the standardised features, w the standardised-scale weights and b the (unpenalised) intercept.
// With lambda > 0 the objective is strictly convex in w and coercive, so the optimum is finite even on
// linearly separable data (which 20 WDBC cases nearly always are).

export interface LogisticRegressionOptions {
  /** L2 penalty on the standardised-scale weights (not on the intercept). Default 1.0. */
  readonly lambda?: number;
  /** Stop when the largest Newton step component and the largest gradient component are below this. */
  readonly tolerance?: number;
  readonly maxIterations?: number;
}

export interface LogisticRegressionModel {
  /** Per-feature training mean (the value subtracted before scaling). */
  readonly mean: readonly number[];
  /** Per-feature training population standard deviation (1 where a feature is constant). */
  readonly std: readonly number[];
  /** Weights on the standardised scale. */
  readonly weights: readonly number[];
  readonly intercept: number;
  readonly lambda: number;
  readonly iterations: number;
  /** Largest absolute gradient component of the penalised objective at the returned parameters. */
  readonly gradientNorm: number;
  readonly n: number;
}

export class LogisticRegressionError extends Error {
  readonly code = 'logistic_regression_failed';
  constructor(message: string) {
    super(message);
    this.name = 'LogisticRegressionError';
  }
}

export const DEFAULT_LAMBDA = 1.0;
export const DEFAULT_TOLERANCE = 1e-10;

/** Numerically stable logistic function. */
export function sigmoid(eta: number): number {
  if (eta >= 0) return 1 / (1 + Math.exp(-eta));
  const e = Math.exp(eta);
  return e / (1 + e);
}

/** log(1 + exp(eta)) without overflow. */
function softplus(eta: number): number {
  return eta > 0 ? eta + Math.log1p(Math.exp(-eta)) : Math.log1p(Math.exp(eta));
}

export function standardisation(x: readonly (readonly number[])[]): { mean: number[]; std: number[] } {
  const n = x.length;
  const p = x[0]?.length ?? 0;
  const mean = new Array<number>(p).fill(0);
  const std = new Array<number>(p).fill(0);
  for (const row of x) for (let j = 0; j < p; j++) mean[j] = (mean[j] ?? 0) + (row[j] ?? 0) / n;
  for (const row of x) {
    for (let j = 0; j < p; j++) {
      const d = (row[j] ?? 0) - (mean[j] ?? 0);
      std[j] = (std[j] ?? 0) + (d * d) / n;
    }
  }
  for (let j = 0; j < p; j++) {
    const s = Math.sqrt(std[j] ?? 0);
    std[j] = s > 0 ? s : 1;
  }
  return { mean, std };
}

function at(values: readonly number[], i: number): number {
  const v = values[i];
  if (v === undefined) throw new LogisticRegressionError(`index ${i} out of range`);
  return v;
}

/** Solves A x = rhs for symmetric positive definite A (Cholesky). A is p x p, row-major. */
function solveSpd(a: readonly number[], rhs: readonly number[], p: number): number[] {
  const l = new Array<number>(p * p).fill(0);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = at(a, i * p + j);
      for (let k = 0; k < j; k++) sum -= at(l, i * p + k) * at(l, j * p + k);
      if (i === j) {
        if (!(sum > 0)) throw new LogisticRegressionError('Hessian is not positive definite');
        l[i * p + i] = Math.sqrt(sum);
      } else {
        l[i * p + j] = sum / at(l, j * p + j);
      }
    }
  }
  const y = new Array<number>(p).fill(0);
  for (let i = 0; i < p; i++) {
    let sum = at(rhs, i);
    for (let k = 0; k < i; k++) sum -= at(l, i * p + k) * at(y, k);
    y[i] = sum / at(l, i * p + i);
  }
  const x = new Array<number>(p).fill(0);
  for (let i = p - 1; i >= 0; i--) {
    let sum = at(y, i);
    for (let k = i + 1; k < p; k++) sum -= at(l, k * p + i) * at(x, k);
    x[i] = sum / at(l, i * p + i);
  }
  return x;
}

/**
 * Fits the model. `x` is n rows of p raw features, `y` the 0/1 labels.
 * Throws LogisticRegressionError on malformed input or when Newton does not converge.
 */
export function fitLogisticRegression(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: LogisticRegressionOptions = {},
): LogisticRegressionModel {
  const lambda = options.lambda ?? DEFAULT_LAMBDA;
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const maxIterations = options.maxIterations ?? 100;
  const n = x.length;
  const p = x[0]?.length ?? 0;
  if (n === 0) throw new LogisticRegressionError('no training rows');
  if (y.length !== n) throw new LogisticRegressionError(`${n} rows but ${y.length} labels`);
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new LogisticRegressionError(`lambda must be >= 0, got ${lambda}`);
  x.forEach((row, i) => {
    if (row.length !== p) throw new LogisticRegressionError(`row ${i} has ${row.length} features, expected ${p}`);
    if (!row.every(Number.isFinite)) throw new LogisticRegressionError(`row ${i} has a non-finite feature`);
  });
  y.forEach((v, i) => {
    if (v !== 0 && v !== 1) throw new LogisticRegressionError(`label ${i} is ${v}, expected 0 or 1`);
  });

  const positives = y.filter((v) => v === 1).length;
  if (positives === 0 || positives === n) {
    throw new LogisticRegressionError('labels must contain both classes: the intercept has no finite optimum otherwise');
  }

  const { mean, std } = standardisation(x);
  // Design matrix with a leading column of ones: parameter 0 is the intercept.
  const d = p + 1;
  const z = x.map((row) => [1, ...row.map((v, j) => (v - at(mean, j)) / at(std, j))]);
  let beta = new Array<number>(d).fill(0);

  const etas = (b: readonly number[]): number[] =>
    z.map((row) => row.reduce((acc, v, j) => acc + v * at(b, j), 0));
  const objective = (b: readonly number[]): number => {
    let loss = 0;
    etas(b).forEach((eta, i) => (loss += softplus(eta) - at(y, i) * eta));
    for (let j = 1; j < d; j++) loss += (lambda / 2) * at(b, j) ** 2;
    return loss;
  };
  const gradient = (b: readonly number[], eta: readonly number[]): number[] => {
    const g = b.map((v, j) => (j === 0 ? 0 : lambda * v));
    z.forEach((row, i) => {
      const r = sigmoid(at(eta, i)) - at(y, i);
      for (let j = 0; j < d; j++) g[j] = at(g, j) + r * at(row, j);
    });
    return g;
  };
  const maxAbs = (v: readonly number[]): number => v.reduce((m, e) => Math.max(m, Math.abs(e)), 0);

  let current = objective(beta);
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const eta = etas(beta);
    const g = gradient(beta, eta);
    const h = new Array<number>(d * d).fill(0);
    for (let j = 1; j < d; j++) h[j * d + j] = lambda;
    z.forEach((row, i) => {
      const pi = sigmoid(at(eta, i));
      const wi = pi * (1 - pi);
      for (let a = 0; a < d; a++) {
        const wa = wi * at(row, a);
        for (let c = 0; c <= a; c++) h[a * d + c] = at(h, a * d + c) + wa * at(row, c);
      }
    });
    for (let a = 0; a < d; a++) for (let c = a + 1; c < d; c++) h[a * d + c] = at(h, c * d + a);
    const step = solveSpd(h, g, d);

    // Damped Newton: halve until the objective does not increase (pure Newton near the optimum).
    let t = 1;
    let candidate = beta.map((v, j) => v - t * at(step, j));
    let value = objective(candidate);
    while (value > current + 1e-12 * Math.abs(current) && t > 1e-10) {
      t /= 2;
      candidate = beta.map((v, j) => v - t * at(step, j));
      value = objective(candidate);
    }
    beta = candidate;
    current = value;
    const gNew = gradient(beta, etas(beta));
    if (maxAbs(gNew) < tolerance || (t === 1 && maxAbs(step) < tolerance)) {
      return {
        mean,
        std,
        weights: beta.slice(1),
        intercept: at(beta, 0),
        lambda,
        iterations: iteration,
        gradientNorm: maxAbs(gNew),
        n,
      };
    }
  }
  throw new LogisticRegressionError(`Newton did not converge within ${maxIterations} iterations`);
}

/** The linear predictor b + sum_j w_j (x_j - mean_j) / std_j for one raw feature row. */
export function linearPredictor(model: LogisticRegressionModel, row: readonly number[]): number {
  if (row.length !== model.weights.length) {
    throw new LogisticRegressionError(`row has ${row.length} features, model expects ${model.weights.length}`);
  }
  return model.weights.reduce(
    (acc, w, j) => acc + (w * (at(row, j) - at(model.mean, j))) / at(model.std, j),
    model.intercept,
  );
}

/** Probability of the positive class (malignant) for one raw feature row. */
export function predictProbability(model: LogisticRegressionModel, row: readonly number[]): number {
  return sigmoid(linearPredictor(model, row));
}
