// Oracle tests against test/golden/binary-goldens.json (sklearn 1.2.1, scipy 1.10.1, pROC 1.18.0; see its README).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  aurocWithDelong,
  averagePrecision,
  brierScore,
  confusionAtThreshold,
  pairedDelong,
  proportionWithWilson,
} from './binary-classification';
import { scoreBinary } from './score-report';

interface GoldenProportion {
  k: number;
  n: number;
  value: number | null;
  wilson: [number, number] | null;
}

interface GoldenDataset {
  name: string;
  labels: number[];
  scores: number[];
  scoresB?: number[];
  sklearn: {
    roc_auc_score: number;
    average_precision_score: number;
    brier_score_loss: number | null;
    at_threshold: {
      threshold: number;
      tp: number;
      fp: number;
      tn: number;
      fn: number;
      sensitivity: GoldenProportion;
      specificity: GoldenProportion;
      ppv: GoldenProportion;
      npv: GoldenProportion;
      balanced_accuracy: number;
    };
  };
  pROC: {
    auc: number;
    var_delong: number;
    ci_auc_delong: [number, number];
    aucB?: number;
    var_delongB?: number;
    roc_test_paired_delong?: {
      statistic_z: number;
      p_value: number;
      difference: number;
      conf_int: [number, number];
    };
  };
}

const GOLDEN_PATH = join(__dirname, '..', '..', 'test', 'golden', 'binary-goldens.json');
const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { datasets: GoldenDataset[] };

const close = (actual: number | null | undefined, expected: number | null | undefined, tol: number): void => {
  expect(typeof actual).toBe('number');
  expect(typeof expected).toBe('number');
  expect(Math.abs((actual as number) - (expected as number))).toBeLessThanOrEqual(tol);
};

describe('binary metrics vs reference implementations', () => {
  it('covers the datasets the README promises', () => {
    expect(golden.datasets.map((d) => d.name)).toEqual([
      'metrics-md-4.2',
      'hand-ties',
      'random-200',
      'heavy-ties',
      'wdbc-worst-area',
    ]);
  });

  describe.each(golden.datasets.map((d) => [d.name, d] as const))('%s', (_name, d) => {
    const data = { labels: d.labels, scores: d.scores };

    it('matches sklearn roc_auc_score and pROC auc to 1e-9', () => {
      const r = aurocWithDelong(data);
      close(r.auc, d.sklearn.roc_auc_score, 1e-9);
      close(r.auc, d.pROC.auc, 1e-9);
    });

    it('matches pROC var(roc) DeLong to 1e-9 and ci.auc(method="delong") to 1e-9', () => {
      const r = aurocWithDelong(data);
      close(r.variance, d.pROC.var_delong, 1e-9);
      close(r.ci?.[0], d.pROC.ci_auc_delong[0], 1e-9);
      close(r.ci?.[1], d.pROC.ci_auc_delong[1], 1e-9);
    });

    it('matches sklearn average_precision_score to 1e-12', () => {
      close(averagePrecision(data), d.sklearn.average_precision_score, 1e-12);
    });

    it('matches sklearn brier_score_loss to 1e-12 when scores are probabilities', () => {
      if (d.sklearn.brier_score_loss === null) {
        expect(() => brierScore(data)).toThrow(/not a probability/);
        expect(scoreBinary({ ...data, threshold: d.sklearn.at_threshold.threshold }).metrics.brier.value).toBeNull();
      } else {
        close(brierScore(data), d.sklearn.brier_score_loss, 1e-12);
      }
    });

    it('matches confusion counts and hand/scipy Wilson CIs to 1e-12', () => {
      const t = d.sklearn.at_threshold;
      expect(confusionAtThreshold(data, t.threshold)).toEqual({ tp: t.tp, fp: t.fp, tn: t.tn, fn: t.fn });
      const report = scoreBinary({ ...data, threshold: t.threshold });
      for (const name of ['sensitivity', 'specificity', 'ppv', 'npv'] as const) {
        const g = t[name];
        const ours = proportionWithWilson(g.k, g.n);
        const reported = report.metrics[name];
        if (g.value === null) {
          expect(ours.value).toBeNull();
          expect(reported.value).toBeNull();
          continue;
        }
        close(ours.value, g.value, 1e-12);
        close(reported.value, g.value, 1e-12);
        close(reported.ci?.[0], g.wilson?.[0], 1e-12);
        close(reported.ci?.[1], g.wilson?.[1], 1e-12);
      }
      close(report.metrics.balanced_accuracy.value, t.balanced_accuracy, 1e-12);
    });

    it('matches pROC roc.test(paired = TRUE, method = "delong") to 1e-9', () => {
      const test = d.pROC.roc_test_paired_delong;
      if (d.scoresB === undefined || test === undefined) return;
      const r = pairedDelong(d.scores, d.scoresB, d.labels);
      close(r.aucB, d.pROC.aucB, 1e-9);
      close(r.difference, test.difference, 1e-9);
      close(r.z, test.statistic_z, 1e-9);
      close(r.pValue, test.p_value, 1e-9);
      close(r.ci?.[0], test.conf_int[0], 1e-9);
      close(r.ci?.[1], test.conf_int[1], 1e-9);
      close(aurocWithDelong({ labels: d.labels, scores: d.scoresB }).variance, d.pROC.var_delongB, 1e-9);
    });
  });
});
