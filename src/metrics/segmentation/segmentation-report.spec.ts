import { IDENTITY_DIRECTION, type Vec3, type Volume } from '../../volumes/volume';
import { aggregateSegmentation, scoreSegmentation } from './segmentation-report';

function vol(dims: Vec3, data: Uint8Array): Volume {
  return { dims, spacing: [0.8, 0.8, 2], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}
function cube(dims: Vec3, at: number, size: number): Uint8Array {
  const m = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 2; k < 2 + size; k++) for (let j = at; j < at + size; j++) for (let i = at; i < at + size; i++) m[i + dims[0] * (j + dims[1] * k)] = 1;
  return m;
}

const dims: Vec3 = [16, 16, 8];
const empty = new Uint8Array(16 * 16 * 8);
const cases = [
  { caseId: 'a', reference: vol(dims, cube(dims, 3, 4)), prediction: vol(dims, cube(dims, 4, 4)) },
  { caseId: 'b', reference: vol(dims, cube(dims, 5, 5)), prediction: vol(dims, cube(dims, 5, 4)) },
  { caseId: 'c', reference: vol(dims, cube(dims, 2, 3)), prediction: vol(dims, empty) },
  { caseId: 'd', reference: vol(dims, empty), prediction: vol(dims, empty) },
  { caseId: 'e', reference: vol(dims, cube(dims, 6, 3)), prediction: vol(dims, cube(dims, 6, 3)) },
];

describe('scoreSegmentation', () => {
  const report = scoreSegmentation({ cases, toleranceMm: 1, bootstrap: { replicates: 200, seed: 7 } });

  it('reports status counts, per-case rows and means over the included cases', () => {
    expect(report.n).toBe(5);
    expect(report.counts).toEqual({ ok: 3, ref_empty: 0, pred_empty: 1, both_empty: 1 });
    expect(report.metrics.dice.nIncluded).toBe(4);
    expect(report.metrics.dice.statusCounts).toEqual(report.counts);
    const dice = report.cases.filter((r) => r.status !== 'both_empty').map((r) => r.dice as number);
    expect(report.metrics.dice.value).toBeCloseTo(dice.reduce((a, b) => a + b, 0) / 4, 12);
    expect(report.metrics.hd95.method).toMatch(/nearest-rank/);
    expect(report.metrics.hd95.method).toMatch(/B=200, seed=7/);
    for (const m of Object.values(report.metrics)) {
      expect(m.ci).not.toBeNull();
      expect((m.ci as [number, number])[0]).toBeLessThanOrEqual((m.ci as [number, number])[1]);
    }
    expect(JSON.stringify(report.cases)).not.toMatch(/Infinity|NaN/);
  });

  it('recomputes the same aggregate from the stored rows alone (through JSON)', () => {
    const stored = JSON.parse(JSON.stringify(report.cases));
    const again = aggregateSegmentation(stored, { toleranceMm: 1, bootstrap: { replicates: 200, seed: 7 } });
    expect(again.metrics).toEqual(report.metrics);
    expect(again.lesionWise).toEqual(report.lesionWise);
  });

  it('scores both-empty cases as perfect under that policy, from the same rows', () => {
    const perfect = aggregateSegmentation(report.cases, { toleranceMm: 1, bootstrap: { replicates: 200, seed: 7 }, bothEmpty: 'perfect' });
    expect(perfect.metrics.dice.nIncluded).toBe(5);
    expect(perfect.metrics.dice.value).toBeCloseTo(((report.metrics.dice.value as number) * 4 + 1) / 5, 12);
    expect(perfect.metrics.hd.value).toBeCloseTo(((report.metrics.hd.value as number) * 4) / 5, 12);
  });

  it('reports lesion-wise means separately', () => {
    expect(report.lesionWise?.counts).toEqual({ tp: 3, fn: 1, fp: 0 });
    expect(report.lesionWise?.metrics.dice.nIncluded).toBe(4);
  });
});
