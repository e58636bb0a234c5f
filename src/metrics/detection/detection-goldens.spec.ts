// Goldens from test/golden/make-detection-goldens.py: the LUNA16 script's decisions and FROC points, the
// envelope-interpolated CPM from its points, DIAG's nearest-point CPM and MONAI's staircase CPM.
import { readFileSync } from 'fs';
import { join } from 'path';
import { aggregateDetection, detectionCaseRows } from './detection-report';
import { matchScanLuna16 } from './matching';
import { type DetectionScanInput } from './detection-report';

interface GoldenSet {
  name: string;
  threshold: number;
  scans: DetectionScanInput[];
  luna16: { cases: { lesionScores: (number | null)[]; fpScores: number[] }[]; frocPoints?: { fpPerScan: number; sensitivity: number | null; threshold: number }[] };
  expected: {
    cpm: number | null;
    cpmSensitivities?: number[];
    cpm_nearest: number | null;
    cpmNearestSensitivities?: number[];
    cpm_monai_staircase: number | null;
    sensitivity: number | null;
    fp_per_scan: number;
  };
}

const golden = JSON.parse(readFileSync(join(__dirname, '../../../test/golden/detection-goldens.json'), 'utf8')) as { sets: GoldenSet[] };
const TOL = 1e-12;
const close = (a: number | null | undefined, b: number | null | undefined): void => {
  if (b === null || b === undefined) expect(a ?? null).toBeNull();
  else expect(Math.abs((a as number) - b)).toBeLessThanOrEqual(TOL);
};

describe('detection goldens (LUNA16 script, DIAG CPM calculator, MONAI froc.py)', () => {
  it('has the sets the brief asks for', () => {
    expect(golden.sets.length).toBeGreaterThanOrEqual(50);
    expect(golden.sets.map((s) => s.name)).toEqual(expect.arrayContaining(['metrics-md-3.3', 'boundary', 'lesion-free']));
  });

  it.each(golden.sets.map((s) => [s.name, s] as const))('%s: LUNA16 hit/TP/FP decisions per scan', (_name, set) => {
    set.scans.forEach((scan, i) => {
      const m = matchScanLuna16(scan.lesions, scan.detections);
      const ref = set.luna16.cases[i] as { lesionScores: (number | null)[]; fpScores: number[] };
      expect(m.lesionScores).toEqual(ref.lesionScores);
      expect(m.fpScores).toEqual(ref.fpScores);
    });
  });

  it.each(golden.sets.map((s) => [s.name, s] as const))('%s: FROC points, CPMs, sensitivity and FP/scan', (_name, set) => {
    const rows = detectionCaseRows(set.scans, set.threshold);
    const r = aggregateDetection(rows, { threshold: set.threshold, bootstrap: { replicates: 20, seed: 1 } });
    const e = set.expected;
    close(r.metrics.cpm.value, e.cpm);
    close(r.metrics.cpm_nearest.value, e.cpm_nearest);
    close(r.alternatives.cpm_monai_staircase.value, e.cpm_monai_staircase);
    close(r.metrics.sensitivity.value, e.sensitivity);
    close(r.metrics.fp_per_scan.value, e.fp_per_scan);
    if (e.cpmSensitivities) (r.cpmSensitivities.interpolated as number[]).forEach((v, k) => close(v, e.cpmSensitivities?.[k]));
    if (e.cpmNearestSensitivities) (r.cpmSensitivities.nearest as number[]).forEach((v, k) => close(v, e.cpmNearestSensitivities?.[k]));
    // Every point of the script's curve (sklearn drops collinear ones; its first is the added origin) is one of ours.
    for (const p of (set.luna16.frocPoints ?? []).slice(1)) {
      const ours = r.froc.find((q) => q.threshold === p.threshold);
      expect(ours).toBeDefined();
      close(ours?.fpPerScan, p.fpPerScan);
      if (p.sensitivity !== null) close(ours?.sensitivity, p.sensitivity);
    }
  });

  it('reproduces METRICS.md §3.3: interpolated 0.5714, nearest-point 0.25', () => {
    const set = golden.sets.find((s) => s.name === 'metrics-md-3.3') as GoldenSet;
    const r = aggregateDetection(detectionCaseRows(set.scans, 0.5), { threshold: 0.5, bootstrap: { replicates: 10, seed: 1 } });
    expect(r.cpmSensitivities.interpolated).toEqual([0.25, 0.25, 0.25, 0.25, 1, 1, 1]);
    expect(r.cpmSensitivities.nearest).toEqual([0, 0.25, 0.25, 0.25, 1, 0, 0]);
    expect(r.metrics.cpm.value).toBeCloseTo(4 / 7, 12);
    expect(r.metrics.cpm_nearest.value).toBe(0.25);
  });

  it('the MONAI staircase differs from the canonical CPM on some sets (METRICS.md §3.2 correction)', () => {
    const differ = golden.sets.filter((s) => s.expected.cpm !== null && Math.abs((s.expected.cpm as number) - (s.expected.cpm_monai_staircase as number)) > 1e-9);
    expect(differ.length).toBeGreaterThan(10);
  });
});
