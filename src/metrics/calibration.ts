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

const LOGISTIC_METHOD =
  'logistic recalibration by Newton–Raphson (maximum likelihood, as R glm(family = binomial)): intercept from y ~ 1 + offset(logit p), slope from y ~ 1 + logit p; ideal 0 and 1';

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Newton–Raphson for logistic regression with design [1, x] (or [1] with offset x when slopeFixed). */
function fitLogistic(y: readonly number[], x: readonly number[], slopeFixed: boolean): [number, number] | null {
  let a = 0;
  let b = slopeFixed ? 1 : 0;
  for (let iter = 0; iter < 100; iter++) {
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
      if (h00 === 0) return null;
      da = g0 / h00;
    } else {
      const det = h00 * h11 - h01 * h01;
      if (!(det > 0)) return null;
      da = (h11 * g0 - h01 * g1) / det;
      db = (h00 * g1 - h01 * g0) / det;
    }
    a += da;
    b += db;
    if (!Number.isFinite(a) || !Number.isFinite(b)) return null;
    if (Math.abs(da) < 1e-13 * (1 + Math.abs(a)) && Math.abs(db) < 1e-13 * (1 + Math.abs(b))) return [a, b];
  }
  // No convergence in 100 Newton steps means separation (estimates run off to infinity).
  return null;
}

export function logisticRecalibration(labels: readonly number[], probabilities: readonly number[]): LogisticRecalibration {
  checkProbabilities(labels, probabilities);
  if (probabilities.some((p) => p === 0 || p === 1)) {
    return { intercept: null, slope: null, slopeModelIntercept: null, method: `${LOGISTIC_METHOD}; not estimable: a probability is exactly 0 or 1 (logit infinite)` };
  }
  const lp = probabilities.map((p) => Math.log(p / (1 - p)));
  const pos = labels.reduce((s, y) => s + y, 0);
  if (pos === 0 || pos === labels.length) {
    return { intercept: null, slope: null, slopeModelIntercept: null, method: `${LOGISTIC_METHOD}; not estimable: one class only` };
  }
  const offset = fitLogistic(labels, lp, true);
  const full = fitLogistic(labels, lp, false);
  return {
    intercept: offset ? offset[0] : null,
    slope: full ? full[1] : null,
    slopeModelIntercept: full ? full[0] : null,
    method: full && offset ? LOGISTIC_METHOD : `${LOGISTIC_METHOD}; a fit did not converge (separation), reported as null`,
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
    recalibrationMethod: rec.method,
    decisionCurve: { method: DECISION_CURVE_METHOD, points: decisionCurve(labels, probabilities, options.decisionThresholds) },
  };
}
