// Survival discrimination (METRICS.md §5): Harrell's and Uno's concordance, weighted so the bootstrap engine can
// resample patients. Risk: higher = worse (shorter survival). event: 1 = death, 0 = censored.
import { bootstrapCi, bootstrapCis, type BootstrapCi, type IntervalMethod } from './bootstrap';
import { MetricInputError } from './metrics.errors';

export interface SurvivalInput {
  readonly time: readonly number[];
  readonly event: readonly number[];
  readonly risk: readonly number[];
}

/**
 * Risks are compared exactly (a tie is risk_i === risk_j), as R survival::concordance and lifelines do, so C is
 * invariant under every strictly increasing transform of the risk. scikit-survival's default absolute tolerance
 * (tied_tol = 1e-8) is not used: it makes C depend on the scale (risks × 1e-9 would all tie, C = 0.5).
 */
export const RISK_TIE_CONVENTION = 'risks compared exactly (tie iff risk_i = risk_j; scale-free, as R survival concordance and lifelines; not scikit-survival\'s tied_tol = 1e-8)';

export const HARRELL_METHOD =
  "Harrell's C: pair (i, j) comparable if δ_i = 1 and (T_i < T_j, or T_i = T_j with δ_j = 0); concordant if risk_i > risk_j, " +
  `tied risk counts ½, ${RISK_TIE_CONVENTION}; pairs with tied event times are not comparable (pair rule of scikit-survival concordance_index_censored and R survival concordance)`;

/** τ is printed only when the benchmark gave it: the default is a held-out event time, which stays in the `tau` field. */
export function unoMethod(tau: number | null, tauSource: string): string {
  return (
    `Uno's C (Uno et al. 2011) with IPCW weights Ĝ(T_i)⁻², Ĝ = Kaplan–Meier of the censoring distribution with deaths at t ` +
    `removed from the censoring risk set at t, evaluated right-continuously at T_i (scikit-survival concordance_index_ipcw, ` +
    `train = test); pairs as Harrell's, restricted to T_i < τ; τ = ${tau === null ? '' : `${tau} `}(${tauSource}); tied risk ½, ${RISK_TIE_CONVENTION}`
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
 * Everything about a cohort that does not change between bootstrap replicates, built once per (input, order): time
 * tie groups along `order`, and per case the range of risk ranks it is concordant with / tied with.
 */
interface ConcordancePrep {
  readonly n: number;
  /** groupStart[g]..groupStart[g+1] = positions in `order` with equal time (deaths first). */
  readonly groupStart: Int32Array;
  /** Rank of each case in ascending risk (1-based, for the Fenwick tree). */
  readonly riskRank: Int32Array;
  /** Cases with risk rank < lo[i] have risk_j < risk_i (concordant when i dies first). */
  readonly lo: Int32Array;
  /** Cases with risk rank in [lo[i], hi[i]) are tied with i (risk_j = risk_i exactly). */
  readonly hi: Int32Array;
  /** Fenwick tree over risk ranks (scratch, reused by every replicate). */
  readonly tree: Float64Array;
  /** Per position in `order`: Σ w_j·[concordant + ½ tied] and Σ w_j over the comparable j of that case (scratch). */
  readonly rowNum: Float64Array;
  readonly rowDen: Float64Array;
  /** Scratch for Ĝ and the IPCW factors. */
  readonly g: Float64Array;
  readonly ipcw: Float64Array;
}

function buildPrep(input: SurvivalInput, order: Int32Array): ConcordancePrep {
  const { time, risk } = input;
  const n = order.length;
  const starts: number[] = [];
  for (let a = 0; a < n; a++) {
    if (a === 0 || (time[order[a] as number] as number) !== (time[order[a - 1] as number] as number)) starts.push(a);
  }
  starts.push(n);
  const byRisk = Int32Array.from({ length: n }, (_, i) => i).sort((i, j) => (risk[i] as number) - (risk[j] as number) || i - j);
  const sortedRisk = Float64Array.from(byRisk, (i) => risk[i] as number);
  const riskRank = new Int32Array(n);
  for (let k = 0; k < n; k++) riskRank[byRisk[k] as number] = k + 1;
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  // Exact comparisons: "concordant" (risk_j < risk_i) is a prefix of the ascending risk order, "discordant" a suffix.
  for (let i = 0; i < n; i++) {
    const ri = risk[i] as number;
    let a = 0;
    let b = n;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if ((sortedRisk[mid] as number) < ri) a = mid + 1;
      else b = mid;
    }
    lo[i] = a;
    b = n;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if ((sortedRisk[mid] as number) > ri) b = mid;
      else a = mid + 1;
    }
    hi[i] = a;
  }
  return {
    n,
    groupStart: Int32Array.from(starts),
    riskRank,
    lo,
    hi,
    tree: new Float64Array(n + 1),
    rowNum: new Float64Array(n),
    rowDen: new Float64Array(n),
    g: new Float64Array(n),
    ipcw: new Float64Array(n),
  };
}

