// Calibration and decision curves for binary probabilities (METRICS.md §4.5).
import { MetricInputError } from './metrics.errors';

export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** null for an empty bin. */
  readonly meanPredicted: number | null;
  readonly observedRate: number | null;
}

export const RELIABILITY_BINNING =
  'equal-width bins on [0,1], bin k = (e_k, e_{k+1}] with p = 0 in the first bin (edges k/M as numpy linspace; the binning of sklearn calibration_curve(strategy="uniform"))';

export const ECE_METHOD =
  'ECE, binary reliability form Σ_m (n_m/N)|ȳ_m − p̄_m| over 10 equal-width bins (MetricsReloaded expectation_calibration_error, except p = 0 counts in the first bin); binning-dependent, not a proper score';

function checkProbabilities(labels: readonly number[], probabilities: readonly number[]): void {
  if (labels.length !== probabilities.length) {
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', `labels (${labels.length}) and probabilities (${probabilities.length}) differ in length`);
  }
  if (labels.length === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases (n = 0)');
  probabilities.forEach((p, i) => {
    if (!Number.isFinite(p) || p < 0 || p > 1) {
      throw new MetricInputError('METRIC_BAD_PROBABILITY', `probability at index ${i} (${String(p)}) is not in [0, 1]`);
    }
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new MetricInputError('METRIC_BAD_LABEL', `label at index ${i} is ${String(y)}, expected 0 or 1`);
  });
}

/** Bin edges as numpy.linspace(0, 1, M + 1): k·(1/M), last edge exactly 1. */
export function binEdges(bins: number): number[] {
  const step = 1 / bins;
  return Array.from({ length: bins + 1 }, (_, k) => (k === bins ? 1 : k * step));
}

/** Index of the bin holding p: the number of inner edges strictly below p (numpy searchsorted, side "left"). */
function binIndex(edges: readonly number[], p: number): number {
  let k = 0;
  while (k < edges.length - 2 && (edges[k + 1] as number) < p) k++;
  return k;
}

export function reliabilityCurve(labels: readonly number[], probabilities: readonly number[], bins = 10): ReliabilityBin[] {
  checkProbabilities(labels, probabilities);
  const edges = binEdges(bins);
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  probabilities.forEach((p, i) => {
    const k = binIndex(edges, p);
    count[k] = (count[k] as number) + 1;
    sumP[k] = (sumP[k] as number) + p;
    sumY[k] = (sumY[k] as number) + (labels[i] as number);
  });
  return count.map((c, k) => ({
    lower: edges[k] as number,
    upper: edges[k + 1] as number,
    count: c,
    meanPredicted: c === 0 ? null : (sumP[k] as number) / c,
    observedRate: c === 0 ? null : (sumY[k] as number) / c,
  }));
}

export function expectedCalibrationError(labels: readonly number[], probabilities: readonly number[], bins = 10): number {
  const curve = reliabilityCurve(labels, probabilities, bins);
  let ece = 0;
  for (const b of curve) {
    if (b.count > 0) ece += (b.count / labels.length) * Math.abs((b.observedRate as number) - (b.meanPredicted as number));
  }
  return ece;
}

export interface ScaledBrier {
  readonly brier: number;
  /** π(1 − π): the Brier score of always predicting the prevalence. */
  readonly brierNull: number;
  /** 1 − Brier/Brier_null; null when the prevalence is 0 or 1. */
  readonly scaled: number | null;
}

export function scaledBrier(labels: readonly number[], probabilities: readonly number[]): ScaledBrier {
  checkProbabilities(labels, probabilities);
  let sq = 0;
  let pos = 0;
  probabilities.forEach((p, i) => {
    const y = labels[i] as number;
    sq += (p - y) * (p - y);
    pos += y;
  });
  const n = labels.length;
  const prevalence = pos / n;
  const brierNull = prevalence * (1 - prevalence);
  return { brier: sq / n, brierNull, scaled: brierNull === 0 ? null : 1 - sq / n / brierNull };
}

export interface LogisticRecalibration {
  /** Calibration intercept: a in logit P(y=1) = a + logit(p) (slope fixed at 1, logit(p) as offset). */
  readonly intercept: number | null;
  /** Calibration slope: b in logit P(y=1) = a' + b·logit(p). */
  readonly slope: number | null;
  /** a' of the slope model. */
  readonly slopeModelIntercept: number | null;
  readonly method: string;
}

export const LOGISTIC_METHOD =
  'logistic recalibration by maximum likelihood (as R glm(family = binomial)): Newton–Raphson/IRLS with step-halving ' +
  'whenever a step does not lower the deviance, started at the null model (intercept logit ȳ − mean logit p, slope 0), ' +
  'rows sorted by (logit p, y) first so the sums do not depend on row order; intercept from y ~ 1 + offset(logit p), ' +
  'slope from y ~ 1 + logit p; ideal 0 and 1. Complete or quasi-complete separation (max logit p of one class ≤ min ' +
  'of the other) and constant p (slope not identifiable) are detected before fitting and reported as such';

export type RecalibrationVerdict = 'ok' | 'separation' | 'not-identifiable' | 'not-converged' | 'not-estimable';

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** Binomial deviance −2 Σ [y log μ + (1 − y) log(1 − μ)] at η = a + b·x (b fixed for the offset model). */
function deviance(y: Uint8Array, x: Float64Array, a: number, b: number): number {
  let d = 0;
  for (let i = 0; i < y.length; i++) {
    const eta = a + b * (x[i] as number);
    d += y[i] === 1 ? softplus(-eta) : softplus(eta);
  }
  return 2 * d;
}

export interface LogisticFit {
  readonly a: number;
  readonly b: number;
  readonly converged: boolean;
  readonly iterations: number;
}

/**
 * Newton–Raphson (= IRLS for the canonical link) for y ~ 1 + x, or y ~ 1 + offset(x) when slopeFixed, with
 * step-halving on the deviance: a step that does not lower the deviance is halved (up to 60 times). The log-likelihood
 * is strictly concave when the MLE exists (checked by the caller), so this converges from any start. Converged when
 * the Newton step is below 1e-10·(1 + |β|); not converged after 100 iterations or when no halving stops an increase.
 */
export function fitLogistic(y: Uint8Array, x: Float64Array, slopeFixed: boolean, start: [number, number]): LogisticFit {
  let [a, b] = start;
  let dev = deviance(y, x, a, b);
  if (!Number.isFinite(dev)) return { a, b, converged: false, iterations: 0 };
  for (let iter = 1; iter <= 100; iter++) {
    let g0 = 0;
    let g1 = 0;
    let h00 = 0;
    let h01 = 0;
    let h11 = 0;
    for (let i = 0; i < y.length; i++) {
      const xi = x[i] as number;
      const mu = sigmoid(a + b * xi);
      const r = (y[i] as number) - mu;
      const w = mu * (1 - mu);
      g0 += r;
      g1 += r * xi;
      h00 += w;
      h01 += w * xi;
      h11 += w * xi * xi;
    }
    let da: number;
    let db = 0;
    if (slopeFixed) {
      if (!(h00 > 0)) return { a, b, converged: false, iterations: iter };
      da = g0 / h00;
    } else {
      const det = h00 * h11 - h01 * h01;
      if (!(det > 0)) return { a, b, converged: false, iterations: iter };
      da = (h11 * g0 - h01 * g1) / det;
      db = (h00 * g1 - h01 * g0) / det;
    }
    if (Math.abs(da) <= 1e-10 * (1 + Math.abs(a)) && Math.abs(db) <= 1e-10 * (1 + Math.abs(b))) {
      // One last full Newton step: at this distance it is quadratically accurate.
      return { a: a + da, b: b + db, converged: true, iterations: iter };
    }
    // Deviance differences below its rounding error (~1e-13 relative) carry no information: such a step is accepted
    // as it is (near the optimum, where Newton is quadratically convergent); any real increase is halved.
    const slack = 1e-13 * (Math.abs(dev) + 1);
    let step = 1;
    let na = a + da;
    let nb = b + db;
    let nd = deviance(y, x, na, nb);
    let halvings = 0;
    while (!(nd <= dev + slack) && halvings < 60) {
      step /= 2;
      na = a + step * da;
      nb = b + step * db;
      nd = deviance(y, x, na, nb);
      halvings++;
    }
    if (!(nd <= dev + slack)) return { a, b, converged: false, iterations: iter };
    a = na;
    b = nb;
    dev = nd;
  }
  return { a, b, converged: false, iterations: 100 };
}

export interface LogisticRecalibration {
  /** Calibration intercept: a in logit P(y=1) = a + logit(p) (slope fixed at 1, logit(p) as offset). */
  readonly intercept: number | null;
  /** Calibration slope: b in logit P(y=1) = a' + b·logit(p). */
  readonly slope: number | null;
  /** a' of the slope model. */
  readonly slopeModelIntercept: number | null;
  readonly interceptVerdict: RecalibrationVerdict;
  readonly slopeVerdict: RecalibrationVerdict;
  readonly method: string;
}

export function logisticRecalibration(labels: readonly number[], probabilities: readonly number[]): LogisticRecalibration {
  checkProbabilities(labels, probabilities);
  const none = (verdict: RecalibrationVerdict, why: string): LogisticRecalibration => ({
    intercept: null,
    slope: null,
    slopeModelIntercept: null,
    interceptVerdict: verdict,
    slopeVerdict: verdict,
    method: `${LOGISTIC_METHOD}; not estimable: ${why}`,
  });
  if (probabilities.some((p) => p === 0 || p === 1)) return none('not-estimable', 'a probability is exactly 0 or 1 (logit infinite)');
  const n = labels.length;
  // Sorted by (logit p, y): every sum below is then taken in an order that does not depend on the input row order.
  const lp = Float64Array.from(probabilities, (p) => Math.log(p / (1 - p)));
  const idx = Int32Array.from({ length: n }, (_, i) => i).sort((i, j) => (lp[i] as number) - (lp[j] as number) || (labels[i] as number) - (labels[j] as number));
  const x = Float64Array.from(idx, (i) => lp[i] as number);
  const y = Uint8Array.from(idx, (i) => labels[i] as number);
  let pos = 0;
  let sumX = 0;
  let minPos = Infinity;
  let maxPos = -Infinity;
  let minNeg = Infinity;
  let maxNeg = -Infinity;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    sumX += xi;
    if (y[i] === 1) {
      pos++;
      minPos = Math.min(minPos, xi);
      maxPos = Math.max(maxPos, xi);
    } else {
      minNeg = Math.min(minNeg, xi);
      maxNeg = Math.max(maxNeg, xi);
    }
  }
  if (pos === 0 || pos === n) return none('not-estimable', 'one class only (the maximum-likelihood intercept is infinite)');
  const nullIntercept = Math.log(pos / (n - pos));
  const notes: string[] = [];
  // Intercept model: one parameter, strictly concave log-likelihood; the MLE exists whenever both classes occur.
  const off = fitLogistic(y, x, true, [nullIntercept - sumX / n, 1]);
  const intercept = off.converged ? off.a : null;
  const interceptVerdict: RecalibrationVerdict = off.converged ? 'ok' : 'not-converged';
  if (!off.converged) notes.push(`intercept fit did not converge in ${off.iterations} iterations`);
  let slope: number | null = null;
  let slopeModelIntercept: number | null = null;
  let slopeVerdict: RecalibrationVerdict;
  if (x[0] === x[n - 1]) {
    slopeVerdict = 'not-identifiable';
    notes.push('slope not identifiable: every predicted probability is the same, so logit p is collinear with the intercept');
  } else if (maxNeg <= minPos || maxPos <= minNeg) {
    slopeVerdict = 'separation';
    const kind = maxNeg < minPos || maxPos < minNeg ? 'complete' : 'quasi-complete';
    notes.push(`slope not estimable: ${kind} separation (logit p separates the classes), the maximum-likelihood slope is infinite`);
  } else {
    const full = fitLogistic(y, x, false, [nullIntercept, 0]);
    if (full.converged) {
      slope = full.b;
      slopeModelIntercept = full.a;
      slopeVerdict = 'ok';
    } else {
      slopeVerdict = 'not-converged';
      notes.push(`slope fit did not converge in ${full.iterations} iterations`);
    }
  }
  return {
    intercept,
    slope,
    slopeModelIntercept,
    interceptVerdict,
    slopeVerdict,
    method: notes.length === 0 ? LOGISTIC_METHOD : `${LOGISTIC_METHOD}; ${notes.join('; ')} (reported as null)`,
  };
}

