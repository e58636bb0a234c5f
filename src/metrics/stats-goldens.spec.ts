// Oracle tests against test/golden/stats-goldens.json (scipy 1.10.1, sklearn 1.2.1, numpy 1.24.2, R 4.2.2 with
// survival 3.5-3; see test/golden/README.md for which reference produced which value).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bcaInterval, bootstrapCi } from './bootstrap';
import { decisionCurve, expectedCalibrationError, logisticRecalibration, reliabilityCurve, scaledBrier } from './calibration';
import { holmAdjust, kendallTauB, wilcoxonSignedRank, type Alternative } from './hypothesis-tests';
import { harrellC, unoC } from './survival';
import { sensitivityAtSpecificitySorted, sortBinary, specificityAtSensitivitySorted } from './weighted-binary';

interface Golden {
  bca_fixed: { name: string; estimate: number; replicates: number[]; jackknife: number[]; numpy: { z0: number; acceleration: number; alpha1: number; alpha2: number; ci: [number, number] } }[];
  scipy_bca: { sample: number[]; ci: [number, number]; percentile_ci: [number, number]; standard_error: number };
  wilcoxon: { name: string; x: number[]; y: number[]; scipy: Record<Alternative, { statistic: number; p: number; method: string }> }[];
  kendall: { x: number[]; y: number[]; tau: number }[];
  holm_input: number[];
  calibration: {
    name: string; labels: number[]; scores: number[];
    sklearn_calibration_curve: { prob_true: number[]; prob_pred: number[] };
    bin_counts: number[]; ece: number; brier: number; scaled_brier: number;
    decision_curve: { thresholds: number[]; net_benefit: number[]; treat_all: number[] };
  }[];
  fixed_rates: { name: string; labels: number[]; scores: number[]; sens_at_spec: Record<string, { value: number; threshold: number }>; spec_at_sens: Record<string, { value: number; threshold: number }> }[];
  survival: { name: string; time: number[]; event: number[]; risk: number[]; numpy_sksurv: { harrell: number; concordant: number; discordant: number; tied_risk: number; uno: { tau: number; c: number }[] } }[];
  R: {
    glm_calibration: Record<string, { intercept: number; slope: number; slope_model_intercept: number }>;
    p_adjust_holm: number[];
    wilcox_test_challengeR: Record<string, Record<'two.sided' | 'greater' | 'less', { statistic_V: number; p: number }>>;
    survival_concordance: Record<string, { harrell: number; concordant: number; discordant: number; tied_x: number }>;
  };
}

const golden = JSON.parse(readFileSync(join(__dirname, '..', '..', 'test', 'golden', 'stats-goldens.json'), 'utf8')) as Golden;
const ones = (n: number): Float64Array => new Float64Array(n).fill(1);

describe('golden: BCa formulas on fixed replicate vectors (NumPy by hand)', () => {
  it.each(golden.bca_fixed.map((c) => [c.name, c] as const))('matches z0, â, α1, α2 and the interval for %s', (_n, c) => {
    const r = bcaInterval({ estimate: c.estimate, replicates: Float64Array.from(c.replicates), jackknife: Float64Array.from(c.jackknife) });
    if (typeof r === 'string') throw new Error(r);
    expect(r.z0).toBeCloseTo(c.numpy.z0, 12);
    expect(r.acceleration).toBeCloseTo(c.numpy.acceleration, 12);
    expect(r.alpha1).toBeCloseTo(c.numpy.alpha1, 12);
    expect(r.alpha2).toBeCloseTo(c.numpy.alpha2, 12);
    expect(r.ci[0]).toBeCloseTo(c.numpy.ci[0], 12);
    expect(r.ci[1]).toBeCloseTo(c.numpy.ci[1], 12);
  });

  it('agrees with scipy.stats.bootstrap(method="BCa") on the mean of a skewed sample within Monte Carlo error', () => {
    const x = golden.scipy_bca.sample;
    const mean = (w: Float64Array): number => {
      let s = 0;
      let t = 0;
      x.forEach((v, i) => {
        s += v * (w[i] as number);
        t += w[i] as number;
      });
      return s / t;
    };
    const ours = bootstrapCi(mean, { n: x.length, replicates: 20000, seed: 7, interval: 'bca' });
    // Different replicates (scipy B = 9999, ours 20000): each endpoint has MC s.d. ≈ 0.03·SE; 0.15·SE is ~4 s.d.
    const tol = 0.15 * golden.scipy_bca.standard_error;
    expect(Math.abs((ours.ci as [number, number])[0] - golden.scipy_bca.ci[0])).toBeLessThan(tol);
    expect(Math.abs((ours.ci as [number, number])[1] - golden.scipy_bca.ci[1])).toBeLessThan(tol);
    const pct = bootstrapCi(mean, { n: x.length, replicates: 20000, seed: 7 });
    expect(Math.abs((pct.ci as [number, number])[0] - golden.scipy_bca.percentile_ci[0])).toBeLessThan(tol);
    expect(Math.abs((pct.ci as [number, number])[1] - golden.scipy_bca.percentile_ci[1])).toBeLessThan(tol);
  });
});

