// Paired comparison of two submissions on the same cases (METRICS.md §6.6): difference A − B with CI and p, Holm
// across the metrics compared.
import {
  type BootstrapSpec,
  DEFAULT_BOOTSTRAP,
  PAIRED_DELONG_METHOD,
  bootstrapFloorReason,
  descendingOrder,
  pairedDelong,
  weightedAveragePrecision,
} from './binary-classification';
import { type WeightedStatistic, pairedBootstrap } from './bootstrap';
import { holmAdjust } from './hypothesis-tests';
import { type SurvivalInput, largestEventTime, survivalOrder, weightedHarrellC, weightedUnoC } from './survival';

export interface ComparisonEntry {
  /** Metric of A minus metric of B; null when the metric is not estimable on these cases. */
  readonly difference: number | null;
  readonly ci: [number, number] | null;
  /** Raw two-sided p-value; null when not estimable. */
  readonly p: number | null;
  /** Holm-adjusted across the entries of this comparison (R p.adjust "holm"). */
  readonly p_holm: number | null;
  readonly method: string;
  readonly B?: number;
  readonly seed?: number;
  readonly degenerate?: number;
}

type RawEntry = Omit<ComparisonEntry, 'p_holm'>;

function withHolm(entries: Record<string, RawEntry>): Record<string, ComparisonEntry> {
  const names = Object.keys(entries);
  const adjusted = holmAdjust(names.map((k) => (entries[k] as RawEntry).p));
  const out: Record<string, ComparisonEntry> = {};
  names.forEach((k, i) => {
    out[k] = { ...(entries[k] as RawEntry), p_holm: adjusted[i] ?? null };
  });
  return out;
}

/** Weighted binary statistics at a locked threshold (positive iff score ≥ t); NaN when a denominator is 0. */
function thresholdStatistics(labels: readonly number[], scores: readonly number[], threshold: number): Record<string, WeightedStatistic> {
  const counts = (w: Float64Array): { tp: number; fp: number; tn: number; fn: number } => {
    let tp = 0;
    let fp = 0;
    let tn = 0;
    let fn = 0;
    for (let i = 0; i < labels.length; i++) {
      const wi = w[i] as number;
      if (wi === 0) continue;
      const pred = (scores[i] as number) >= threshold;
      if (labels[i] === 1) {
        if (pred) tp += wi;
        else fn += wi;
      } else if (pred) fp += wi;
      else tn += wi;
    }
    return { tp, fp, tn, fn };
  };
  const ratio = (a: number, b: number): number => (b === 0 ? Number.NaN : a / b);
  const stats: Record<string, WeightedStatistic> = {
    sensitivity: (w) => {
      const c = counts(w);
      return ratio(c.tp, c.tp + c.fn);
    },
    specificity: (w) => {
      const c = counts(w);
      return ratio(c.tn, c.tn + c.fp);
    },
    balanced_accuracy: (w) => {
      const c = counts(w);
      return (ratio(c.tp, c.tp + c.fn) + ratio(c.tn, c.tn + c.fp)) / 2;
    },
    ppv: (w) => {
      const c = counts(w);
      return ratio(c.tp, c.tp + c.fp);
    },
    npv: (w) => {
      const c = counts(w);
      return ratio(c.tn, c.tn + c.fn);
    },
  };
  const order = descendingOrder(scores);
  stats['auprc'] = (w) => weightedAveragePrecision(order, scores, labels, w);
  if (scores.every((p) => p >= 0 && p <= 1)) {
    stats['brier'] = (w) => {
      let s = 0;
      let tot = 0;
      for (let i = 0; i < labels.length; i++) {
        const wi = w[i] as number;
        const d = (scores[i] as number) - (labels[i] as number);
        s += wi * d * d;
        tot += wi;
      }
      return s / tot;
    };
  }
  return stats;
}

export const BINARY_COMPARISON_ORDER = ['auroc', 'auprc', 'brier', 'sensitivity', 'specificity', 'balanced_accuracy', 'ppv', 'npv'] as const;

