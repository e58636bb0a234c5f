// FROC curve and CPM (METRICS.md §3.2–3.3). All curves are built from one score pool sorted once; a bootstrap
// replicate only re-weights scans, so it re-walks the sorted pool with weights (no re-sorting, no re-matching).
import { MetricInputError } from '../metrics.errors';

/** The seven FP/scan rates of the CPM (ANODE09, LUNA16). */
export const CPM_FP_RATES: readonly number[] = [0.125, 0.25, 0.5, 1, 2, 4, 8];

/** One scan as far as FROC/CPM need it: best score per reference lesion (null = missed) and false-positive scores. */
export interface ScanScores {
  readonly lesionScores: readonly (number | null)[];
  readonly fpScores: readonly number[];
}

export interface FrocPoint {
  readonly fpPerScan: number;
  /** null when there is no reference lesion (not estimable). */
  readonly sensitivity: number | null;
  readonly threshold: number;
}

export const FROC_METHOD =
  'FROC: one operating point per distinct score t (descending), a detection counted iff score ≥ t; sensitivity = ' +
  'detected reference lesions / all reference lesions; FP/scan = FP count / all scans (lesion-free scans included)';
export const CPM_INTERPOLATED_METHOD =
  'CPM = mean sensitivity at 1/8, 1/4, 1/2, 1, 2, 4, 8 FP/scan, linear interpolation (np.interp) on the FROC upper envelope ' +
  '(origin added, max sensitivity per FP/scan, held flat beyond the last operating point)';
export const CPM_NEAREST_METHOD =
  'CPM, DIAG LUNA16 CPM calculator convention (getCPM): at each of 1/8 … 8 FP/scan the sensitivity of the operating point ' +
  'with the nearest FP/scan (points of sklearn roc_curve, drop_intermediate=True; initial tolerance max FP/scan, strict <, ' +
  'first point wins ties; 0 when no point is nearer, when nothing is detected or when there is no false positive)';
export const CPM_STAIRCASE_METHOD =
  'CPM, MONAI convention (compute_froc_curve_data + compute_froc_score at 1/8 … 8): a missed lesion enters with probability 0, ' +
  'the lowest distinct score is never a threshold, (0, 0) appended, np.interp on the raw staircase (no envelope)';

/** Scores of all scans, sorted once (descending), each tagged with its scan and kind. */
export interface ScorePool {
  readonly nScans: number;
  readonly lesionsPerScan: Int32Array;
  readonly nLesions: number;
  readonly scores: Float64Array;
  /** 1 = best score of a detected lesion, 0 = false positive. */
  readonly isLesion: Uint8Array;
  readonly scan: Int32Array;
}

export function buildScorePool(scans: readonly ScanScores[]): ScorePool {
  if (scans.length === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'detection metrics need at least one scan');
  const lesionsPerScan = new Int32Array(scans.length);
  const raw: { s: number; lesion: number; scan: number }[] = [];
  let nLesions = 0;
  scans.forEach((scan, i) => {
    lesionsPerScan[i] = scan.lesionScores.length;
    nLesions += scan.lesionScores.length;
    for (const s of scan.lesionScores) {
      if (s === null) continue;
      if (!Number.isFinite(s)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `scan ${i}: lesion score ${String(s)} is not finite`);
      raw.push({ s, lesion: 1, scan: i });
    }
    for (const s of scan.fpScores) {
      if (!Number.isFinite(s)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `scan ${i}: false-positive score ${String(s)} is not finite`);
      raw.push({ s, lesion: 0, scan: i });
    }
  });
  // Order within a tie is irrelevant: every curve below takes whole groups of equal scores at once.
  raw.sort((a, b) => b.s - a.s);
  return {
    nScans: scans.length,
    lesionsPerScan,
    nLesions,
    scores: Float64Array.from(raw, (r) => r.s),
    isLesion: Uint8Array.from(raw, (r) => r.lesion),
    scan: Int32Array.from(raw, (r) => r.scan),
  };
}

/** Cumulative weighted counts at each distinct threshold present in the (weighted) data, thresholds descending. */
export interface CumulativeCounts {
  /** Number of operating points filled in. */
  k: number;
  readonly threshold: Float64Array;
  readonly tp: Float64Array;
  readonly fp: Float64Array;
}

export function countBuffers(pool: ScorePool): CumulativeCounts {
  const m = pool.scores.length;
  return { k: 0, threshold: new Float64Array(m), tp: new Float64Array(m), fp: new Float64Array(m) };
}

/**
 * Fills `out` with the operating points of the weighted pool. A threshold whose detections all have weight 0 (their
 * scans not drawn) is not an operating point of that replicate: it must not appear, because sklearn's
 * drop_intermediate looks at neighbouring points and a repeated point would change which ones it keeps.
 */
