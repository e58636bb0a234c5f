// Per-case metrics: DeepMind goldens through scoreCase, the §2.5 empty-mask rule, and properties (fast-check).
import fc from 'fast-check';
import { IDENTITY_DIRECTION, type Vec3, type Volume, physicalDiagonal } from '../../volumes/volume';
import { decodeMask, goldenVolume, loadSurfaceGoldens, num } from './golden-cases';
import { SEGMENTATION_METRIC_NAMES, directedPercentile, scoreCase } from './segmentation-metrics';

const goldens = loadSurfaceGoldens();

function vol(dims: Vec3, spacing: Vec3, data: Uint8Array): Volume {
  return { dims, spacing, origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}

describe('scoreCase against DeepMind', () => {
  const ok = goldens.cases.filter((c) => c.deepmind['nSurfelsGt'] !== 0 && c.deepmind['nSurfelsPred'] !== 0 && !c.name.includes('two-cubes'));
  it.each(ok.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const s = scoreCase(goldenVolume(decodeMask(c.reference, c.dims), c), goldenVolume(decodeMask(c.prediction, c.dims), c), { toleranceMm: c.toleranceMm });
    expect(s.status).toBe('ok');
    for (const k of ['dice', 'hd', 'hd95', 'masd', 'assd', 'nsd'] as const) {
      expect(Math.abs((s[k] as number) - num(c.deepmind[k] as number))).toBeLessThanOrEqual(1e-6);
    }
    expect(Math.abs((s.iou as number) - (s.dice as number) / (2 - (s.dice as number)))).toBeLessThanOrEqual(1e-12);
  });

  it('METRICS.md §2.6 case A matches the published figures', () => {
    const c = goldens.cases.find((x) => x.name === 'metrics-md-A')!;
    const s = scoreCase(goldenVolume(decodeMask(c.reference, c.dims), c), goldenVolume(decodeMask(c.prediction, c.dims), c), { toleranceMm: 1 });
    expect(s.hd).toBeCloseTo(27.4955, 4);
    expect(s.hd95).toBeCloseTo(2.0616, 4);
    expect(s.assd).toBeCloseTo(1.178, 4);
    expect(s.masd).toBeCloseTo(1.1727, 4);
    expect(s.nsd).toBeCloseTo(0.8555, 4);
    expect(s.dice).toBeCloseTo(0.7171, 4);
  });
});

describe('empty masks (METRICS.md §2.5)', () => {
  const dims: Vec3 = [8, 6, 5];
  const spacing: Vec3 = [0.7, 0.7, 5];
  const one = new Uint8Array(240);
  one[3 + 8 * (2 + 6 * 2)] = 1;
  const none = new Uint8Array(240);
  const diag = physicalDiagonal({ dims, spacing });

  it.each([
    ['pred_empty', one, none],
    ['ref_empty', none, one],
  ] as const)('%s: DSC = IoU = NSD = 0, distances = the reference diagonal, never ∞', (status, r, p) => {
    const s = scoreCase(vol(dims, spacing, r), vol(dims, spacing, p), { toleranceMm: 1 });
    expect(s.status).toBe(status);
    expect([s.dice, s.iou, s.nsd]).toEqual([0, 0, 0]);
    expect([s.hd, s.hd95, s.masd, s.assd]).toEqual([diag, diag, diag, diag]);
    expect(s.worstDistanceMm).toBe(diag);
  });

  it('both empty: excluded (null) by default, perfect on request', () => {
    const ex = scoreCase(vol(dims, spacing, none), vol(dims, spacing, none), { toleranceMm: 1 });
    expect(ex.status).toBe('both_empty');
    for (const k of SEGMENTATION_METRIC_NAMES) expect(ex[k]).toBeNull();
    const pf = scoreCase(vol(dims, spacing, none), vol(dims, spacing, none), { toleranceMm: 1, bothEmpty: 'perfect' });
    expect([pf.dice, pf.iou, pf.nsd, pf.hd, pf.hd95, pf.masd, pf.assd]).toEqual([1, 1, 1, 0, 0, 0, 0]);
  });

  it('a one-vs-rest label ignores other labels', () => {
    const labels = new Uint8Array(240);
    labels[3 + 8 * (2 + 6 * 2)] = 2;
    const s = scoreCase(vol(dims, spacing, labels), vol(dims, spacing, labels), { toleranceMm: 1, label: 1 });
    expect(s.status).toBe('both_empty');
    expect(scoreCase(vol(dims, spacing, labels), vol(dims, spacing, labels), { toleranceMm: 1, label: 2 }).dice).toBe(1);
  });

  it('refuses masks on different grids', () => {
    expect(() => scoreCase(vol(dims, spacing, one), vol(dims, [0.7, 0.7, 2.5], one), { toleranceMm: 1 })).toThrow(/grid/);
  });

  it('the percentile is nearest-rank on cumulative area, not interpolated', () => {
    expect(directedPercentile(Float64Array.from([0, 1, 3]), Float64Array.from([0.9, 0.06, 0.04]), 95)).toBe(1);
    expect(directedPercentile(Float64Array.from([0, 1, 3]), Float64Array.from([0.9, 0.04, 0.06]), 95)).toBe(3);
  });
});

