import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rocBand, rocOrder, sensitivityOnGrid } from './roc-band';

// Goldens: test/golden/make-rocband-goldens.py (the draws re-implemented in Python, vertices from scikit-learn's
// roc_curve with the draws as sample weights, numpy's linear percentile).
interface Golden { name: string; labels: number[]; scores: number[]; B: number; seed: number; grid: number; curve: number[]; lo: number[]; hi: number[] }
const goldens = (JSON.parse(readFileSync(join(__dirname, '../../test/golden/rocband-goldens.json'), 'utf8')) as { datasets: Golden[] }).datasets;

describe('rocBand (pointwise ROC confidence band)', () => {
  it.each(goldens.map((g) => [g.name, g] as const))('%s: the curve on the grid and the band equal the reference to 1e-12', (_name, g) => {
    const { order, groupEnd } = rocOrder(g.scores);
    const curve = new Float64Array(g.grid + 1);
    sensitivityOnGrid(g.labels, order, groupEnd, new Float64Array(g.labels.length).fill(1), g.grid, curve, new Float64Array(g.labels.length + 1), new Float64Array(g.labels.length + 1));
    for (let i = 0; i <= g.grid; i++) expect(Math.abs((curve[i] as number) - (g.curve[i] as number))).toBeLessThan(1e-12);
    const band = rocBand(g.labels, g.scores, { replicates: g.B, seed: g.seed, grid: g.grid });
    expect(band.points).toHaveLength(g.grid + 1);
    band.points.forEach((p, i) => {
      expect(p.fpr).toBeCloseTo(i / g.grid, 15);
      expect(Math.abs(p.lo - (g.lo[i] as number))).toBeLessThan(1e-12);
      expect(Math.abs(p.hi - (g.hi[i] as number))).toBeLessThan(1e-12);
    });
  });

  it('is a band: lo ≤ hi everywhere, within [0, 1], and sensitivity 1 at rate 1', () => {
    const g = goldens.find((x) => x.name === 'wdbc-worst-area') as Golden;
    const band = rocBand(g.labels, g.scores, { replicates: 100, seed: 3 });
    for (const p of band.points) {
      expect(p.lo).toBeLessThanOrEqual(p.hi);
      expect(p.lo).toBeGreaterThanOrEqual(0);
      expect(p.hi).toBeLessThanOrEqual(1);
    }
    expect(band.points.at(-1)).toEqual({ fpr: 1, lo: 1, hi: 1 });
    expect(band.method).toMatch(/100 bootstrap replicates stratified by class \(mulberry32, seed 3\)/);
  });

  it('narrows as the cohort grows (same score distributions, 4× the cases)', () => {
    const g = goldens.find((x) => x.name === 'heavy-ties') as Golden;
    const width = (labels: number[], scores: number[]): number => rocBand(labels, scores, { replicates: 400, seed: 9 }).points.reduce((s, p) => s + (p.hi - p.lo), 0);
    const four = (a: number[]): number[] => [...a, ...a, ...a, ...a];
    expect(width(four(g.labels), four(g.scores))).toBeLessThan(0.7 * width(g.labels, g.scores));
  });

  it('refuses one class, mismatched lengths and a bad grid', () => {
    expect(() => rocBand([1, 1], [0.2, 0.3], { replicates: 10, seed: 1 })).toThrow(/both classes/);
    expect(() => rocBand([1, 0], [0.2], { replicates: 10, seed: 1 })).toThrow(/differ in length/);
    expect(() => rocBand([1, 0], [0.2, 0.1], { replicates: 10, seed: 1, grid: 0 })).toThrow(/grid/);
  });
});
