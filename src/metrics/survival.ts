// Survival discrimination (METRICS.md §5): Harrell's and Uno's concordance, weighted so the bootstrap engine can
// resample patients. Risk: higher = worse (shorter survival). event: 1 = death, 0 = censored.
import { bootstrapCi, type BootstrapCi, type IntervalMethod } from './bootstrap';
import { MetricInputError } from './metrics.errors';

export interface SurvivalInput {
  readonly time: readonly number[];
  readonly event: readonly number[];
  readonly risk: readonly number[];
}

/** scikit-survival's tolerance: |risk_i − risk_j| ≤ 1e-8 counts as a tied risk. */
export const TIED_RISK_TOL = 1e-8;

export const HARRELL_METHOD =
  "Harrell's C: pair (i, j) comparable if δ_i = 1 and (T_i < T_j, or T_i = T_j with δ_j = 0); concordant if risk_i > risk_j, " +
  'tied risk (|Δ| ≤ 1e-8) counts ½; pairs with tied event times are not comparable (scikit-survival concordance_index_censored)';

export function unoMethod(tau: number, tauSource: string): string {
  return (
    `Uno's C (Uno et al. 2011) with IPCW weights Ĝ(T_i)⁻², Ĝ = Kaplan–Meier of the censoring distribution with deaths at t ` +
    `removed from the censoring risk set at t, evaluated right-continuously at T_i (scikit-survival concordance_index_ipcw, ` +
    `train = test); pairs as Harrell's, restricted to T_i < τ; τ = ${tau} (${tauSource}); tied risk ½`
  );
}

/** Validates and returns the indices ordered by ascending time (deaths before censorings at equal time). */
function prepare(input: SurvivalInput): Int32Array {
  const { time, event, risk } = input;
  const n = time.length;
  if (event.length !== n || risk.length !== n) {
    throw new MetricInputError('METRIC_LENGTH_MISMATCH', `time (${n}), event (${event.length}) and risk (${risk.length}) differ in length`);
  }
  if (n === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'no cases to score (n = 0)');
  for (let i = 0; i < n; i++) {
    const t = time[i] as number;
    if (!Number.isFinite(t) || t < 0) throw new MetricInputError('METRIC_BAD_PARAMETER', `time at index ${i} (${String(t)}) is not a finite number ≥ 0`);
    const e = event[i];
    if (e !== 0 && e !== 1) throw new MetricInputError('METRIC_BAD_LABEL', `event at index ${i} is ${String(e)}, expected 0 or 1`);
    if (!Number.isFinite(risk[i] as number)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `risk at index ${i} is not a finite number`);
  }
  if (!event.some((e) => e === 1)) {
    throw new MetricInputError('METRIC_ONE_CLASS', 'all cases are censored: no comparable pairs, concordance not estimable');
  }
  return Int32Array.from({ length: n }, (_, i) => i).sort(
    (i, j) => (time[i] as number) - (time[j] as number) || (event[j] as number) - (event[i] as number) || i - j,
  );
}

/**
 * Σ over comparable pairs of w_i·w_j·pairWeight_i·[concordant + ½ tied], and the same without the indicator.
 * pairWeight is 1 (Harrell) or the IPCW factor of i (Uno). O(n²) over the pairs; fine for cohorts of thousands.
 */
function concordanceSums(
  input: SurvivalInput,
  order: Int32Array,
  weights: Float64Array,
  pairWeight: Float64Array | null,
): { num: number; den: number } {
  const { time, event, risk } = input;
  const n = order.length;
  let num = 0;
  let den = 0;
  for (let a = 0; a < n; a++) {
    const i = order[a] as number;
    const wi = weights[i] as number;
    if (event[i] !== 1 || wi === 0) continue;
    const pw = pairWeight ? (pairWeight[i] as number) : 1;
    if (pw === 0) continue;
    const ti = time[i] as number;
    const ri = risk[i] as number;
    let rowNum = 0;
    let rowDen = 0;
    for (let b = a + 1; b < n; b++) {
      const j = order[b] as number;
      const wj = weights[j] as number;
      if (wj === 0) continue;
      // Equal times: comparable only when j is censored (the censored one is taken to outlive the death).
      if ((time[j] as number) === ti && event[j] === 1) continue;
      const d = ri - (risk[j] as number);
      rowDen += wj;
      if (Math.abs(d) <= TIED_RISK_TOL) rowNum += 0.5 * wj;
      else if (d > 0) rowNum += wj;
    }
    num += wi * pw * rowNum;
    den += wi * pw * rowDen;
  }
  return { num, den };
}

export interface ConcordanceCounts {
  readonly cIndex: number;
  readonly concordant: number;
  readonly discordant: number;
  readonly tiedRisk: number;
  readonly comparable: number;
}

/** Harrell's C with the pair counts scikit-survival reports. */
export function harrellC(input: SurvivalInput): ConcordanceCounts {
  const order = prepare(input);
  const { time, event, risk } = input;
  let concordant = 0;
  let discordant = 0;
  let tiedRisk = 0;
  for (let a = 0; a < order.length; a++) {
    const i = order[a] as number;
    if (event[i] !== 1) continue;
    for (let b = a + 1; b < order.length; b++) {
      const j = order[b] as number;
      if ((time[j] as number) === (time[i] as number) && event[j] === 1) continue;
      const d = (risk[i] as number) - (risk[j] as number);
      if (Math.abs(d) <= TIED_RISK_TOL) tiedRisk++;
      else if (d > 0) concordant++;
      else discordant++;
    }
  }
  const comparable = concordant + discordant + tiedRisk;
  if (comparable === 0) throw new MetricInputError('METRIC_ONE_CLASS', 'no comparable pairs: concordance not estimable');
  return { cIndex: (concordant + 0.5 * tiedRisk) / comparable, concordant, discordant, tiedRisk, comparable };
}