describe('golden: Wilcoxon signed-rank', () => {
  for (const c of golden.wilcoxon) {
    for (const alt of ['two-sided', 'greater', 'less'] as const) {
      it(`matches scipy.stats.wilcoxon (${c.scipy[alt].method}) for ${c.name}, ${alt}`, () => {
        const r = wilcoxonSignedRank(c.x, c.y, { alternative: alt, mode: c.scipy[alt].method === 'approx' ? 'approx' : 'auto' });
        expect(r.statistic).toBe(c.scipy[alt].statistic);
        expect(r.pValue as number).toBeCloseTo(c.scipy[alt].p, 12);
      });
      it(`matches R wilcox.test(paired, exact = FALSE, correct = TRUE) for ${c.name}, ${alt}`, () => {
        const rAlt = alt === 'two-sided' ? 'two.sided' : alt;
        const ref = golden.R.wilcox_test_challengeR[c.name]?.[rAlt];
        const r = wilcoxonSignedRank(c.x, c.y, { alternative: alt, mode: 'approx', correction: true });
        expect(r.pValue as number).toBeCloseTo(Number(ref?.p), 12);
      });
    }
  }
  it('uses the exact distribution by default for small untied samples', () => {
    const c = golden.wilcoxon[0];
    expect(c && wilcoxonSignedRank(c.x, c.y).mode).toBe('exact');
  });
});

describe('golden: Holm and Kendall', () => {
  it('matches R p.adjust(method = "holm")', () => {
    const raw: unknown = golden.R.p_adjust_holm;
    const ref = (typeof raw === 'string' ? JSON.parse(raw) : raw) as number[];
    holmAdjust(golden.holm_input).forEach((p, i) => expect(p as number).toBeCloseTo(ref[i] as number, 15));
  });
  it.each(golden.kendall)('matches scipy.stats.kendalltau (τ-b) %#', (c) => {
    expect(kendallTauB(c.x, c.y)).toBeCloseTo(c.tau, 14);
  });
});