/** AUROC by paired DeLong; the other report metrics by a stratified paired bootstrap (same replicates for A and B). */
export function compareBinary(input: {
  readonly labels: readonly number[];
  readonly scoresA: readonly number[];
  readonly scoresB: readonly number[];
  readonly threshold: number;
  readonly bootstrap?: BootstrapSpec;
}): Record<string, ComparisonEntry> {
  const spec = input.bootstrap ?? DEFAULT_BOOTSTRAP;
  const raw: Record<string, RawEntry> = {};
  const pos = input.labels.filter((y) => y === 1).length;
  const neg = input.labels.length - pos;
  if (pos > 0 && neg > 0) {
    // Degrades on its own (null variance/p with the reason) for a class of one case or a zero variance.
    const d = pairedDelong(input.scoresA, input.scoresB, input.labels);
    raw['auroc'] = { difference: d.difference, ci: d.ci, p: d.pValue, method: d.method };
  } else {
    raw['auroc'] = { difference: null, ci: null, p: null, method: `${PAIRED_DELONG_METHOD}; not estimable: ${pos} positive and ${neg} negative case(s), AUROC needs both classes` };
  }
  // Below the floor no bootstrap comparison is run (the intervals and p would be implausibly precise); the
  // difference itself is still reported.
  const floor = bootstrapFloorReason(pos, neg);
  const a = thresholdStatistics(input.labels, input.scoresA, input.threshold);
  const b = thresholdStatistics(input.labels, input.scoresB, input.threshold);
  for (const name of BINARY_COMPARISON_ORDER) {
    const sa = a[name];
    const sb = b[name];
    if (name === 'auroc' || sa === undefined || sb === undefined) continue;
    if (floor !== null) {
      const ones = new Float64Array(input.labels.length).fill(1);
      const diff = sa(ones) - sb(ones);
      raw[name] = { difference: Number.isNaN(diff) ? null : diff, ci: null, p: null, method: `paired stratified bootstrap of A − B; ${floor}` };
      continue;
    }
    const r = pairedBootstrap(sa, sb, { n: input.labels.length, strata: input.labels, replicates: spec.replicates, seed: spec.seed });
    raw[name] = { difference: r.difference, ci: r.ci, p: r.p, method: r.method, B: r.B, seed: r.seed, degenerate: r.degenerate };
  }
  return withHolm(raw);
}

/** Both C-indices by paired patient bootstrap; τ for Uno fixed across A, B and replicates. */
export function compareSurvival(input: {
  readonly time: readonly number[];
  readonly event: readonly number[];
  readonly riskA: readonly number[];
  readonly riskB: readonly number[];
  readonly tau?: number;
  readonly bootstrap?: BootstrapSpec;
}): Record<string, ComparisonEntry> {
  const spec = input.bootstrap ?? DEFAULT_BOOTSTRAP;
  const A: SurvivalInput = { time: input.time, event: input.event, risk: input.riskA };
  const B: SurvivalInput = { time: input.time, event: input.event, risk: input.riskB };
  const order = survivalOrder(A);
  survivalOrder(B);
  const tau = input.tau ?? largestEventTime(A);
  const options = { n: input.time.length, replicates: spec.replicates, seed: spec.seed, unit: 'patient' };
  const h = pairedBootstrap((w) => weightedHarrellC(A, order, w), (w) => weightedHarrellC(B, order, w), options);
  const u = pairedBootstrap((w) => weightedUnoC(A, order, w, tau), (w) => weightedUnoC(B, order, w, tau), options);
  return withHolm({
    c_index_harrell: { difference: h.difference, ci: h.ci, p: h.p, method: h.method, B: h.B, seed: h.seed, degenerate: h.degenerate },
    c_index_uno: { difference: u.difference, ci: u.ci, p: u.p, method: `${u.method}; τ = ${tau}`, B: u.B, seed: u.seed, degenerate: u.degenerate },
  });
}
