// Assembles the binary-classification report that runs store and leaderboards rank.
import {
  AUPRC_METHOD,
  AUROC_METHOD,
  BRIER_METHOD,
  BootstrapSpec,
  DEFAULT_BOOTSTRAP,
  MIN_CLASS_FOR_BOOTSTRAP,
  WILSON_METHOD,
  bootstrapFloorReason,
  aurocWithDelong,
  averagePrecision,
  confusionAtThreshold,
  proportionWithWilson,
  bootstrapMethod,
  validateAndSplit,
} from './binary-classification';
import { type CiProvenance } from './bootstrap';
import { type CalibrationReport, calibrationReport } from './calibration';
import { MetricInputError } from './metrics.errors';
import { CELL_BOOTSTRAP_METHOD, cellBootstrap, percentile95 } from './binary-bootstrap';
import { sensitivityAtSpecificitySorted, sortBinary } from './weighted-binary';

/** Pinned by every run; bump whenever any number this module produces could change. */
export const METRIC_CODE_VERSION = 'assay-metrics/binary-2.0.0';

export const BINARY_METRIC_NAMES = [
  'auroc',
  'auprc',
  'brier',
  'sensitivity',
  'specificity',
  'balanced_accuracy',
  'ppv',
  'npv',
] as const;
export type BinaryMetricName = (typeof BINARY_METRIC_NAMES)[number];

export interface MetricValue {
  /** null = not estimable on this data (reason in method), never a placeholder 0 or 1. */
  readonly value: number | null;
  readonly ci: [number, number] | null;
  /** Data-free description of the estimator and its CI: never counts, so it can be shown wherever the value is. */
  readonly method: string;
  /**
   * Numerator and denominator of a proportion (e.g. TP and TP+FN). Counts of held-out cases identify labels, so they
   * live here, apart from the method, and are shown only where full precision is (evaluators, admins, granted regulators).
   */
  readonly counts?: { readonly numerator: number; readonly denominator: number };
}