describe('golden: calibration', () => {
  for (const c of golden.calibration) {
    it(`matches sklearn calibration_curve(n_bins=10) and the hand formulas for ${c.name}`, () => {
      const curve = reliabilityCurve(c.labels, c.scores);
      expect(curve.map((b) => b.count)).toEqual(c.bin_counts);
      const filled = curve.filter((b) => b.count > 0);
      filled.forEach((b, i) => {
        expect(b.meanPredicted as number).toBeCloseTo(c.sklearn_calibration_curve.prob_pred[i] as number, 12);
        expect(b.observedRate as number).toBeCloseTo(c.sklearn_calibration_curve.prob_true[i] as number, 12);
      });
      expect(expectedCalibrationError(c.labels, c.scores)).toBeCloseTo(c.ece, 12);
      const sb = scaledBrier(c.labels, c.scores);
      expect(sb.brier).toBeCloseTo(c.brier, 14);
      expect(sb.scaled as number).toBeCloseTo(c.scaled_brier, 12);
      const dc = decisionCurve(c.labels, c.scores);
      dc.forEach((p, i) => {
        expect(p.threshold).toBe(c.decision_curve.thresholds[i]);
        expect(p.netBenefit).toBeCloseTo(c.decision_curve.net_benefit[i] as number, 12);
        expect(p.treatAll).toBeCloseTo(c.decision_curve.treat_all[i] as number, 12);
      });
      const ref = golden.R.glm_calibration[c.name];
      const rec = logisticRecalibration(c.labels, c.scores);
      if (ref === undefined) {
        expect(rec.intercept).toBeNull();
      } else {
        expect(rec.intercept as number).toBeCloseTo(Number(ref.intercept), 9);
        expect(rec.slope as number).toBeCloseTo(Number(ref.slope), 9);
        expect(rec.slopeModelIntercept as number).toBeCloseTo(Number(ref.slope_model_intercept), 9);
      }
    });
  }
  it('reproduces the METRICS.md §4.5 goldens (ECE 0.15, NB(0.3) 0.357143, treat-all 0.285714)', () => {
    const c = golden.calibration[0] as Golden['calibration'][number];
    expect(expectedCalibrationError(c.labels, c.scores)).toBeCloseTo(0.15, 12);
    const p = decisionCurve(c.labels, c.scores, [0.3])[0];
    expect(p?.netBenefit).toBeCloseTo(0.357143, 6);
    expect(p?.treatAll).toBeCloseTo(0.285714, 6);
  });
});

describe('golden: sensitivity at fixed specificity (sklearn roc_curve)', () => {
  for (const c of golden.fixed_rates) {
    it(`matches max TPR over thresholds meeting the target for ${c.name}`, () => {
      const s = sortBinary({ labels: c.labels, scores: c.scores });
      for (const [target, ref] of Object.entries(c.sens_at_spec)) {
        const r = sensitivityAtSpecificitySorted(s, ones(s.n), Number(target));
        expect(r.value).toBeCloseTo(ref.value, 14);
        expect(r.threshold).toBe(ref.threshold);
      }
      for (const [target, ref] of Object.entries(c.spec_at_sens)) {
        const r = specificityAtSensitivitySorted(s, ones(s.n), Number(target));
        expect(r.value).toBeCloseTo(ref.value, 14);
        expect(r.threshold).toBe(ref.threshold);
      }
    });
  }
});

describe('golden: survival concordance', () => {
  for (const c of golden.survival) {
    const input = { time: c.time, event: c.event, risk: c.risk };
    it(`Harrell's C matches R survival::concordance(reverse = TRUE) and the sksurv formula for ${c.name}`, () => {
      const h = harrellC(input);
      const r = golden.R.survival_concordance[c.name];
      expect(h.cIndex).toBeCloseTo(Number(r?.harrell), 14);
      expect(h.concordant).toBe(Number(r?.concordant));
      expect(h.discordant).toBe(Number(r?.discordant));
      expect(h.tiedRisk).toBe(Number(r?.tied_x));
      expect(h.cIndex).toBeCloseTo(c.numpy_sksurv.harrell, 14);
    });
    it(`Uno's C matches the NumPy implementation of scikit-survival's concordance_index_ipcw for ${c.name}`, () => {
      for (const u of c.numpy_sksurv.uno) expect(unoC(input, u.tau)).toBeCloseTo(u.c, 12);
    });
  }
  it("reproduces METRICS.md §5 (Harrell 0.903226; Uno τ = 25 0.925201, scikit-survival's own value)", () => {
    const c = golden.survival[0] as Golden['survival'][number];
    expect(harrellC(c).cIndex).toBeCloseTo(0.903226, 6);
    expect(unoC(c, 25)).toBeCloseTo(0.925201, 6);
  });
});