const prepCache = new WeakMap<Int32Array, WeakMap<SurvivalInput, ConcordancePrep>>();

function prepFor(input: SurvivalInput, order: Int32Array): ConcordancePrep {
  let byInput = prepCache.get(order);
  if (byInput === undefined) {
    byInput = new WeakMap();
    prepCache.set(order, byInput);
  }
  let prep = byInput.get(input);
  if (prep === undefined || prep.n !== order.length) {
    prep = buildPrep(input, order);
    byInput.set(input, prep);
  }
  return prep;
}

/**
 * Fills prep.rowNum[a] / prep.rowDen[a] for every death at position a of `order` with weight > 0: the weighted sums
 * over the comparable j (later times, or censored at the same time) of [concordant + ½ tied] and of 1. O(n log n)
 * with a Fenwick tree over risk ranks, sweeping time groups from the latest. With integer weights (bootstrap
 * multiplicities) every partial sum is a multiple of ½ well below 2⁵³, so the rows equal the pairwise sums exactly.
 */
function concordanceRows(input: SurvivalInput, order: Int32Array, weights: Float64Array, prep: ConcordancePrep): void {
  const { event } = input;
  const { groupStart, riskRank, lo, hi, tree, rowNum, rowDen, n } = prep;
  tree.fill(0);
  let total = 0;
  const prefix = (r: number): number => {
    let s = 0;
    for (let k = r; k > 0; k -= k & -k) s += tree[k] as number;
    return s;
  };
  for (let g = groupStart.length - 2; g >= 0; g--) {
    const from = groupStart[g] as number;
    const to = groupStart[g + 1] as number;
    // Censored cases at this time are comparable with the deaths at this time; deaths among themselves are not.
    for (let a = from; a < to; a++) {
      const j = order[a] as number;
      if (event[j] === 1) continue;
      const wj = weights[j] as number;
      if (wj === 0) continue;
      total += wj;
      for (let k = riskRank[j] as number; k <= n; k += k & -k) tree[k] = (tree[k] as number) + wj;
    }
    for (let a = from; a < to; a++) {
      const i = order[a] as number;
      if (event[i] !== 1 || (weights[i] as number) === 0) continue;
      const below = prefix(lo[i] as number);
      const tied = prefix(hi[i] as number) - below;
      rowNum[a] = below + 0.5 * tied;
      rowDen[a] = total;
    }
    for (let a = from; a < to; a++) {
      const j = order[a] as number;
      if (event[j] !== 1) continue;
      const wj = weights[j] as number;
      if (wj === 0) continue;
      total += wj;
      for (let k = riskRank[j] as number; k <= n; k += k & -k) tree[k] = (tree[k] as number) + wj;
    }
  }
}

/**
 * Σ over comparable pairs of w_i·w_j·pairWeight_i·[concordant + ½ tied], and the same without the indicator, from
 * rows filled by concordanceRows. pairWeight is 1 (Harrell) or the IPCW factor of i (Uno). Summed over i in `order`,
 * as the pairwise definition does.
 */