export function cumulativeCounts(pool: ScorePool, weights: Float64Array | null, out: CumulativeCounts): CumulativeCounts {
  const { scores, isLesion, scan } = pool;
  const m = scores.length;
  let tp = 0;
  let fp = 0;
  let k = 0;
  let i = 0;
  while (i < m) {
    const t = scores[i] as number;
    let groupWeight = 0;
    while (i < m && scores[i] === t) {
      const w = weights === null ? 1 : (weights[scan[i] as number] as number);
      if (w !== 0) {
        groupWeight += w;
        if (isLesion[i] === 1) tp += w;
        else fp += w;
      }
      i++;
    }
    if (groupWeight > 0) {
      out.threshold[k] = t;
      out.tp[k] = tp;
      out.fp[k] = fp;
      k++;
    }
  }
  out.k = k;
  return out;
}

/** np.interp(x, xp, fp) for non-decreasing xp, numpy 1.24 semantics (ties in xp: the last of the equal xp wins). */
export function npInterp(x: number, xp: ArrayLike<number>, fp: ArrayLike<number>, len = xp.length): number {
  if (len === 0) throw new MetricInputError('METRIC_EMPTY_INPUT', 'np.interp needs at least one point');
  if (x < (xp[0] as number)) return fp[0] as number;
  if (x > (xp[len - 1] as number)) return fp[len - 1] as number;
  // j = last index with xp[j] ≤ x (what numpy's binary_search_with_guess returns).
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x >= (xp[mid] as number)) lo = mid + 1;
    else hi = mid;
  }
  const j = lo - 1;
  if (j === len - 1 || xp[j] === x) return fp[j] as number;
  const x0 = xp[j] as number;
  const y0 = fp[j] as number;
  const slope = ((fp[j + 1] as number) - y0) / ((xp[j + 1] as number) - x0);
  return slope * (x - x0) + y0;
}

/** Scratch space for the CPM of one replicate, sized for the pool. */
export interface CpmScratch {
  readonly xs: Float64Array;
  readonly ys: Float64Array;
  readonly keep: Int32Array;
}

export function cpmScratch(pool: ScorePool): CpmScratch {
  const m = pool.scores.length + 1;
  return { xs: new Float64Array(m), ys: new Float64Array(m), keep: new Int32Array(m) };
}

/**
 * Interpolated CPM from cumulative counts: the upper envelope (origin, then per distinct FP/scan the max
 * sensitivity; counts only grow as the threshold falls, so that is the last point of each run) and np.interp at each
 * rate, writing the seven sensitivities to `sens7`. Returns the mean, NaN when there is no lesion.
 */
export function cpmInterpolatedFromCounts(c: CumulativeCounts, nScans: number, nLesions: number, scratch: CpmScratch, sens7?: Float64Array): number {
  if (nLesions <= 0) return Number.NaN;
  const { xs, ys } = scratch;
  xs[0] = 0;
  ys[0] = 0;
  let len = 1;
  for (let i = 0; i < c.k; i++) {
    const x = (c.fp[i] as number) / nScans;
    const y = (c.tp[i] as number) / nLesions;
    if (x === xs[len - 1]) {
      if (y > (ys[len - 1] as number)) ys[len - 1] = y;
    } else {
      xs[len] = x;
      ys[len] = y;
      len++;
    }
  }
  let sum = 0;
  for (let r = 0; r < CPM_FP_RATES.length; r++) {
    const s = npInterp(CPM_FP_RATES[r] as number, xs, ys, len);
    if (sens7) sens7[r] = s;
    sum += s;
  }
  return sum / CPM_FP_RATES.length;
}

/**
 * DIAG "LUNA16 CPM calculator" (evaluateCAD_for_cpm → computeFROC → getCPM) from cumulative counts. The arithmetic
 * follows the script step by step (fpr = fps/fps[-1], then fpr·nFP/nScans; tpr·nDetected/nLesions) because getCPM
 * compares distances with a strict `<` and the first point wins ties: an ulp can change which point is taken.
 */
