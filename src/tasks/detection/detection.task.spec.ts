import type { BenchmarkDefinition } from '../../benchmarks/benchmark-definition';
import { DETECTION } from './detection.task';
import { detectionOfflineScorer } from './detection-offline';
import { BadInput, UsageError } from '../offline-scoring';

const definition = { task: 'detection', metrics: { primary: 'cpm', secondary: ['sensitivity', 'fp_per_scan'], threshold: 0.5, bootstrapReplicates: 200 }, subgroups: { attributes: ['site'], minSize: 1 } } as unknown as BenchmarkDefinition;

const truthCsv = ['case_id,lesion_id,x,y,z,diameter_mm', 'S1,L1,0,0,0,10', 'S1,L2,50,0,0,6', 'S2,,,,,', 'S3,L1,10,10,10,8'].join('\n');
const truth = {
  caseIds: ['S1', 'S2', 'S3'],
  scans: [
    { caseId: 'S1', lesions: [{ lesionId: 'L1', x: 0, y: 0, z: 0, diameterMm: 10 }, { lesionId: 'L2', x: 50, y: 0, z: 0, diameterMm: 6 }] },
    { caseId: 'S2', lesions: [] },
    { caseId: 'S3', lesions: [{ lesionId: 'L1', x: 10, y: 10, z: 10, diameterMm: 8 }] },
  ],
};
const detections = new Map<string, Record<string, unknown>>([
  ['S1', { detections: [{ x: 1, y: 1, z: 0, score: 0.9 }, { x: 2, y: 0, z: 0, score: 0.95 }, { x: 50, y: 2.9, z: 0, score: 0.3 }] }],
  ['S2', { detections: [{ x: 0, y: 0, z: 0, score: 0.6 }] }],
  ['S3', { detections: [] }],
]);

describe('detection task definition', () => {
  it('scores sensitivity and FP/scan at the locked threshold as counted by hand (LUNA16: extra hits ignored)', async () => {
    const score = await DETECTION.score({ truth, predictions: detections, definition, metadata: new Map([['S1', { site: 'a' }], ['S2', { site: 'b' }], ['S3', { site: 'a' }]]) });
    if ('missing' in score) throw new Error('missing');
    // At t = 0.5: S1/L1 hit (twice: one TP), S1/L2 only at 0.3, S3/L1 missed -> 1 of 3; S2's 0.6 is the only FP -> 1/3 per scan.
    expect(score.metrics['sensitivity']?.value).toBeCloseTo(1 / 3, 12);
    expect(score.metrics['fp_per_scan']?.value).toBeCloseTo(1 / 3, 12);
    expect(score.perCase.map((r) => [r.caseId, r['tp'], r['fp'], r['extraHits']])).toEqual([['S1', 1, 0, 1], ['S2', 0, 1, 0], ['S3', 0, 0, 0]]);
    expect(score.subgroups['site']?.['cpm']?.map((g) => g.group)).toEqual(['a', 'b']);
    const problem = DETECTION.rankingProblem({ definition, entries: [score.perCase] });
    expect(problem.statistic(problem.rows[0] as number[], [0, 1, 2])).toBeCloseTo(score.metrics['cpm']?.value as number, 12);
    const cmp = DETECTION.compare({ definition, a: score.perCase, b: score.perCase }) as Record<string, { difference: number; ci: [number, number] }>;
    expect(cmp['cpm']?.difference).toBe(0);
    expect(cmp['cpm']?.ci).toEqual([0, 0]);
  });

  it('names a missing case and a bad line', async () => {
    const partial = new Map([...detections].slice(0, 2));
    expect(DETECTION.score({ truth, predictions: partial, definition, metadata: new Map() })).toEqual({ missing: ['S3'] });
    const parsed = await DETECTION.parsePredictions({ text: '{"caseId":"S1","detections":[{"x":1,"y":2,"score":0.5}]}\n', caseIds: ['S1'], output: async () => null });
    expect(parsed).toEqual({ ok: false, message: expect.stringMatching(/^line 1: /) });
  });
});

describe('detection offline scorer (assay score --task detection)', () => {
  const files: Record<string, string> = {
    't.csv': truthCsv,
    'p.jsonl': [...detections].map(([caseId, p]) => JSON.stringify({ caseId, ...p })).join('\n'),
  };
  const io = { readFile: (p: string) => files[p] ?? (() => { throw new Error('ENOENT'); })(), stdout: () => undefined, stderr: () => undefined };

  it('prints cpm, cpm_nearest, sensitivity and fp_per_scan with CI and method, and the FROC points', () => {
    const out = detectionOfflineScorer.run({ task: 'detection', truth: 't.csv', predictions: 'p.jsonl', bootstrap: '200' }, io) as {
      metrics: Record<string, { value: number; ci: unknown; method: string }>;
      froc: { fpPerScan: number; sensitivity: number; threshold: number }[];
    };
    expect(Object.keys(out.metrics).sort()).toEqual(['cpm', 'cpm_nearest', 'fp_per_scan', 'sensitivity']);
    for (const m of Object.values(out.metrics)) expect(typeof m.method).toBe('string');
    expect(out.froc[0]).toEqual({ fpPerScan: 0, sensitivity: 1 / 3, threshold: 0.95 });
    expect(Object.keys(out.froc[0] as object)).toEqual(['fpPerScan', 'sensitivity', 'threshold']);
  });

  it('refuses an unknown case, a bad threshold, and an unreadable file', () => {
    files['q.jsonl'] = `${files['p.jsonl']}\n{"caseId":"S9","detections":[]}`;
    expect(() => detectionOfflineScorer.run({ task: 'detection', truth: 't.csv', predictions: 'q.jsonl' }, io)).toThrow(/1 prediction\(s\) for cases not in t.csv \(first: 'S9'\)/);
    expect(() => detectionOfflineScorer.run({ task: 'detection', truth: 't.csv', predictions: 'p.jsonl', threshold: 'x' }, io)).toThrow(UsageError);
    expect(() => detectionOfflineScorer.run({ task: 'detection', truth: 'nope.csv', predictions: 'p.jsonl' }, io)).toThrow(BadInput);
  });
});
