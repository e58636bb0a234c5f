import { DETECTION } from './detection/detection.task';
import { SEGMENTATION } from './segmentation/segmentation.task';
import { BINARY_CLASSIFICATION } from './binary-classification/binary-classification.task';
import { allTaskDefinitions, findTaskDefinition, supportedTasks, taskByOfflineName, taskDefinition, taskForCohortFormat } from './registry';
import { SURVIVAL } from './survival/survival.task';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';

const definition = (over: Partial<BenchmarkDefinition['metrics']>, task = 'binary-classification'): BenchmarkDefinition =>
  ({ task, metrics: { primary: 'auroc', secondary: [], threshold: 0.5, ...over } }) as unknown as BenchmarkDefinition;

describe('task registry', () => {
  it('dispatches each task name, offline name and cohort format to its one definition', () => {
    expect(supportedTasks()).toEqual(['binary-classification', 'survival', 'segmentation', 'detection']);
    expect(taskDefinition('segmentation')).toBe(SEGMENTATION);
    expect(taskDefinition('detection')).toBe(DETECTION);
    expect(taskByOfflineName('segmentation')).toBe(SEGMENTATION);
    expect(taskDefinition('binary-classification')).toBe(BINARY_CLASSIFICATION);
    expect(taskDefinition('survival')).toBe(SURVIVAL);
    expect(taskByOfflineName('binary')).toBe(BINARY_CLASSIFICATION);
    expect(taskByOfflineName('survival')).toBe(SURVIVAL);
    expect(taskForCohortFormat('tabular-survival')).toBe(SURVIVAL);
    expect(taskForCohortFormat('tabular-binary')).toBe(BINARY_CLASSIFICATION);
  });

  it('refuses a task that is not registered', () => {
    expect(findTaskDefinition('multiclass-classification')).toBeNull();
    expect(() => taskDefinition('multiclass-classification')).toThrow(/no task definition for 'multiclass-classification'/);
    expect(taskByOfflineName('binary-classification')).toBeNull();
  });

  it('gives every task distinct names and an offline scorer', () => {
    const names = allTaskDefinitions().map((t) => t.task);
    expect(new Set(names).size).toBe(names.length);
    for (const t of allTaskDefinitions()) expect(t.offline.name).toMatch(/^[a-z-]+$/);
  });
});

describe('task definitions', () => {
  it('store per-case results in truth order that rank and compare without the truth', () => {
    const truth = { caseIds: ['a', 'b', 'c', 'd'], labels: [1, 0, 1, 0] };
    const predictions = (p: number[]) => new Map(truth.caseIds.map((id, i) => [id, { probability: p[i] as number }]));
    const def = definition({});
    const scoreA = BINARY_CLASSIFICATION.score({ truth, predictions: predictions([0.9, 0.1, 0.8, 0.3]), definition: def, metadata: new Map() });
    const scoreB = BINARY_CLASSIFICATION.score({ truth, predictions: predictions([0.4, 0.6, 0.7, 0.2]), definition: def, metadata: new Map() });
    if ('missing' in scoreA || 'missing' in scoreB) throw new Error('unexpected missing');
    expect(scoreA.perCase).toEqual([
      { caseId: 'a', label: 1, probability: 0.9 },
      { caseId: 'b', label: 0, probability: 0.1 },
      { caseId: 'c', label: 1, probability: 0.8 },
      { caseId: 'd', label: 0, probability: 0.3 },
    ]);
    const problem = BINARY_CLASSIFICATION.rankingProblem({ definition: def, entries: [scoreA.perCase, scoreB.perCase] });
    const all = [0, 1, 2, 3];
    expect(problem.rows.map((row) => problem.statistic(row, all))).toEqual([scoreA.metrics['auroc']?.value, scoreB.metrics['auroc']?.value]);
    expect(problem.strata).toEqual(truth.labels);
    expect(Object.keys(BINARY_CLASSIFICATION.compare({ definition: def, a: scoreA.perCase, b: scoreB.perCase }))).toContain('per_case_squared_error');
    expect(BINARY_CLASSIFICATION.perCaseLoss?.(scoreA.perCase[1] as never)).toBeCloseTo(0.01, 12);
  });

  it('name the truth cases that have no prediction', () => {
    const out = SURVIVAL.score({ truth: { caseIds: ['a', 'b'], time: [1, 2], event: [1, 0] }, predictions: new Map([['a', { risk: 1 }]]), definition: definition({ primary: 'c_index_harrell' }, 'survival'), metadata: new Map() });
    expect(out).toEqual({ missing: ['b'] });
  });

  it('parse the jsonl field of their task and say the line of the first problem', async () => {
    const output = async () => null;
    await expect(SURVIVAL.parsePredictions({ text: '{"caseId": "a", "risk": -3.5}\n', caseIds: ['a'], output })).resolves.toEqual({ ok: true, value: [{ caseId: 'a', prediction: { risk: -3.5 } }] });
    const bad = await BINARY_CLASSIFICATION.parsePredictions({ text: '{"caseId": "a", "risk": 1}\n', caseIds: ['a'], output });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toMatch(/^line 1: /);
  });

  it('survival checks a declared τ against the truth of a split, and asks for τ when Uno is reported', () => {
    const def = definition({ primary: 'c_index_harrell', secondary: ['c_index_uno'], tau: 2 }, 'survival');
    const problems = SURVIVAL.validateAgainstTruth?.(def, { caseIds: ['a', 'b'], time: [5, 10], event: [1, 1] }, 'test') ?? [];
    expect(problems).toEqual([expect.objectContaining({ field: 'metrics.tau', problem: expect.stringMatching(/^test split: /) })]);
  });
});