export interface ConfusionMatrix {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

export interface BinaryScoreReport {
  readonly task: 'binary';
  readonly metricCodeVersion: string;
  readonly n: number;
  readonly nPositive: number;
  readonly nNegative: number;
  readonly threshold: number;
  readonly confusion: ConfusionMatrix;
  /** The stratified bootstrap behind the AUPRC, Brier and balanced-accuracy CIs and the secondary estimates. */
  readonly bootstrap: {
    readonly B: number;
    readonly seed: number;
    /** Floor: fewer cases than this in a class and no bootstrap interval is given. */
    readonly minPerClass: number;
    readonly run: boolean;
    /** Replicates with a class resampled from one distinct case. */
    readonly degenerate: number;
    /** Why no bootstrap interval is given, when run is false. */
    readonly withheld?: string;
  };
  readonly metrics: Record<BinaryMetricName, MetricValue>;
  /** Extra estimates that are not leaderboard metrics; `auroc.ci` stays the DeLong CI. Absent below the bootstrap floor. */
  readonly secondary?: {
    readonly auroc_bootstrap: MetricValue & CiProvenance;
    /** Threshold chosen post hoc on the test data: not the locked-threshold sensitivity. */
    readonly sensitivity_at_specificity_0_8: MetricValue & CiProvenance & { readonly threshold: number };
  };
  /** Present when the scores are probabilities. */
  readonly calibration?: CalibrationReport;
}

export interface ScoreBinaryInput {
  /** 1 = positive (e.g. malignant), 0 = negative. */
  readonly labels: readonly number[];
  readonly scores: readonly number[];
  /** Locked operating threshold; positive iff score ≥ threshold. */
  readonly threshold?: number;
  readonly bootstrap?: BootstrapSpec;
  /** Progress of the bootstrap (replicates done, B), for long work. */
  readonly onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_THRESHOLD = 0.5;

const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['brier', 'ece', 'log_loss', 'hd', 'hd95', 'masd', 'assd', 'fp_per_scan']);
const HIGHER_IS_BETTER: ReadonlySet<string> = new Set<string>([
  ...BINARY_METRIC_NAMES,
  'dsc',
  'dice',
  'iou',
  'nsd',
  'cpm',
  'cpm_nearest',
  'c_index',
  'c_index_harrell',
  'c_index_uno',
]);

/** Ranking direction; unknown names throw so a leaderboard is never sorted the wrong way by default. */
export function metricDirection(name: string): 'higher' | 'lower' {
  if (LOWER_IS_BETTER.has(name)) return 'lower';
  if (HIGHER_IS_BETTER.has(name)) return 'higher';
  throw new MetricInputError('METRIC_BAD_PARAMETER', `unknown metric "${name}": no ranking direction defined`);
}

function proportionMetric(k: number, n: number, what: string): MetricValue {
  const p = proportionWithWilson(k, n);
  if (p.value === null) return { value: null, ci: null, method: `${what}; not estimable: denominator is 0`, counts: { numerator: k, denominator: n } };
  return { value: p.value, ci: p.ci, method: `${what}, ${WILSON_METHOD}`, counts: { numerator: k, denominator: n } };
}

export function scoreBinary(input: ScoreBinaryInput): BinaryScoreReport {
  const threshold = input.threshold ?? DEFAULT_THRESHOLD;
  const bootstrap = input.bootstrap ?? DEFAULT_BOOTSTRAP;
  const data = { labels: input.labels, scores: input.scores };
  // One class absent (METRICS.md §4.1): AUROC, AUPRC and balanced accuracy are not estimable, but Brier, specificity
  // and NPV (no positives) or sensitivity and PPV (no negatives) still are.
  const { positives, negatives } = validateAndSplit(data);
  const m = positives.length;
  const n0 = negatives.length;
  const counts = confusionAtThreshold(data, threshold);
  const bothClasses = m > 0 && n0 > 0;
  const oneClass = bothClasses ? null : `not estimable: ${m === 0 ? 'no positive (1)' : 'no negative (0)'} cases (n = ${input.labels.length})`;
  // Below the floor the stratified bootstrap is not run at all: its intervals would be implausibly narrow.
  const floor = bootstrapFloorReason(m, n0);
  const cells = floor === null ? cellBootstrap(input.labels, input.scores, { ...bootstrap, threshold, specificityTarget: 0.8, ...(input.onProgress ? { onProgress: input.onProgress } : {}) }) : null;
  const boot =
    cells === null
      ? null
      : {
          brier: cells.values.brier ? percentile95(cells.values.brier) : null,
          averagePrecision: percentile95(cells.values.averagePrecision),
          balancedAccuracy: percentile95(cells.values.balancedAccuracy),
          method: `${bootstrapMethod(bootstrap)}; ${CELL_BOOTSTRAP_METHOD}`,
          degenerate: cells.degenerate,
        };
  const ciNote = boot !== null ? `CI: ${boot.method}` : `CI: ${floor as string}`;
  const isProbability = input.scores.every((p) => p >= 0 && p <= 1);

  const sensitivity = proportionMetric(counts.tp, counts.tp + counts.fn, 'TP/(TP+FN)');
  const specificity = proportionMetric(counts.tn, counts.tn + counts.fp, 'TN/(TN+FP)');

  let brier: MetricValue;
  if (isProbability) {
    // Same sum as brierScore(); inlined to avoid validating twice.
    let s = 0;
    input.scores.forEach((p, i) => {
      const y = input.labels[i] as number;
      s += (p - y) * (p - y);
    });
    brier = { value: s / input.scores.length, ci: boot?.brier ?? null, method: `${BRIER_METHOD}; ${ciNote}` };
  } else {
    brier = { value: null, ci: null, method: `${BRIER_METHOD}; not estimable: scores are not probabilities in [0, 1]` };
  }

  let auroc: MetricValue = { value: null, ci: null, method: `${AUROC_METHOD}; ${oneClass ?? ''}` };
  let auprc: MetricValue = { value: null, ci: null, method: `${AUPRC_METHOD}; ${oneClass ?? ''}` };
  let balancedAccuracy: MetricValue = { value: null, ci: null, method: `(sensitivity + specificity)/2 at threshold ${threshold}; ${oneClass ?? ''}` };
  let secondary: BinaryScoreReport['secondary'];
  if (bothClasses) {
    const roc = aurocWithDelong(data);
    auroc = { value: roc.auc, ci: roc.ci, method: `${AUROC_METHOD}; CI: ${roc.method}` };
    auprc = { value: averagePrecision(data), ci: boot?.averagePrecision ?? null, method: `${AUPRC_METHOD}; ${ciNote}` };
    // No closed-form Wilson-based CI with a reference we can test against, so the shared seeded bootstrap is used.
    balancedAccuracy = {
      value: (counts.tp / m + counts.tn / n0) / 2,
      ci: boot?.balancedAccuracy ?? null,
      method: `(sensitivity + specificity)/2 at threshold ${threshold}; ${ciNote}`,
    };
    if (cells !== null && boot !== null) {
      // The same replicates as the CIs above (one draw loop serves every bootstrap quantity).
      const sorted = sortBinary(data);
      const full = sensitivityAtSpecificitySorted(sorted, new Float64Array(sorted.n).fill(1), 0.8);
      const provenance = { B: bootstrap.replicates, seed: bootstrap.seed, degenerate: cells.degenerate };
      secondary = {
        auroc_bootstrap: { value: roc.auc, ci: percentile95(cells.values.auroc), method: `${AUROC_METHOD}; CI: ${boot.method}`, ...provenance },
        sensitivity_at_specificity_0_8: {
          value: full.value,
          ci: percentile95(cells.values.sensitivityAtSpecificity),
          method:
            'max sensitivity over thresholds with specificity ≥ 0.8, threshold chosen post hoc on the test data (positive iff score ≥ t), ' +
            `re-selected inside every bootstrap replicate (as pROC ci.se); CI: ${boot.method}`,
          threshold: full.threshold,
          ...provenance,
        },
      };
    }
  }

  return {
    task: 'binary',
    metricCodeVersion: METRIC_CODE_VERSION,
    n: input.labels.length,
    nPositive: m,
    nNegative: n0,
    threshold,
    confusion: counts,
    bootstrap: {
      B: bootstrap.replicates,
      seed: bootstrap.seed,
      minPerClass: MIN_CLASS_FOR_BOOTSTRAP,
      run: boot !== null,
      degenerate: boot?.degenerate ?? 0,
      ...(floor !== null ? { withheld: floor } : {}),
    },
    metrics: {
      auroc,
      auprc,
      brier,
      sensitivity,
      specificity,
      balanced_accuracy: balancedAccuracy,
      ppv: proportionMetric(counts.tp, counts.tp + counts.fp, 'TP/(TP+FP)'),
      npv: proportionMetric(counts.tn, counts.tn + counts.fn, 'TN/(TN+FN)'),
    },
    ...(secondary !== undefined ? { secondary } : {}),
    ...(isProbability ? { calibration: calibrationReport(input.labels, input.scores) } : {}),
  };
}
