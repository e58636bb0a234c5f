// Golden tests against DeepMind surface-distance (test/golden/make-surface-goldens.py → surface-goldens.json).
import { decodeMask, goldenVolume, loadSurfaceGoldens, num } from './golden-cases';
import { surfaceMetrics } from './segmentation-metrics';
import { computeSurfaceDistances } from './surface-distances';
import { BOURKE_EDGES, bourkeTriangles, surfelAreaTable } from './surfel-areas';

const goldens = loadSurfaceGoldens();

function closeArrays(ours: Float64Array, want: number[]): void {
  expect(ours.length).toBe(want.length);
  let worst = 0;
  want.forEach((w, i) => (worst = Math.max(worst, Math.abs((ours[i] as number) - w))));
  expect(worst).toBeLessThanOrEqual(1e-12);
}

/** Counts of (distance, area) pairs, both rounded to 1e-9 relative, as a sorted list (comparable with toEqual). */
function pairMultiset(pairs: readonly (readonly [number, number])[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const [d, a] of pairs) {
    const key = `${d.toPrecision(10)}|${a.toPrecision(10)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
}

describe('surfel area table', () => {
  it('is a consistent marching-cubes table: every configuration crosses exactly the edges whose corners differ', () => {
    for (let c = 0; c < 256; c++) {
      const crossed = new Set<number>();
      BOURKE_EDGES.forEach(([a, b], e) => {
        if (((c >> a) & 1) !== ((c >> b) & 1)) crossed.add(e);
      });
      const used = bourkeTriangles(c);
      expect(used.length % 3).toBe(0);
      expect(new Set(used)).toEqual(crossed);
    }
  });

  it.each(goldens.areaTables.map((t) => [t.spacing.join('×'), t] as const))('equals DeepMind’s table at spacing %s', (_, t) => {
    const ours = surfelAreaTable(t.spacing);
    t.areas.forEach((a, code) => expect(Math.abs((ours[code] as number) - a)).toBeLessThanOrEqual(1e-12 * Math.max(1, a)));
  });
});

describe('computeSurfaceDistances against DeepMind', () => {
  it.each(goldens.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const gt = goldenVolume(decodeMask(c.reference, c.dims), c);
    const pred = goldenVolume(decodeMask(c.prediction, c.dims), c);
    const sd = computeSurfaceDistances(gt, pred, c.spacing);
    const dm = c.deepmind;
    expect(sd.surfelAreasGt.length).toBe(dm['nSurfelsGt']);
    expect(sd.surfelAreasPred.length).toBe(dm['nSurfelsPred']);
    if (dm.arrays) {
      // Exact per-surfel arrays (sorted by (distance, area) as DeepMind returns them).
      expect(Array.from(sd.distancesGtToPred)).toEqual(dm.arrays.distances_gt_to_pred.map(num));
      expect(Array.from(sd.distancesPredToGt)).toEqual(dm.arrays.distances_pred_to_gt.map(num));
      closeArrays(sd.surfelAreasGt, dm.arrays.surfel_areas_gt.map(num));
      closeArrays(sd.surfelAreasPred, dm.arrays.surfel_areas_pred.map(num));
    }
    if (dm.pairHistogram) {
      // The (distance, area) multiset per direction. Distances within 1e-12: on an exact tie between two offsets
      // (a 3-4-5 triple: (3·0.7)² + (4·0.7)² vs (5·0.7)²) SciPy and we may pick different nearest cells, whose float
      // sums differ by an ulp. Areas within 1e-12: our table sums its triangles in another order.
      for (const [dir, d, a] of [
        ['gt', sd.distancesGtToPred, sd.surfelAreasGt],
        ['pred', sd.distancesPredToGt, sd.surfelAreasPred],
      ] as const) {
        const expected = dm.pairHistogram[dir].flatMap(([dd, aa, n]) => Array.from({ length: n }, () => [num(dd), num(aa)] as const));
        expect(pairMultiset(Array.from(d, (x, i) => [x, a[i] as number] as const))).toEqual(pairMultiset(expected));
      }
    }
    if (sd.surfelAreasGt.length > 0 && sd.surfelAreasPred.length > 0) {
      const m = surfaceMetrics(sd, c.toleranceMm);
      for (const key of ['hd', 'hd95', 'masd', 'assd', 'nsd', 'asdGtToPred', 'asdPredToGt'] as const) {
        const want = num(dm[key] as number);
        expect(Math.abs(m[key] - want)).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('reproduces the nearest-rank toy check of METRICS.md §2.4 (not the linear 1.1)', () => {
    const d = Float64Array.from(goldens.toyPercentile.distances);
    const sd = { distancesGtToPred: d, surfelAreasGt: new Float64Array(d.length).fill(1), distancesPredToGt: new Float64Array(1), surfelAreasPred: new Float64Array(1).fill(1), sorted: true };
    expect(surfaceMetrics(sd, 1).hd95).toBe(goldens.toyPercentile.hd95);
  });
});