describe('properties', () => {
  // Random boxes-and-voxels masks inside a grid with a margin, so a shift stays inside the grid.
  const N: Vec3 = [10, 9, 7];
  const maskArb = fc.array(fc.tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 })), { minLength: 1, maxLength: 3 });
  function draw(boxes: [number, number, number, number, number, number][], shift: Vec3 = [0, 0, 0]): Uint8Array {
    const m = new Uint8Array(N[0] * N[1] * N[2]);
    for (const [i, j, k, a, b, c] of boxes) {
      for (let z = k; z < k + c; z++) for (let y = j; y < j + b; y++) for (let x = i; x < i + a; x++) m[x + shift[0] + N[0] * (y + shift[1] + N[1] * (z + shift[2]))] = 1;
    }
    return m;
  }
  const spacingArb = fc.tuple(fc.double({ min: 0.3, max: 3, noNaN: true }), fc.double({ min: 0.3, max: 3, noNaN: true }), fc.double({ min: 0.3, max: 5, noNaN: true }));
  const close = (a: number | null, b: number | null, tol = 1e-9): boolean => a !== null && b !== null && Math.abs(a - b) <= tol * Math.max(1, Math.abs(a));

  it('every metric is symmetric under swapping reference and prediction', () => {
    fc.assert(
      fc.property(maskArb, maskArb, spacingArb, fc.double({ min: 0, max: 4, noNaN: true }), (a, b, s, tau) => {
        const r = vol(N, s, draw(a));
        const p = vol(N, s, draw(b));
        const x = scoreCase(r, p, { toleranceMm: tau });
        const y = scoreCase(p, r, { toleranceMm: tau });
        return SEGMENTATION_METRIC_NAMES.every((k) => close(x[k], y[k]));
      }),
      { numRuns: 40, seed: 9 },
    );
  });

  it('is invariant to translating both masks within the grid', () => {
    fc.assert(
      fc.property(maskArb, maskArb, spacingArb, fc.tuple(fc.integer({ min: -1, max: 1 }), fc.integer({ min: -1, max: 1 }), fc.integer({ min: -1, max: 1 })), (a, b, s, t) => {
        const x = scoreCase(vol(N, s, draw(a)), vol(N, s, draw(b)), { toleranceMm: 1.5 });
        const y = scoreCase(vol(N, s, draw(a, t)), vol(N, s, draw(b, t)), { toleranceMm: 1.5 });
        return SEGMENTATION_METRIC_NAMES.every((k) => close(x[k], y[k]));
      }),
      { numRuns: 40, seed: 10 },
    );
  });

  it('scales distances by c, and leaves DSC/IoU and NSD at τ·c unchanged, when every spacing is multiplied by c', () => {
    fc.assert(
      fc.property(maskArb, maskArb, spacingArb, fc.constantFrom(0.5, 2, 4), fc.double({ min: 0.1, max: 3, noNaN: true }), (a, b, s, c, tau) => {
        const x = scoreCase(vol(N, s, draw(a)), vol(N, s, draw(b)), { toleranceMm: tau });
        const y = scoreCase(vol(N, [s[0] * c, s[1] * c, s[2] * c], draw(a)), vol(N, [s[0] * c, s[1] * c, s[2] * c], draw(b)), { toleranceMm: tau * c });
        // Powers of two scale exactly, so even NSD's ≤ edge cannot move.
        return (['hd', 'hd95', 'masd', 'assd'] as const).every((k) => close((x[k] as number) * c, y[k])) && x.dice === y.dice && x.iou === y.iou && close(x.nsd, y.nsd);
      }),
      { numRuns: 40, seed: 11 },
    );
  });
});
