import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { encodeNifti1Gz } from '../../volumes/nifti-write';
import { IDENTITY_DIRECTION, type Volume } from '../../volumes/volume';
import { BadInput } from '../offline-scoring';
import { segmentationOfflineScorer } from './segmentation-offline';
import { MASK_ARTIFACT, SEGMENTATION } from './segmentation.task';

const dims: [number, number, number] = [16, 16, 8];
function cube(lo: [number, number, number], hi: [number, number, number], over: Partial<Volume> = {}): Volume {
  const d = over.dims ?? dims;
  const data = new Uint8Array(d[0] * d[1] * d[2]);
  for (let k = lo[2]; k < hi[2]; k++) for (let j = lo[1]; j < hi[1]; j++) for (let i = lo[0]; i < hi[0]; i++) data[i + d[0] * (j + d[1] * k)] = 1;
  return { dims: d, spacing: [1, 1, 2], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data, ...over, ...(over.data ? {} : { data }) };
}
const empty = (): Volume => cube([0, 0, 0], [0, 0, 0]);
/** Independent Dice by counting. */
function dice(a: Volume, b: Volume): number {
  let both = 0;
  let n = 0;
  for (let i = 0; i < a.data.length; i++) {
    n += (a.data[i] as number) + (b.data[i] as number);
    both += a.data[i] && b.data[i] ? 1 : 0;
  }
  return (2 * both) / n;
}

const definition = (over: Partial<BenchmarkDefinition['metrics']> = {}): BenchmarkDefinition =>
  ({ task: 'segmentation', metrics: { primary: 'dice', secondary: ['nsd', 'hd95'], toleranceMm: 2, bootstrapReplicates: 200, ...over }, subgroups: { attributes: ['site'], minSize: 1 } }) as unknown as BenchmarkDefinition;

describe('segmentation offline scorer (assay score --task segmentation)', () => {
  let dir: string;
  const io = { readFile: () => '', stdout: () => undefined, stderr: jest.fn() };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'assay-seg-offline-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (sub: string, id: string, v: Volume): void => {
    require('node:fs').mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, sub, `${id}.nii.gz`), encodeNifti1Gz(v));
  };

  it('prints n, metrics with CIs and methods, and one row per case with its status; Dice matches a count', () => {
    const r1 = cube([2, 2, 2], [8, 8, 6]);
    const p1 = cube([3, 2, 2], [9, 8, 6]);
    write('truth', 'C1', r1);
    write('pred', 'C1', p1);
    write('truth', 'C2', empty());
    write('pred', 'C2', cube([1, 1, 1], [3, 3, 3]));
    write('truth', 'C3', empty());
    write('pred', 'C3', empty());
    const out = segmentationOfflineScorer.run({ task: 'segmentation', truth: join(dir, 'truth'), predictions: join(dir, 'pred'), bootstrap: '200' }, io) as {
      n: number;
      metrics: Record<string, { value: number; ci: unknown; method: string }>;
      cases: { caseId: string; status: string; dice: number | null; hd: number | null }[];
    };
    expect(out.n).toBe(3);
    expect(Object.keys(out.metrics)).toEqual(['dice', 'iou', 'hd', 'hd95', 'masd', 'assd', 'nsd']);
    expect(out.cases.map((c) => [c.caseId, c.status])).toEqual([['C1', 'ok'], ['C2', 'ref_empty'], ['C3', 'both_empty']]);
    expect(out.cases[0]?.dice).toBeCloseTo(dice(r1, p1), 12);
    // One-empty: Dice 0 and the image diagonal as distance; both empty: excluded (null), never infinite.
    expect(out.cases[1]?.dice).toBe(0);
    expect(out.cases[1]?.hd).toBeCloseTo(Math.hypot(16, 16, 16), 9);
    expect(out.cases[2]?.dice).toBeNull();
    expect(out.metrics['dice']?.value).toBeCloseTo(dice(r1, p1) / 2, 12);
    expect(out.metrics['nsd']?.method).toMatch(/τ = 2 mm/);
  });

  it('resamples a prediction on another grid to the reference by nearest neighbour and says so', () => {
    write('truth', 'C1', cube([2, 2, 2], [8, 8, 6]));
    // The same object on a grid with half the in-plane resolution.
    const coarse = cube([1, 1, 2], [4, 4, 6], { dims: [8, 8, 8], spacing: [2, 2, 2], origin: [0.5, 0.5, 0] });
    write('pred', 'C1', coarse);
    const out = segmentationOfflineScorer.run({ task: 'segmentation', truth: join(dir, 'truth'), predictions: join(dir, 'pred') }, io) as { cases: { resampled?: string; dice: number }[] };
    expect(out.cases[0]?.resampled).toMatch(/nearest/);
    expect(out.cases[0]?.dice).toBe(1);
  });

  it('refuses missing and unknown cases and files that are not masks, naming them', () => {
    write('truth', 'C1', cube([2, 2, 2], [8, 8, 6]));
    write('truth', 'C2', cube([2, 2, 2], [8, 8, 6]));
    write('pred', 'C1', cube([2, 2, 2], [8, 8, 6]));
    write('pred', 'X9', cube([2, 2, 2], [8, 8, 6]));
    const run = (): unknown => segmentationOfflineScorer.run({ task: 'segmentation', truth: join(dir, 'truth'), predictions: join(dir, 'pred') }, io);
    expect(run).toThrow(BadInput);
    expect(run).toThrow(/1 case\(s\) have no predicted mask \(first: 'C2'\); 1 predicted mask\(s\) for cases not in the truth \(first: 'X9'\)/);
    writeFileSync(join(dir, 'pred', 'notes.txt'), 'x');
    expect(run).toThrow(/'notes.txt' is not <caseId>.nii.gz/);
  });
});

