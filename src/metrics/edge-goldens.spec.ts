// Goldens for the edges of issue 8 (test/golden/edge-goldens.json, made by test/golden/make-edge-goldens.py with
// R glm and R survival::concordance via make-edge-goldens.R; see test/golden/README.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logisticRecalibration } from './calibration';
import { harrellC, unoC } from './survival';

interface EdgeGoldens {
  calibration: {
    name: string;
    labels: number[];
    scores: number[];
    R_glm: { intercept: string; intercept_converged: boolean; slope: string; slope_model_intercept: string; slope_converged: boolean; warnings: string[] };
  }[];
  survival: {
    name: string;
    time: number[];
    event: number[];
    risk: number[];
    tau: number;
    numpy_uno_exact_ties: number;
    R_survival_concordance: { harrell: string; concordant: string; discordant: string; tied_x: string };
  }[];
}

const golden = JSON.parse(readFileSync(join(__dirname, '../../test/golden/edge-goldens.json'), 'utf8')) as EdgeGoldens;

describe('recalibration of badly calibrated models: R glm(family = binomial)', () => {
  it.each(golden.calibration.map((c) => [c.name, c] as const))('%s: intercept and slope equal glm to 1e-9, converged', (_, c) => {
    expect(c.R_glm.intercept_converged && c.R_glm.slope_converged).toBe(true);
    expect(c.R_glm.warnings).toEqual([]);
    const r = logisticRecalibration(c.labels, c.scores);
    expect(r.interceptVerdict).toBe('ok');
    expect(r.slopeVerdict).toBe('ok');
    expect(Math.abs((r.intercept as number) - Number(c.R_glm.intercept))).toBeLessThan(1e-9);
    expect(Math.abs((r.slope as number) - Number(c.R_glm.slope))).toBeLessThan(1e-9);
    expect(Math.abs((r.slopeModelIntercept as number) - Number(c.R_glm.slope_model_intercept))).toBeLessThan(1e-9);
  });

  it('the issue case (n = 200, 60 positives, p ~ U(0.0005, 0.002)) is among them and is far from 0', () => {
    const c = golden.calibration.find((x) => x.name === 'tiny-p-n200-60pos');
    expect(Number(c?.R_glm.intercept)).toBeGreaterThan(5.5);
  });
});

describe('concordance under monotone transforms of the risk: R survival::concordance(reverse = TRUE)', () => {
  it.each(golden.survival.map((s) => [s.name, s] as const))("%s: Harrell's C and the pair counts equal R exactly", (_, s) => {
    const ref = s.R_survival_concordance;
    const h = harrellC({ time: s.time, event: s.event, risk: s.risk });
    expect(h.concordant).toBe(Number(ref.concordant));
    expect(h.discordant).toBe(Number(ref.discordant));
    expect(h.tiedRisk).toBe(Number(ref.tied_x));
    expect(Math.abs(h.cIndex - Number(ref.harrell))).toBeLessThan(1e-14);
  });

  it.each(golden.survival.map((s) => [s.name, s] as const))("%s: Uno's C at the declared τ equals the NumPy reference with exact ties", (_, s) => {
    expect(Math.abs(unoC({ time: s.time, event: s.event, risk: s.risk }, s.tau) - s.numpy_uno_exact_ties)).toBeLessThan(1e-12);
  });
});