export interface DecisionCurvePoint {
  readonly threshold: number;
  readonly netBenefit: number;
  readonly treatAll: number;
  readonly treatNone: 0;
}

/** Thresholds k/100 for k = 1..99 (computed as k/100, not by accumulation, so 0.29 is exactly 29/100). */
export const DEFAULT_DECISION_THRESHOLDS: readonly number[] = Array.from({ length: 99 }, (_, k) => (k + 1) / 100);

export const DECISION_CURVE_METHOD =
  'net benefit (Vickers & Elkin 2006): NB(p_t) = TP/N − (FP/N)·p_t/(1−p_t), positive iff p ≥ p_t; treat-all = π − (1−π)·p_t/(1−p_t); treat-none = 0; uses the test-set prevalence';

export function decisionCurve(
  labels: readonly number[],
  probabilities: readonly number[],
  thresholds: readonly number[] = DEFAULT_DECISION_THRESHOLDS,
): DecisionCurvePoint[] {
  checkProbabilities(labels, probabilities);
  const n = labels.length;
  const prevalence = labels.reduce((s, y) => s + y, 0) / n;
  return thresholds.map((t) => {
    if (!(t > 0 && t < 1)) throw new MetricInputError('METRIC_BAD_PARAMETER', `decision threshold ${t} is not in (0, 1)`);
    let tp = 0;
    let fp = 0;
    probabilities.forEach((p, i) => {
      if (p >= t) {
        if (labels[i] === 1) tp++;
        else fp++;
      }
    });
    const odds = t / (1 - t);
    return { threshold: t, netBenefit: tp / n - (fp / n) * odds, treatAll: prevalence - (1 - prevalence) * odds, treatNone: 0 };
  });
}