/** Weighted Harrell's C (weights = patient multiplicities); NaN when no comparable pair has weight. */
export function weightedHarrellC(input: SurvivalInput, order: Int32Array, weights: Float64Array): number {
  const { num, den } = concordanceSums(input, order, weights, null);
  return den === 0 ? Number.NaN : num / den;
}

/**
 * Ĝ(T_i) for every i from the weighted reverse Kaplan–Meier (scikit-survival kaplan_meier_estimator(reverse=True)):
 * at each distinct time t, Ĝ ×= 1 − c_t/(r_t − d_t), r_t = weight at risk (T ≥ t), d_t deaths, c_t censorings at t;
 * a factor with r_t − d_t = 0 is 1. Ĝ(T_i) includes the factor at T_i (right-continuous).
 */
export function censoringSurvivalAt(input: SurvivalInput, order: Int32Array, weights: Float64Array): Float64Array {
  const { time, event } = input;
  const n = order.length;
  let atRisk = 0;
  for (let k = 0; k < n; k++) atRisk += weights[order[k] as number] as number;
  const g = new Float64Array(n);
  let surv = 1;
  let k = 0;
  while (k < n) {
    const t = time[order[k] as number] as number;
    let end = k;
    let deaths = 0;
    let censored = 0;
    while (end < n && (time[order[end] as number] as number) === t) {
      const idx = order[end] as number;
      if (event[idx] === 1) deaths += weights[idx] as number;
      else censored += weights[idx] as number;
      end++;
    }
    const r = atRisk - deaths;
    if (r > 0) surv *= 1 - censored / r;
    for (let q = k; q < end; q++) g[order[q] as number] = surv;
    atRisk -= deaths + censored;
    k = end;
  }
  return g;
}

/** Largest time with an observed death: the default τ. */
export function largestEventTime(input: SurvivalInput): number {
  let tau = Number.NEGATIVE_INFINITY;
  input.time.forEach((t, i) => {
    if (input.event[i] === 1 && t > tau) tau = t;
  });
  return tau;
}

/** Weighted Uno's C; NaN when Ĝ = 0 at an event time before τ or no comparable pair has weight. */
export function weightedUnoC(input: SurvivalInput, order: Int32Array, weights: Float64Array, tau: number): number {
  const g = censoringSurvivalAt(input, order, weights);
  const ipcw = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) {
    if (input.event[i] !== 1 || (weights[i] as number) === 0 || !((input.time[i] as number) < tau)) continue;
    const gi = g[i] as number;
    if (gi === 0) return Number.NaN;
    ipcw[i] = 1 / (gi * gi);
  }
  const { num, den } = concordanceSums(input, order, weights, ipcw);
  return den === 0 ? Number.NaN : num / den;
}

export function unoC(input: SurvivalInput, tau?: number): number {
  const order = prepare(input);
  const t = tau ?? largestEventTime(input);
  const value = weightedUnoC(input, order, new Float64Array(order.length).fill(1), t);
  if (Number.isNaN(value)) {
    throw new MetricInputError(
      'METRIC_BAD_PARAMETER',
      `Uno's C not estimable with τ = ${t}: no comparable pair with T_i < τ, or the censoring survival Ĝ is 0 at an event time before τ (choose a smaller τ)`,
    );
  }
  return value;
}

export interface SurvivalCiOptions {
  readonly replicates: number;
  readonly seed: number;
  readonly interval?: IntervalMethod;
}

/** Harrell's C with a patient bootstrap CI (plain, not stratified: event status is an outcome, not a design stratum). */
export function harrellCWithCi(input: SurvivalInput, options: SurvivalCiOptions): BootstrapCi {
  const order = prepare(input);
  const ci = bootstrapCi((w) => weightedHarrellC(input, order, w), { n: order.length, unit: 'patient', ...options });
  return { ...ci, method: `${HARRELL_METHOD}; CI: ${ci.method}` };
}

export function unoCWithCi(input: SurvivalInput, options: SurvivalCiOptions & { readonly tau?: number }): BootstrapCi & { tau: number } {
  const order = prepare(input);
  const tau = options.tau ?? largestEventTime(input);
  unoC(input, tau);
  const ci = bootstrapCi((w) => weightedUnoC(input, order, w, tau), {
    n: order.length,
    unit: 'patient',
    replicates: options.replicates,
    seed: options.seed,
    interval: options.interval,
  });
  const tauSource = options.tau === undefined ? 'default: the largest observed event time, so deaths at exactly τ are excluded' : 'given';
  return { ...ci, tau, method: `${unoMethod(tau, tauSource)}; Ĝ re-estimated in each replicate; CI: ${ci.method}` };
}

/** Sort order for weighted statistics: exported so callers computing several statistics sort once. */
export function survivalOrder(input: SurvivalInput): Int32Array {
  return prepare(input);
}