function sumRows(
  input: SurvivalInput,
  order: Int32Array,
  weights: Float64Array,
  pairWeight: Float64Array | null,
  prep: ConcordancePrep,
): { num: number; den: number } {
  const { event } = input;
  const { rowNum, rowDen } = prep;
  const n = order.length;
  let num = 0;
  let den = 0;
  for (let a = 0; a < n; a++) {
    const i = order[a] as number;
    const wi = weights[i] as number;
    if (event[i] !== 1 || wi === 0) continue;
    const pw = pairWeight ? (pairWeight[i] as number) : 1;
    if (pw === 0) continue;
    num += wi * pw * (rowNum[a] as number);
    den += wi * pw * (rowDen[a] as number);
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
      const ri = risk[i] as number;
      const rj = risk[j] as number;
      if (ri === rj) tiedRisk++;
      else if (ri > rj) concordant++;
      else discordant++;
    }
  }
  const comparable = concordant + discordant + tiedRisk;
  if (comparable === 0) throw new MetricInputError('METRIC_ONE_CLASS', 'no comparable pairs: concordance not estimable');
  return { cIndex: (concordant + 0.5 * tiedRisk) / comparable, concordant, discordant, tiedRisk, comparable };
}

/** Weighted Harrell's C (weights = patient multiplicities); NaN when no comparable pair has weight. */
export function weightedHarrellC(input: SurvivalInput, order: Int32Array, weights: Float64Array): number {
  const prep = prepFor(input, order);
  concordanceRows(input, order, weights, prep);
  return harrellFromRows(input, order, weights, prep);
}

/**
 * Harrell's weighted pair sums: num = Σ w_i·w_j·[concordant + ½ tied], den = Σ w_i·w_j over comparable pairs. Sums of
 * these over groups give Harrell's C stratified by group (pairs within a group only; a federated node's part).
 */
export function weightedHarrellSums(input: SurvivalInput, order: Int32Array, weights: Float64Array): { num: number; den: number } {
  const prep = prepFor(input, order);
  concordanceRows(input, order, weights, prep);
  return sumRows(input, order, weights, null, prep);
}

function harrellFromRows(input: SurvivalInput, order: Int32Array, weights: Float64Array, prep: ConcordancePrep): number {
  const { num, den } = sumRows(input, order, weights, null, prep);
  return den === 0 ? Number.NaN : num / den;
}

/**
 * Ĝ(T_i) for every i from the weighted reverse Kaplan–Meier (scikit-survival kaplan_meier_estimator(reverse=True)):
 * at each distinct time t, Ĝ ×= 1 − c_t/(r_t − d_t), r_t = weight at risk (T ≥ t), d_t deaths, c_t censorings at t;
 * a factor with r_t − d_t = 0 is 1. Ĝ(T_i) includes the factor at T_i (right-continuous).
 */
