// Nearest-neighbour resampling of a prediction onto the reference grid (METRICS.md §2.1). Expected values come from
// index arithmetic written out per case, not from the resampler's own affine.
import fc from 'fast-check';
import { resampleNearest, roundIndex } from './geometry';
import { Geometry, IDENTITY_DIRECTION, Vec3, Volume, voxelCount } from './volume';

const at = (v: Volume, i: number, j: number, k: number): number => v.data[i + v.dims[0] * (j + v.dims[1] * k)]!;
const filled = (g: Geometry, f: (i: number, j: number, k: number) => number): Volume => {
  const data = new Int32Array(voxelCount(g));
  for (let k = 0, v = 0; k < g.dims[2]; k++) for (let j = 0; j < g.dims[1]; j++) for (let i = 0; i < g.dims[0]; i++, v++) data[v] = f(i, j, k);
  return { ...g, data };
};

/** Row-major rotation from a unit quaternion (w, x, y, z). */
function rotation(q: [number, number, number, number]): Geometry['direction'] {
  const n = Math.hypot(...q);
  const [w, x, y, z] = q.map((c) => c / n) as [number, number, number, number];
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
}
/** origin + D · (offset ⊙ spacing): where voxel `offset` of a grid lies. */
const shiftedOrigin = (g: Geometry, offset: Vec3): Vec3 => {
  const d = g.direction;
  const a = offset.map((o, c) => o * g.spacing[c]!);
  return [0, 1, 2].map((r) => g.origin[r]! + d[3 * r]! * a[0]! + d[3 * r + 1]! * a[1]! + d[3 * r + 2]! * a[2]!) as Vec3;
};

const oblique = rotation([0.9, 0.1, -0.3, 0.2]);
const reference: Geometry = { dims: [8, 8, 4], spacing: [0.7, 0.7, 2.5], origin: [-12.5, 40.25, 7], direction: oblique };

describe('roundIndex', () => {
  it('rounds halves away from zero and absorbs floating-point noise around halves and integers', () => {
    expect([0.5, 1.5, -0.5, -1.5, 0.49, 2.51].map(roundIndex)).toEqual([1, 2, -1, -2, 0, 3]);
    expect([0.4999999999, 1.4999999999, 2.9999999999, -0.5000000001].map(roundIndex)).toEqual([1, 2, 3, -1]);
    expect(roundIndex(-0.2)).toBe(-0);
  });
});