export interface CalibrationReport {
  readonly bins: number;
  readonly binning: string;
  readonly reliability: ReliabilityBin[];
  readonly brier: number;
  readonly scaledBrier: number | null;
  readonly scaledBrierMethod: string;
  readonly ece: number;
  readonly eceMethod: string;
  readonly intercept: number | null;
  readonly slope: number | null;
  /** 'ok', or why intercept/slope is null: separation, not-identifiable (constant p), not-converged, not-estimable. */
  readonly interceptVerdict: RecalibrationVerdict;
  readonly slopeVerdict: RecalibrationVerdict;
  readonly recalibrationMethod: string;
  readonly decisionCurve: { readonly method: string; readonly points: DecisionCurvePoint[] };
}

export function calibrationReport(
  labels: readonly number[],
  probabilities: readonly number[],
  options: { readonly decisionThresholds?: readonly number[] } = {},
): CalibrationReport {
  const sb = scaledBrier(labels, probabilities);
  const rec = logisticRecalibration(labels, probabilities);
  return {
    bins: 10,
    binning: RELIABILITY_BINNING,
    reliability: reliabilityCurve(labels, probabilities, 10),
    brier: sb.brier,
    scaledBrier: sb.scaled,
    scaledBrierMethod: '1 − Brier/(π(1−π)), π = test-set prevalence',
    ece: expectedCalibrationError(labels, probabilities, 10),
    eceMethod: ECE_METHOD,
    intercept: rec.intercept,
    slope: rec.slope,
    interceptVerdict: rec.interceptVerdict,
    slopeVerdict: rec.slopeVerdict,
    recalibrationMethod: rec.method,
    decisionCurve: { method: DECISION_CURVE_METHOD, points: decisionCurve(labels, probabilities, options.decisionThresholds) },
  };
}