export function censoringSurvivalAt(
  input: SurvivalInput,
  order: Int32Array,
  weights: Float64Array,
  g: Float64Array = new Float64Array(order.length),
): Float64Array {
  const { time, event } = input;
  const n = order.length;
  let atRisk = 0;
  for (let k = 0; k < n; k++) atRisk += weights[order[k] as number] as number;
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

/**
 * Why τ cannot be used for Uno's C on this cohort (METRICS.md §5.2), or null: the censoring survival Ĝ must be > 0 at
 * every event time before τ (the IPCW weights are 1/Ĝ²), and some comparable pair must have T_i < τ.
 */
export function unoTauProblem(input: SurvivalInput, tau: number): string | null {
  if (!(tau > 0) || !Number.isFinite(tau)) return 'τ must be a positive finite number';
  const order = prepare(input);
  const g = censoringSurvivalAt(input, order, new Float64Array(order.length).fill(1));
  let firstZero = Number.POSITIVE_INFINITY;
  let deathsBefore = 0;
  for (let i = 0; i < order.length; i++) {
    if (input.event[i] !== 1 || !((input.time[i] as number) < tau)) continue;
    deathsBefore++;
    if ((g[i] as number) === 0) firstZero = Math.min(firstZero, input.time[i] as number);
  }
  if (firstZero !== Number.POSITIVE_INFINITY) return `the censoring survival Ĝ is 0 at the event time ${firstZero} < τ (the IPCW weight 1/Ĝ² is infinite); choose τ ≤ ${firstZero}`;
  if (deathsBefore === 0) return 'no death with T_i < τ: no comparable pair';
  return null;
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
  const prep = prepFor(input, order);
  if (!unoIpcw(input, order, weights, tau, prep)) return Number.NaN;
  concordanceRows(input, order, weights, prep);
  return unoFromRows(input, order, weights, prep);
}

/** Fills prep.ipcw; false when Ĝ = 0 at a weighted event time before τ (Uno's C undefined). */
function unoIpcw(input: SurvivalInput, order: Int32Array, weights: Float64Array, tau: number, prep: ConcordancePrep): boolean {
  const g = censoringSurvivalAt(input, order, weights, prep.g);
  const ipcw = prep.ipcw;
  ipcw.fill(0);
  for (let i = 0; i < order.length; i++) {
    if (input.event[i] !== 1 || (weights[i] as number) === 0 || !((input.time[i] as number) < tau)) continue;
    const gi = g[i] as number;
    if (gi === 0) return false;
    ipcw[i] = 1 / (gi * gi);
  }
  return true;
}

function unoFromRows(input: SurvivalInput, order: Int32Array, weights: Float64Array, prep: ConcordancePrep): number {
  const { num, den } = sumRows(input, order, weights, prep.ipcw, prep);
  return den === 0 ? Number.NaN : num / den;
}

/** Harrell's (out[0]) and Uno's (out[1]) C of one weight vector, sharing the concordance rows. */
function harrellAndUno(input: SurvivalInput, order: Int32Array, weights: Float64Array, tau: number, out: Float64Array): void {
  const prep = prepFor(input, order);
  concordanceRows(input, order, weights, prep);
  out[0] = harrellFromRows(input, order, weights, prep);
  out[1] = unoIpcw(input, order, weights, tau, prep) ? unoFromRows(input, order, weights, prep) : Number.NaN;
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
  return { ...ci, tau, method: unoCiMethod(tau, options.tau, ci.method) };
}

function unoCiMethod(tau: number, given: number | undefined, ciMethod: string): string {
  const tauSource = given === undefined ? 'default: the largest observed event time, so deaths at exactly τ are excluded' : 'given';
  return `${unoMethod(given === undefined ? null : tau, tauSource)}; Ĝ re-estimated in each replicate; CI: ${ciMethod}`;
}

/**
 * harrellCWithCi and unoCWithCi together (same seed and replicates, hence the same resampled patients): one replicate
 * loop, the concordance rows computed once per replicate for both. Equal to calling the two separately.
 */
export function harrellAndUnoWithCi(
  input: SurvivalInput,
  options: SurvivalCiOptions & { readonly tau?: number },
): { readonly harrell: BootstrapCi; readonly uno: BootstrapCi & { tau: number } } {
  const order = prepare(input);
  const tau = options.tau ?? largestEventTime(input);
  unoC(input, tau);
  const [h, u] = bootstrapCis(2, (w, out) => harrellAndUno(input, order, w, tau, out), {
    n: order.length,
    unit: 'patient',
    replicates: options.replicates,
    seed: options.seed,
    interval: options.interval,
  }) as [BootstrapCi, BootstrapCi];
  return {
    harrell: { ...h, method: `${HARRELL_METHOD}; CI: ${h.method}` },
    uno: { ...u, tau, method: unoCiMethod(tau, options.tau, u.method) },
  };
}

/** Sort order for weighted statistics: exported so callers computing several statistics sort once. */
export function survivalOrder(input: SurvivalInput): Int32Array {
  return prepare(input);
}