describe('segmentation task definition', () => {
  const masks = new Map<string, Buffer>();
  const output = async (p: string): Promise<Buffer | null> => masks.get(p) ?? null;

  it('parses masks the algorithm wrote, keeps them as artifacts, and refuses a mask that is not 0/1', async () => {
    masks.clear();
    masks.set('masks/A.nii.gz', encodeNifti1Gz(cube([2, 2, 2], [6, 6, 4])));
    const ok = await SEGMENTATION.parsePredictions({ text: '{"caseId":"A","mask":"masks/A.nii.gz"}\n', caseIds: ['A', 'B'], output });
    expect(ok.ok).toBe(true);
    if (!ok.ok) return;
    // B wrote no mask: it has no prediction (the run fails it as missing, never drops it).
    expect(ok.value.map((p) => p.caseId)).toEqual(['A']);
    expect(ok.value[0]?.files?.[MASK_ARTIFACT]?.equals(masks.get('masks/A.nii.gz') as Buffer)).toBe(true);
    const bad = cube([2, 2, 2], [6, 6, 4]);
    (bad.data as Uint8Array)[0] = 2;
    masks.set('masks/A.nii.gz', encodeNifti1Gz(bad));
    await expect(SEGMENTATION.parsePredictions({ text: '', caseIds: ['A'], output })).resolves.toEqual({ ok: false, message: expect.stringMatching(/0 and 1 only \(voxel 0 holds 2\)/) });
    masks.set('masks/A.nii.gz', Buffer.from('not a volume'));
    await expect(SEGMENTATION.parsePredictions({ text: '', caseIds: ['A'], output })).resolves.toEqual({ ok: false, message: expect.stringMatching(/^masks\/A.nii.gz: /) });
    await expect(SEGMENTATION.parsePredictions({ text: '{"caseId":"A","mask":"../../etc/passwd"}\n', caseIds: ['A'], output })).resolves.toEqual({ ok: false, message: 'line 1: mask must be "masks/A.nii.gz"' });
    // A header declaring a 400 MiB float64 "mask" is refused from the header, before anything is allocated.
    const header = Buffer.from(encodeNifti1Gz({ ...cube([0, 0, 0], [1, 1, 1], { dims: [1, 1, 1] }), data: new Float64Array(1) }));
    const raw = require('node:zlib').gunzipSync(header) as Buffer;
    raw.writeInt16LE(512, 42);
    raw.writeInt16LE(512, 44);
    raw.writeInt16LE(200, 46);
    masks.set('masks/A.nii.gz', require('node:zlib').gzipSync(raw));
    await expect(SEGMENTATION.parsePredictions({ text: '', caseIds: ['A'], output })).resolves.toEqual({ ok: false, message: expect.stringMatching(/^masks\/A.nii.gz: too_large: /) });
  });

  it('scores from stored artifacts case by case; the ranking statistic on all cases equals the aggregate', async () => {
    const refs = new Map([
      ['A', cube([2, 2, 2], [8, 8, 6])],
      ['B', cube([4, 4, 1], [12, 12, 5])],
      ['C', empty()],
    ]);
    const preds = new Map([
      ['A', cube([3, 2, 2], [9, 8, 6])],
      ['B', cube([4, 4, 2], [12, 12, 5])],
      ['C', empty()],
    ]);
    const truth = { caseIds: ['A', 'B', 'C'], mask: async (id: string) => refs.get(id) as Volume };
    const score = await SEGMENTATION.score({
      truth,
      predictions: new Map([...preds.keys()].map((id) => [id, { mask: `masks/${id}.nii.gz` }])),
      definition: definition(),
      metadata: new Map([['A', { site: 's1' }], ['B', { site: 's2' }], ['C', { site: 's1' }]]),
      readArtifact: async (id, name) => {
        expect(name).toBe(MASK_ARTIFACT);
        return encodeNifti1Gz(preds.get(id) as Volume);
      },
    });
    if ('missing' in score) throw new Error('missing');
    const expected = (dice(refs.get('A') as Volume, preds.get('A') as Volume) + dice(refs.get('B') as Volume, preds.get('B') as Volume)) / 2;
    expect(score.metrics['dice']?.value).toBeCloseTo(expected, 12);
    expect(score.perCase.map((r) => r['status'])).toEqual(['ok', 'ok', 'both_empty']);
    expect(score.subgroups['site']?.['dice']?.map((g) => g.group)).toEqual(['s1', 's2']);
    const problem = SEGMENTATION.rankingProblem({ definition: definition(), entries: [score.perCase] });
    expect(problem.statistic(problem.rows[0] as number[], [0, 1, 2])).toBeCloseTo(expected, 12);
    // Under "perfect", the both-empty case counts as Dice 1.
    const perfect = SEGMENTATION.rankingProblem({ definition: definition({ bothEmpty: 'perfect' }), entries: [score.perCase] });
    expect(perfect.statistic(perfect.rows[0] as number[], [0, 1, 2])).toBeCloseTo((2 * expected + 1) / 3, 12);
    const cmp = SEGMENTATION.compare({ definition: definition(), a: score.perCase, b: score.perCase }) as Record<string, { meanDifference: number }>;
    expect(cmp['dice']?.meanDifference).toBe(0);
  });

  it('names the fields of an image benchmark that does not fit the task', () => {
    const problems = SEGMENTATION.validateDefinition({ task: 'segmentation', interface: { inputs: [{ name: 'features', kind: 'vector', length: 3, dtype: 'float32' }], outputs: [{ name: 'probability', kind: 'probability' }] }, metrics: { primary: 'dice', secondary: [] } } as never);
    expect(problems.map((p) => p.field)).toEqual(['interface.inputs', 'interface.outputs', 'metrics.toleranceMm']);
  });
});

describe('readMask', () => {
  it('holds a wider-typed mask (float64) as one byte per voxel, so resampling it costs what a uint8 mask costs', async () => {
    const { readMask } = await import('./mask-pair');
    const labels = cube([1, 1, 1], [3, 3, 2]);
    const wide = await readMask('m.nii.gz', Buffer.from(encodeNifti1Gz({ ...labels, data: Float64Array.from(labels.data) })));
    expect(wide.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(wide.data)).toEqual(Array.from(labels.data));
    // A value that is no label is kept as read: the scorer refuses it with its own message (never silently 0).
    const bad = Float64Array.from(labels.data);
    bad[0] = Number.NaN;
    bad[1] = 0.5;
    const kept = await readMask('m.nii.gz', Buffer.from(encodeNifti1Gz({ ...labels, data: bad })));
    expect(kept.data).toBeInstanceOf(Float64Array);
    expect(Number.isNaN(kept.data[0] as number)).toBe(true);
  });
});
