// What a vendor and the public learn about held-out (test-split) scores. Every number shown on a held-out phase is a
// channel to the labels (docs/held-out-feedback.md); this module is the one place that decides what goes through it.
import type { FeedbackSpecDto } from '../benchmarks/benchmark-definition';
import { WILSON_METHOD } from '../metrics/binary-classification';
import type { MetricValue } from '../metrics/score-report';
import { roundTo } from './ranking';

export type FeedbackMechanism = 'round' | 'ladder' | 'ladder-parameter-free';

/** The benchmark's held-out feedback; benchmarks that declare none get rounding to their precision only. */
export function feedbackSpec(def: { feedback?: FeedbackSpecDto | undefined }): { mechanism: FeedbackMechanism; step: number | null } {
  const f = def.feedback;
  if (!f || f.mechanism === 'round') return { mechanism: 'round', step: null };
  if (f.mechanism === 'ladder') return { mechanism: 'ladder', step: f.step ?? null };
  return { mechanism: 'ladder-parameter-free', step: null };
}

export const LADDER_REFERENCE = 'Blum & Hardt, "The Ladder: A Reliable Leaderboard for Machine Learning Competitions", ICML 2015 (PMLR 37:1006-1014)';

/** [x]_η of the paper: x rounded to the nearest integer multiple of η (printed without binary noise). */
export function roundToStep(x: number, step: number): number {
  return Number((Math.round(x / step) * step).toPrecision(12));
}

/** One vendor's ladder: R_{t-1}, the score shown to it now, and the submission (run) that set it. */
export interface LadderState {
  shown: number;
  leaderRunId: string;
}

export interface LadderOutcome {
  next: LadderState;
  improved: boolean;
  /** The threshold the candidate had to beat R_{t-1} by: η, or s/√n in the parameter-free variant. */
  threshold: number;
}

/**
 * One round of the Ladder mechanism (Blum & Hardt 2015, Algorithm 1), for a metric where higher or lower is better.
 * The paper states it for a loss: R_0 = ∞; if R_S(f_t) < R_{t−1} − η then R_t = [R_S(f_t)]_η, else R_t = R_{t−1}.
 * For a higher-is-better score the inequality flips (R_0 = −∞). The first submission always sets the ladder.
 */
export function ladderRound(input: { previous: LadderState | null; runId: string; score: number; direction: 'higher' | 'lower'; step: number }): LadderOutcome {
  const { previous, score, step } = input;
  const beats = previous === null || (input.direction === 'higher' ? score > previous.shown + step : score < previous.shown - step);
  if (!beats) return { next: previous, improved: false, threshold: step };
  return { next: { shown: roundToStep(score, step), leaderRunId: input.runId }, improved: true, threshold: step };
}

/** Sample standard deviation (n − 1), as Julia's std in the authors' Ladder.jl. */
function sampleStd(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  return Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
}

/**
 * The parameter-free Ladder of the same paper: the step is the standard error of the paired per-case loss
 * differences against the current leader, s/√n (a one-sided paired t-test at one standard error); for the first
 * submission s is the standard deviation of its own per-case losses (as `FreeLadder` in the authors' Ladder.jl). The
 * paper rounds the released loss to a multiple of 1/n; we round to d = min(precision, round(log10 n)) decimals, the
 * decimal grid nearest 1/n (Ladder.jl rounds to log10 n digits too), so shown values stay decimals.
 * Needs a per-case loss (lower is better).
 */
export function parameterFreeLadderRound(input: { previous: LadderState | null; runId: string; losses: readonly number[]; leaderLosses: readonly number[] | null; digits: number }): LadderOutcome {
  const n = input.losses.length;
  const score = input.losses.reduce((a, b) => a + b, 0) / n;
  const diffs = input.previous && input.leaderLosses ? input.losses.map((l, i) => l - (input.leaderLosses?.[i] as number)) : input.losses;
  const threshold = sampleStd(diffs) / Math.sqrt(n);
  const beats = input.previous === null || score < input.previous.shown - threshold;
  if (!beats) return { next: input.previous as LadderState, improved: false, threshold };
  return { next: { shown: roundToStep(score, 10 ** -Math.min(input.digits, Math.round(Math.log10(n)))), leaderRunId: input.runId }, improved: true, threshold };
}

/** A metric as the public and vendors see it on a held-out phase. */
export interface PublicMetric {
  value: number | null;
  ci: [number, number] | null;
  method: string;
}

const WILSON_WITHHELD = '95% CI withheld on held-out phases: a Wilson interval at a known n is a closed-form function of the count';

/** Counts written into method strings before they moved to `counts` (kept for rows stored by older code). */
function withoutCounts(method: string): string {
  return method.replace(/ = \d+\/\d+/g, '');
}

