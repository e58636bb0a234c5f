// Assembles the binary-classification report that runs store and leaderboards rank.
import {
  AUPRC_METHOD,
  AUROC_METHOD,
  BRIER_METHOD,
  BootstrapSpec,
  DEFAULT_BOOTSTRAP,
  WILSON_METHOD,
  aurocWithDelong,
  averagePrecision,
  confusionAtThreshold,
  proportionWithWilson,
  splitByClass,
  stratifiedBootstrapCis,
} from './binary-classification';
import { type CiProvenance } from './bootstrap';
import { type CalibrationReport, calibrationReport } from './calibration';
import { MetricInputError } from './metrics.errors';
import { aurocAndSensitivityAtSpecificityBootstrap } from './weighted-binary';

/** Pinned by every run; bump whenever any number this module produces could change. */
export const METRIC_CODE_VERSION = 'assay-metrics/binary-1.1.0';

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
  readonly metrics: Record<BinaryMetricName, MetricValue>;
  /** Extra estimates that are not leaderboard metrics; `auroc.ci` stays the DeLong CI. */
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
}

export const DEFAULT_THRESHOLD = 0.5;

const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['brier', 'ece', 'log_loss', 'hd', 'hd95', 'masd', 'assd']);
const HIGHER_IS_BETTER: ReadonlySet<string> = new Set<string>([
  ...BINARY_METRIC_NAMES,
  'dsc',
  'iou',
  'nsd',
  'cpm',
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
  const { positives, negatives } = splitByClass(data);
  const counts = confusionAtThreshold(data, threshold);
  const roc = aurocWithDelong(data);
  const boot = stratifiedBootstrapCis({ ...data, threshold }, bootstrap);
  const isProbability = input.scores.every((p) => p >= 0 && p <= 1);

  const sensitivity = proportionMetric(counts.tp, counts.tp + counts.fn, 'TP/(TP+FN)');
  const specificity = proportionMetric(counts.tn, counts.tn + counts.fp, 'TN/(TN+FP)');
  const sens = counts.tp / positives.length;
  const spec = counts.tn / negatives.length;

  let brier: MetricValue;
  if (isProbability) {
    // Same sum as brierScore(); inlined to avoid validating twice.
    let s = 0;
    input.scores.forEach((p, i) => {
      const y = input.labels[i] as number;
      s += (p - y) * (p - y);
    });
    brier = { value: s / input.scores.length, ci: boot.brier, method: `${BRIER_METHOD}; CI: ${boot.method}` };
  } else {
    brier = { value: null, ci: null, method: `${BRIER_METHOD}; not estimable: scores are not probabilities in [0, 1]` };
  }

  // Same seed and strata, hence the same replicates: one loop serves both (equal to aurocBootstrap + sensitivityAtSpecificity).
  const { auroc: aurocBoot, sensitivityAtSpecificity: sensAtSpec } = aurocAndSensitivityAtSpecificityBootstrap(data, { target: 0.8, ...bootstrap });
  const secondary = {
    auroc_bootstrap: { value: aurocBoot.value, ci: aurocBoot.ci, method: `${AUROC_METHOD}; CI: ${aurocBoot.method}`, B: aurocBoot.B, seed: aurocBoot.seed, degenerate: aurocBoot.degenerate },
    sensitivity_at_specificity_0_8: {
      value: sensAtSpec.value,
      ci: sensAtSpec.ci,
      method: sensAtSpec.method,
      threshold: sensAtSpec.threshold,
      B: sensAtSpec.B,
      seed: sensAtSpec.seed,
      degenerate: sensAtSpec.degenerate,
    },
  };

  return {
    task: 'binary',
    metricCodeVersion: METRIC_CODE_VERSION,
    n: input.labels.length,
    nPositive: positives.length,
    nNegative: negatives.length,
    threshold,
    confusion: counts,
    metrics: {
      auroc: { value: roc.auc, ci: roc.ci, method: `${AUROC_METHOD}; CI: ${roc.method}` },
      auprc: {
        value: averagePrecision(data),
        ci: boot.averagePrecision,
        method: `${AUPRC_METHOD}; CI: ${boot.method}`,
      },
      brier,
      sensitivity,
      specificity,
      // No closed-form Wilson-based CI with a reference we can test against, so the shared seeded bootstrap is used.
      balanced_accuracy: {
        value: (sens + spec) / 2,
        ci: boot.balancedAccuracy,
        method: `(sensitivity + specificity)/2 at threshold ${threshold}; CI: ${boot.method}`,
      },
      ppv: proportionMetric(counts.tp, counts.tp + counts.fp, 'TP/(TP+FP)'),
      npv: proportionMetric(counts.tn, counts.tn + counts.fn, 'TN/(TN+FN)'),
    },
    secondary,
    ...(isProbability ? { calibration: calibrationReport(input.labels, input.scores) } : {}),
  };
}