describe('resampleNearest', () => {
  it('returns the prediction itself when it is on the reference grid', () => {
    const pred = filled(reference, (i, j, k) => i + 10 * j + 100 * k);
    const result = resampleNearest(pred, reference);
    expect(result.resampled).toBe(false);
    expect(result.volume.data).toBe(pred.data);
    expect(result.note).toMatch(/not resampled/);
  });

  it('maps a half-resolution prediction back onto the reference grid block by block', () => {
    // Prediction voxel p covers reference voxels 2p and 2p+1: its centre sits half a reference voxel past 2p.
    const pred = filled(
      { dims: [4, 4, 2], spacing: [1.4, 1.4, 5], origin: shiftedOrigin(reference, [0.5, 0.5, 0.5]), direction: oblique },
      (i, j, k) => 1 + i + 4 * j + 16 * k,
    );
    const result = resampleNearest(pred, reference);
    expect(result.resampled).toBe(true);
    expect(result.note).toMatch(/resampled by nearest neighbour from dims \[4, 4, 2\].*to the reference grid \(dims \[8, 8, 4\]/);
    expect(result.note).not.toMatch(/outside/);
    expect(result.volume.dims).toEqual(reference.dims);
    expect(result.volume.data).toBeInstanceOf(Int32Array);
    for (let k = 0; k < 4; k++) for (let j = 0; j < 8; j++) for (let i = 0; i < 8; i++) expect(at(result.volume, i, j, k)).toBe(at(pred, i >> 1, j >> 1, k >> 1));
  });

  it('breaks exact ties away from zero when prediction and reference share an origin', () => {
    // Reference voxel i lies at prediction index i/2: odd i are ties and go to (i+1)/2; i = 7 → 4 is outside.
    const pred = filled({ dims: [4, 1, 1], spacing: [1.4, 0.7, 2.5], origin: reference.origin, direction: oblique }, (i) => 10 + i);
    const result = resampleNearest(pred, { ...reference, dims: [8, 1, 1] });
    expect(Array.from(result.volume.data)).toEqual([10, 11, 11, 12, 12, 13, 13, 0]);
    expect(result.note).toMatch(/1 of 8 reference voxels lie outside the prediction and are 0/);
  });

  it('follows a shifted origin, with background where the prediction does not reach', () => {
    const pred = filled({ ...reference, origin: shiftedOrigin(reference, [2, -1, 0]) }, (i, j, k) => 1 + i + 8 * j + 64 * k);
    const result = resampleNearest(pred, reference);
    for (let k = 0; k < 4; k++)
      for (let j = 0; j < 8; j++)
        for (let i = 0; i < 8; i++) {
          const [pi, pj] = [i - 2, j + 1];
          expect(at(result.volume, i, j, k)).toBe(pi >= 0 && pj < 8 ? at(pred, pi, pj, k) : 0);
        }
    // i < 2 (64 voxels) or j = 7 (32), counted once where both hold (8).
    expect(result.note).toMatch(/; 88 of 256 reference voxels lie outside/);
  });

  it('round-trips a prediction on any integer sub-grid of the reference (property)', () => {
    const axis = fc.record({ n: fc.integer({ min: 1, max: 4 }), factor: fc.integer({ min: 1, max: 3 }), offset: fc.integer({ min: 0, max: 2 }), extra: fc.integer({ min: 0, max: 2 }) });
    fc.assert(
      fc.property(
        fc.tuple(axis, axis, axis),
        fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: 0.1, max: 1, noNaN: true })),
        fc.tuple(fc.constantFrom(0.5, 0.6, 0.7, 1.25, 3), fc.constantFrom(0.6, 0.8, 1), fc.constantFrom(1, 2.5, 5)),
        fc.tuple(fc.double({ min: -300, max: 300, noNaN: true }), fc.double({ min: -300, max: 300, noNaN: true }), fc.double({ min: -300, max: 300, noNaN: true })),
        fc.integer(),
        (axes, q, spacing, origin, seed) => {
          const fine: Geometry = {
            dims: axes.map((a) => a.offset + a.factor * a.n + a.extra) as Vec3,
            spacing: spacing.map((s) => Math.fround(s)) as Vec3,
            origin,
            direction: rotation([q[3], q[0], q[1], q[2]]),
          };
          const coarse: Geometry = {
            dims: axes.map((a) => a.n) as Vec3,
            spacing: axes.map((a, c) => a.factor * fine.spacing[c]!) as Vec3,
            origin: shiftedOrigin(fine, axes.map((a) => a.offset) as Vec3),
            direction: fine.direction,
          };
          const pred = filled(coarse, (i, j, k) => (seed ^ (i * 73856093) ^ (j * 19349663) ^ (k * 83492791)) | 1);
          const up = resampleNearest(pred, fine).volume;
          // Each coarse voxel centre is exactly a fine voxel centre, and that fine voxel took the coarse value.
          const back = resampleNearest(up, coarse);
          expect(Array.from(back.volume.data)).toEqual(Array.from(pred.data));
          // And every fine voxel holds the value of the nearest coarse voxel, or 0 outside.
          const expected: number[] = [];
          for (let k = 0; k < fine.dims[2]; k++)
            for (let j = 0; j < fine.dims[1]; j++)
              for (let i = 0; i < fine.dims[0]; i++) {
                // The coarse index in exact grid arithmetic ((i − offset)/factor), rounded half away from zero.
                const ci = [i, j, k].map((x, c) => (x - axes[c]!.offset) / axes[c]!.factor).map((x) => Math.sign(x) * Math.floor(Math.abs(x) + 0.5));
                const inside = ci.every((x, c) => x >= 0 && x < axes[c]!.n);
                expected.push(inside ? at(pred, ...(ci as [number, number, number])) : 0);
              }
          expect(Array.from(up.data)).toEqual(expected);
        },
      ),
      { numRuns: 200, seed: 20261202 },
    );
  });
});