const floorTo = (x: number, digits: number): number => Number((Math.floor(x * 10 ** digits + 1e-9) / 10 ** digits).toFixed(digits));
const ceilTo = (x: number, digits: number): number => Number((Math.ceil(x * 10 ** digits - 1e-9) / 10 ** digits).toFixed(digits));

/**
 * Rounds a metric for a public view: the value to `digits`, the CI outward to `digits` (so it still covers), no
 * counts. On held-out phases a Wilson CI is withheld: its endpoints invert to the count k at known n (and with the
 * value, to n itself), whatever the precision. Bootstrap and DeLong CIs have no closed-form inverse to counts; they
 * are rounded like the value (and, under the Ladder, not shown at all).
 */
export function publicMetric(m: MetricValue | undefined, digits: number, heldOut: boolean): PublicMetric {
  if (!m) return { value: null, ci: null, method: 'not computed' };
  const method = withoutCounts(m.method);
  const wilson = m.counts !== undefined || method.includes(WILSON_METHOD);
  if (heldOut && wilson) return { value: roundTo(m.value, digits), ci: null, method: `${method}; ${WILSON_WITHHELD}` };
  return { value: roundTo(m.value, digits), ci: m.ci ? [floorTo(m.ci[0], digits), ceilTo(m.ci[1], digits)] : null, method };
}

export const LADDER_SECONDARY_WITHHELD = 'withheld: under the Ladder a held-out phase shows the primary metric only (docs/held-out-feedback.md)';

export function ladderMethod(mechanism: FeedbackMechanism, step: number | null, metric: string): string {
  const rule = mechanism === 'ladder' ? `step η = ${step}: changes only when a submission beats the shown best by more than η, rounded to η` : 'parameter-free: changes only when a submission beats the shown best by more than one standard error of the paired per-case loss differences';
  return `Ladder on ${metric} (${LADDER_REFERENCE}), ${rule}; no CI`;
}

/** The persisted ladder outcome of one held-out run (what its vendor was told). */
export interface RunFeedbackRecord {
  mechanism: FeedbackMechanism;
  shownValue: number | null;
  improved: boolean;
}

export interface VendorFeedback {
  mechanism: FeedbackMechanism | 'full';
  /** withheld: the phase is not released; pending: the ladder has not processed this run yet. */
  state: 'shown' | 'withheld' | 'pending';
  step: number | null;
  /** Ladder only: whether this submission moved the vendor's shown score. */
  improved: boolean | null;
}

export interface ScoredRunView {
  metrics: Record<string, PublicMetric | MetricValue> | null;
  feedback: VendorFeedback;
}

/**
 * Turns a scored run into what its reader sees (GET /api/runs/:id). Full precision (with counts) for readers
 * mayShowFullPrecision allows, and on the sample split (its labels are public). On a held-out split: nothing until
 * the phase is released; then, with rounding, the benchmark's metrics as the public leaderboard rounds them; under
 * the Ladder, the vendor's ladder value after this run and nothing else.
 */
export function scoredRunView(input: {
  definition: { metrics: { primary: string; secondary: string[] }; precision?: number | undefined; feedback?: FeedbackSpecDto | undefined };
  split: string;
  released: boolean;
  fullPrecision: boolean;
  metrics: Record<string, MetricValue> | null;
  record: RunFeedbackRecord | null;
}): ScoredRunView {
  const spec = feedbackSpec(input.definition);
  if (input.fullPrecision || input.split !== 'test') return { metrics: input.metrics, feedback: { mechanism: 'full', state: 'shown', step: spec.step, improved: input.record?.improved ?? null } };
  const withheld = (state: 'withheld' | 'pending'): ScoredRunView => ({ metrics: null, feedback: { mechanism: spec.mechanism, state, step: spec.step, improved: null } });
  if (!input.released) return withheld('withheld');
  if (!input.metrics) return withheld('pending');
  const digits = input.definition.precision ?? 4;
  const primary = input.definition.metrics.primary;
  if (spec.mechanism === 'round') {
    const names = [primary, ...input.definition.metrics.secondary];
    return { metrics: Object.fromEntries(names.map((n) => [n, publicMetric(input.metrics?.[n], digits, true)])), feedback: { mechanism: 'round', state: 'shown', step: null, improved: null } };
  }
  // A primary the scorer could not estimate never enters the ladder; its null says nothing about the labels.
  if (!input.record && input.metrics[primary]?.value === null) {
    return { metrics: { [primary]: { value: null, ci: null, method: input.metrics[primary]?.method ?? 'not computed' } }, feedback: { mechanism: spec.mechanism, state: 'shown', step: spec.step, improved: false } };
  }
  if (!input.record) return withheld('pending');
  return {
    metrics: { [primary]: { value: input.record.shownValue, ci: null, method: ladderMethod(spec.mechanism, spec.step, primary) } },
    feedback: { mechanism: spec.mechanism, state: 'shown', step: spec.step, improved: input.record.improved },
  };
}
