import { AUPRC_METHOD, AUROC_METHOD, BRIER_METHOD, confusionAtThreshold, DELONG_CI_METHOD, proportionWithWilson, WILSON_METHOD } from '../../metrics/binary-classification';
import type { CalibrationReport } from '../../metrics/calibration';
import { DECISION_CURVE_METHOD, ECE_METHOD, RELIABILITY_BINNING } from '../../metrics/calibration';

import type { Curve, NamedEstimate } from '../../reports/evidence';
import { rocBand } from '../../metrics/roc-band';
import { benchmarkBootstrap, column } from '../scoring-support';
import { namedEstimate, type TaskReport, type TaskReportInput } from '../task-report';

const REFERENCE = 'Assay src/metrics (METRICS.md §4); golden values from scikit-learn and pROC';

/** ROC and PR operating points at every distinct score (positive iff p ≥ t), from the stored labels and probabilities. */
function operatingPoints(labels: number[], scores: number[]): { t: number; tp: number; fp: number; tn: number; fn: number }[] {
  const thresholds = [...new Set(scores)].sort((a, b) => b - a);
  return thresholds.map((t) => ({ t, ...confusionAtThreshold({ labels, scores }, t) }));
}

/** Binary classification: ROC (with the DeLong AUROC), PR, reliability, decision curve, the confusion table at the locked threshold. */
export function binaryReport(input: TaskReportInput): TaskReport {
  const { perCase, metrics, details, definition } = input;
  const labels = column(perCase, 'label');
  const scores = column(perCase, 'probability');
  const threshold = typeof details['threshold'] === 'number' ? details['threshold'] : (definition.metrics.threshold ?? 0.5);
  const nPos = labels.filter((y) => y === 1).length;
  const nNeg = labels.length - nPos;
  const curves: Curve[] = [];
  const notes: string[] = [];
  if (labels.length > 0 && nPos > 0 && nNeg > 0) {
    const points = operatingPoints(labels, scores);
    const roc = [{ fpr: 0, tpr: 0 }, ...points.map((p) => ({ fpr: p.fp / nNeg, tpr: p.tp / nPos }))];
    // The band from the benchmark's own bootstrap (replicates and seed): the same report re-rendered has the same band.
    const { replicates, seed } = benchmarkBootstrap(definition);
    const band = rocBand(labels, scores, { replicates, seed });
    curves.push({ kind: 'roc', points: roc, band: band.points, auc: namedEstimate('auroc', metrics['auroc']) });
    curves.push({ kind: 'pr', points: points.map((p) => ({ recall: p.tp / nPos, precision: p.tp / (p.tp + p.fp) })), prevalence: nPos / labels.length });
    notes.push(`ROC curve band: ${band.method}`);
  } else {
    notes.push(`ROC and PR curves not drawn: ${nPos} positive and ${nNeg} negative case(s)`);
  }
  // Sens/spec/PPV/NPV at the locked threshold, each with its Wilson CI (recomputed from the stored per-case rows).
  const extraEstimates: NamedEstimate[] = [];
  let tables: TaskReport['tables'] = [];
  if (labels.length > 0) {
    const c = confusionAtThreshold({ labels, scores }, threshold);
    const wilson = (metric: string, k: number, n: number): NamedEstimate => {
      const p = proportionWithWilson(k, n);
      return { metric, value: p.value, ci: p.ci, method: `${metric} at the locked threshold ${threshold} (positive iff p ≥ t); ${WILSON_METHOD}`, n, counts: { numerator: k, denominator: n }, direction: 'higher' };
    };
    extraEstimates.push(wilson('sensitivity', c.tp, c.tp + c.fn), wilson('specificity', c.tn, c.tn + c.fp), wilson('ppv', c.tp, c.tp + c.fp), wilson('npv', c.tn, c.tn + c.fn));
    tables = [
      {
        title: `Confusion table at the locked threshold ${threshold}`,
        columns: ['', 'reference positive', 'reference negative', 'total'],
        rows: [
          ['predicted positive', c.tp, c.fp, c.tp + c.fp],
          ['predicted negative', c.fn, c.tn, c.fn + c.tn],
          ['total', c.tp + c.fn, c.fp + c.tn, labels.length],
        ],
        counts: true,
      },
    ];
  }
  const cal = details['calibration'] as CalibrationReport | undefined;
  let calibration: TaskReport['calibration'] = null;
  if (cal) {
    const est = (metric: string, value: number | null, method: string, direction?: 'higher' | 'lower'): NamedEstimate => ({ metric, value, ci: null, method, ...(direction ? { direction } : {}) });
    calibration = {
      estimates: [
        est('brier', cal.brier, BRIER_METHOD, 'lower'),
        est('scaled_brier', cal.scaledBrier, cal.scaledBrierMethod, 'higher'),
        est('ece', cal.ece, cal.eceMethod),
        est('calibration_intercept', cal.intercept, `${cal.recalibrationMethod}; verdict ${cal.interceptVerdict}`),
        est('calibration_slope', cal.slope, `${cal.recalibrationMethod}; verdict ${cal.slopeVerdict}`),
      ],
      curves: [
        { kind: 'reliability', bins: cal.reliability.filter((b) => b.count > 0).map((b) => ({ predicted: b.meanPredicted as number, observed: b.observedRate as number, n: b.count })) },
        { kind: 'decision', points: cal.decisionCurve.points.map((p) => ({ threshold: p.threshold, model: p.netBenefit, treatAll: p.treatAll, treatNone: p.treatNone })) },
      ],
    };
  }
  const sensitivity: TaskReport['sensitivity'] = [];
  const boot = (details['secondary'] as { auroc_bootstrap?: { value: number | null; ci: [number, number] | null; method: string } } | undefined)?.auroc_bootstrap;
  if (boot) sensitivity.push({ choice: 'AUROC CI: stratified bootstrap instead of DeLong', estimate: { metric: 'auroc', value: boot.value, ci: boot.ci, method: boot.method } });
  return {
    problemCategory: 'image-level classification (ImLC), binary: one probability per case, a locked operating threshold',
    ciMethod: `AUROC: ${DELONG_CI_METHOD}; proportions: ${WILSON_METHOD}; AUPRC, Brier, balanced accuracy: stratified percentile bootstrap`,
    aggregation: 'metrics over all cases of the split (no per-case averaging)',
    extraEstimates,
    curves,
    tables,
    calibration,
    sensitivity,
    metricDefinitions: [
      { metric: 'auroc', definition: `Area under the ROC curve: ${AUROC_METHOD}; CI ${DELONG_CI_METHOD}`, reference: `${REFERENCE}: binary-classification.ts aurocWithDelong (pROC ci.auc method="delong")` },
      { metric: 'auprc', definition: AUPRC_METHOD, reference: `${REFERENCE}: binary-classification.ts averagePrecision (sklearn average_precision_score)` },
      { metric: 'brier', definition: BRIER_METHOD, reference: `${REFERENCE}: binary-classification.ts brierScore (sklearn brier_score_loss)` },
      { metric: 'sensitivity', definition: `TP/(TP+FN) at the locked threshold; ${WILSON_METHOD}`, reference: `${REFERENCE}: binary-classification.ts proportionWithWilson` },
      { metric: 'specificity', definition: `TN/(TN+FP) at the locked threshold; ${WILSON_METHOD}`, reference: `${REFERENCE}: binary-classification.ts proportionWithWilson` },
      { metric: 'ppv', definition: `TP/(TP+FP) at the locked threshold; ${WILSON_METHOD}`, reference: `${REFERENCE}: binary-classification.ts proportionWithWilson` },
      { metric: 'npv', definition: `TN/(TN+FN) at the locked threshold; ${WILSON_METHOD}`, reference: `${REFERENCE}: binary-classification.ts proportionWithWilson` },
      { metric: 'balanced_accuracy', definition: '(sensitivity + specificity)/2 at the locked threshold', reference: `${REFERENCE}: score-report.ts` },
      { metric: 'ece', definition: `${ECE_METHOD}; ${RELIABILITY_BINNING}`, reference: `${REFERENCE}: calibration.ts expectedCalibrationError` },
      { metric: 'net_benefit', definition: DECISION_CURVE_METHOD, reference: `${REFERENCE}: calibration.ts decisionCurve (dcurves)` },
    ],
    caseValue: { metric: 'absolute error |p − y|', direction: 'lower', of: (r) => (typeof r['probability'] === 'number' && typeof r['label'] === 'number' ? Math.abs(r['probability'] - r['label']) : null) },
    caseFailure: () => null,
    excluded: null,
    perCaseColumns: ['caseId', 'label', 'probability'],
    notes,
  };
}

