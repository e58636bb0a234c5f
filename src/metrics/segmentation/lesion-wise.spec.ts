import { IDENTITY_DIRECTION, type Vec3, type Volume, physicalDiagonal } from '../../volumes/volume';
import { decodeMask, loadSurfaceGoldens } from './golden-cases';
import { connectedComponents, lesionWiseCase, matchComponents } from './lesion-wise';

const goldens = loadSurfaceGoldens();

function vol(dims: Vec3, data: Uint8Array, spacing: Vec3 = [1, 1, 1]): Volume {
  return { dims, spacing, origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}

function boxes(dims: Vec3, list: number[][]): Uint8Array {
  const m = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (const [i0, i1, j0, j1, k0, k1] of list as [number, number, number, number, number, number][]) {
    for (let k = k0; k < k1; k++) for (let j = j0; j < j1; j++) for (let i = i0; i < i1; i++) m[i + dims[0] * (j + dims[1] * k)] = 1;
  }
  return m;
}

describe('connectedComponents (26-connectivity)', () => {
  it.each(goldens.cases.filter((c) => c.dims[0] * c.dims[1] * c.dims[2] <= 200000).map((c) => [c.name, c] as const))(
    'counts as scipy.ndimage.label with a 3×3×3 structure: %s',
    (_, c) => {
      expect(connectedComponents(decodeMask(c.reference, c.dims), c.dims).count).toBe(c.componentsReference);
      expect(connectedComponents(decodeMask(c.prediction, c.dims), c.dims).count).toBe(c.componentsPrediction);
    },
  );

  it('joins voxels touching at a corner only, and separates voxels two apart', () => {
    const dims: Vec3 = [4, 4, 4];
    const m = new Uint8Array(64);
    m[0] = 1;
    m[1 + 4 * (1 + 4 * 1)] = 1; // corner neighbour of voxel 0
    m[3 + 4 * (3 + 4 * 3)] = 1;
    const c = connectedComponents(m, dims);
    expect(c.count).toBe(2);
    expect(Array.from(c.sizes)).toEqual([2, 1]);
  });

  it('labels a grid-filling object without recursion', () => {
    const dims: Vec3 = [200, 200, 50];
    expect(connectedComponents(new Uint8Array(200 * 200 * 50).fill(1), dims).count).toBe(1);
  });
});

describe('lesion-wise scores', () => {
  const dims: Vec3 = [30, 30, 10];
  const ref = boxes(dims, [[2, 6, 2, 6, 2, 6], [15, 19, 15, 19, 2, 6], [25, 28, 2, 5, 2, 5]]);
  const pred = boxes(dims, [[2, 6, 3, 7, 2, 6], [15, 19, 15, 19, 2, 6], [10, 12, 25, 27, 2, 4]]);
  const lw = lesionWiseCase(vol(dims, ref), vol(dims, pred), { toleranceMm: 1 });
  const worst = physicalDiagonal({ dims, spacing: [1, 1, 1] });

  it('matches overlapping lesions, counts a missed and a false lesion', () => {
    expect([lw.referenceLesions, lw.predictedLesions, lw.tp, lw.fn, lw.fp]).toEqual([3, 3, 2, 1, 1]);
    const perfect = lw.lesions.find((l) => l.kind === 'matched' && l.dice === 1)!;
    expect([perfect.nsd, perfect.hd95]).toEqual([1, 0]);
    for (const l of lw.lesions.filter((x) => x.kind !== 'matched')) expect([l.dice, l.nsd, l.hd95]).toEqual([0, 0, worst]);
    // Four lesions: two matched (DSC 1 and 96/128), one FN, one FP.
    expect(lw.meanDice).toBeCloseTo((1 + 0.75) / 4, 12);
  });

  it('greedy matching takes the higher IoU first and never reuses a component', () => {
    const d: Vec3 = [20, 6, 6];
    const r = connectedComponents(boxes(d, [[0, 10, 1, 5, 1, 5]]), d);
    const p = connectedComponents(boxes(d, [[0, 3, 1, 5, 1, 5], [4, 11, 1, 5, 1, 5]]), d);
    const m = matchComponents(r, p);
    expect(m.map(([a, b]) => [a, b])).toEqual([[1, 2]]);
  });
});