export function cpmNearestFromCounts(c: CumulativeCounts, nScans: number, nLesions: number, scratch: CpmScratch, sens7?: Float64Array): number {
  if (nLesions <= 0) return Number.NaN;
  if (sens7) sens7.fill(0);
  const k = c.k;
  const detected = k > 0 ? (c.tp[k - 1] as number) : 0;
  const falsePositives = k > 0 ? (c.fp[k - 1] as number) : 0;
  // Script guards: nothing detected → ([0], [0]); no false positive at all → FP/scan all 0. Either way getCPM gives 0.
  if (detected < 1 || falsePositives === 0) return 0;
  // sklearn roc_curve(drop_intermediate=True): keep the ends and every point where fps or tps bends.
  const { keep, xs, ys } = scratch;
  let nKeep = 0;
  for (let i = 0; i < k; i++) {
    if (k <= 2 || i === 0 || i === k - 1) keep[nKeep++] = i;
    else {
      const d2fp = (c.fp[i + 1] as number) - (c.fp[i] as number) - ((c.fp[i] as number) - (c.fp[i - 1] as number));
      const d2tp = (c.tp[i + 1] as number) - (c.tp[i] as number) - ((c.tp[i] as number) - (c.tp[i - 1] as number));
      if (d2fp !== 0 || d2tp !== 0) keep[nKeep++] = i;
    }
  }
  // Prepended (0, 0), then fpr·nFP/N and tpr·nDetected/nLesions as the script computes them.
  xs[0] = 0;
  ys[0] = 0;
  let maxX = 0;
  for (let j = 0; j < nKeep; j++) {
    const i = keep[j] as number;
    const x = (((c.fp[i] as number) / falsePositives) * falsePositives) / nScans;
    xs[j + 1] = x;
    ys[j + 1] = (((c.tp[i] as number) / detected) * detected) / nLesions;
    if (x > maxX) maxX = x;
  }
  const len = nKeep + 1;
  let sum = 0;
  for (let r = 0; r < CPM_FP_RATES.length; r++) {
    const f = CPM_FP_RATES[r] as number;
    let diffPrior = maxX;
    let s = 0;
    for (let j = 0; j < len; j++) {
      const diff = Math.abs((xs[j] as number) - f);
      if (diff < diffPrior) {
        s = ys[j] as number;
        diffPrior = diff;
      }
    }
    if (sens7) sens7[r] = s;
    sum += s;
  }
  return sum / CPM_FP_RATES.length;
}

/**
 * MONAI's staircase CPM (compute_froc_curve_data then compute_froc_score with the seven LUNA16 rates), shown as an
 * alternative: it differs from the canonical value (METRICS.md §3.2 correction). Missed lesions enter as probability
 * 0, MONAI's tp_probs default, so it is meaningful for scores in (0, 1]. null when there is no lesion.
 */
export function cpmMonaiStaircase(scans: readonly ScanScores[]): { value: number | null; sensitivities: number[] | null } {
  let nLesions = 0;
  const tpProbs: number[] = [];
  const fpProbs: number[] = [];
  for (const s of scans) {
    nLesions += s.lesionScores.length;
    for (const v of s.lesionScores) tpProbs.push(v ?? 0);
    for (const v of s.fpScores) fpProbs.push(v);
  }
  if (nLesions === 0) return { value: null, sensitivities: null };
  const distinct = [...new Set([...fpProbs, ...tpProbs])].sort((a, b) => a - b);
  tpProbs.sort((a, b) => a - b);
  fpProbs.sort((a, b) => a - b);
  const atLeast = (sorted: number[], t: number): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] as number) < t) lo = mid + 1;
      else hi = mid;
    }
    return sorted.length - lo;
  };
  // Thresholds ascending (all but the lowest), then (0, 0); reversed for np.interp: FP/scan non-decreasing.
  const fps: number[] = [0];
  const sens: number[] = [0];
  for (let i = distinct.length - 1; i >= 1; i--) {
    const t = distinct[i] as number;
    fps.push(atLeast(fpProbs, t) / scans.length);
    sens.push(atLeast(tpProbs, t) / nLesions);
  }
  const sensitivities = CPM_FP_RATES.map((f) => npInterp(f, fps, sens));
  return { value: sensitivities.reduce((a, b) => a + b, 0) / sensitivities.length, sensitivities };
}

/** The operating points of the full data (one per distinct score), thresholds descending. */
export function frocPoints(pool: ScorePool): FrocPoint[] {
  const c = cumulativeCounts(pool, null, countBuffers(pool));
  const out: FrocPoint[] = [];
  for (let i = 0; i < c.k; i++) {
    out.push({
      fpPerScan: (c.fp[i] as number) / pool.nScans,
      sensitivity: pool.nLesions > 0 ? (c.tp[i] as number) / pool.nLesions : null,
      threshold: c.threshold[i] as number,
    });
  }
  return out;
}

/** The upper envelope used by the interpolated CPM: origin first, FP/scan strictly increasing, sensitivity monotone. */
export function frocEnvelope(points: readonly FrocPoint[]): { fpPerScan: number; sensitivity: number }[] {
  const env = [{ fpPerScan: 0, sensitivity: 0 }];
  for (const p of points) {
    const s = p.sensitivity ?? 0;
    const last = env[env.length - 1] as { fpPerScan: number; sensitivity: number };
    if (p.fpPerScan === last.fpPerScan) last.sensitivity = Math.max(last.sensitivity, s);
    else env.push({ fpPerScan: p.fpPerScan, sensitivity: Math.max(s, last.sensitivity) });
  }
  return env;
}
