import { validateBenchmarkDefinition } from '../benchmarks/benchmark-definition.validate';
import { scoreBinary } from '../metrics/score-report';
import { ladderRound, LadderState, parameterFreeLadderRound, publicMetric, roundToStep, scoredRunView } from './held-out-feedback';

const definition = { metrics: { primary: 'auroc', secondary: ['sensitivity', 'brier'] }, precision: 4 };

describe('ladderRound (Blum & Hardt 2015, Algorithm 1)', () => {
  it('sets the ladder on the first submission and changes it only when beaten by more than the step, rounded to it', () => {
    let state: LadderState | null = null;
    const shown: number[] = [];
    for (const [i, score] of [0.8123, 0.8199, 0.82, 0.8213, 0.9, 0.85].entries()) {
      const out = ladderRound({ previous: state, runId: `r${i}`, score, direction: 'higher', step: 0.01 });
      state = out.next;
      shown.push(state.shown);
    }
    // 0.8199 and 0.82 do not beat 0.81 by more than 0.01; 0.8213 does, and shows as 0.82.
    expect(shown).toEqual([0.81, 0.81, 0.81, 0.82, 0.9, 0.9]);
    expect(state?.leaderRunId).toBe('r4');
  });

  it('works for a loss (lower is better), as the paper states it', () => {
    const first = ladderRound({ previous: null, runId: 'a', score: 0.2, direction: 'lower', step: 0.05 });
    expect(ladderRound({ previous: first.next, runId: 'b', score: 0.16, direction: 'lower', step: 0.05 }).improved).toBe(false);
    expect(ladderRound({ previous: first.next, runId: 'c', score: 0.14, direction: 'lower', step: 0.05 }).next).toEqual({ shown: 0.15, leaderRunId: 'c' });
  });

  it('rounds to the step without binary noise', () => {
    expect(roundToStep(0.30000001, 0.1)).toBe(0.3);
    expect(roundToStep(0.8225, 0.01)).toBe(0.82);
  });
});

describe('parameterFreeLadderRound', () => {
  it('moves only when the paired loss differences beat the leader by more than one standard error', () => {
    const n = 400;
    const leader = Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 0.3 : 0.1));
    const first = parameterFreeLadderRound({ previous: null, runId: 'a', losses: leader, leaderLosses: null, digits: 4 });
    expect(first.improved).toBe(true);
    // Better on a single case: the mean drops by 0.2/400 = 5e-4, under one standard error of the differences.
    const tiny = leader.map((l, i) => (i === 0 ? l - 0.2 : l));
    expect(parameterFreeLadderRound({ previous: first.next, runId: 'b', losses: tiny, leaderLosses: leader, digits: 4 }).improved).toBe(false);
    // Better on every fourth case by 0.1: a consistent gain far beyond the standard error.
    const better = leader.map((l, i) => (i % 4 === 0 ? l - 0.1 : l));
    const out = parameterFreeLadderRound({ previous: first.next, runId: 'c', losses: better, leaderLosses: leader, digits: 4 });
    expect(out.improved).toBe(true);
    expect(out.next.shown).toBe(0.125);
  });
});

describe('publicMetric', () => {
  const report = scoreBinary({ labels: [1, 1, 1, 0, 0, 0, 0, 1], scores: [0.9, 0.8, 0.3, 0.2, 0.6, 0.1, 0.4, 0.7], threshold: 0.5, bootstrap: { replicates: 200, seed: 1 } });

  it('keeps counts out of the stored method and in their own field', () => {
    expect(report.metrics.sensitivity.method).not.toMatch(/\d+\/\d+/);
    expect(report.metrics.sensitivity.counts).toEqual({ numerator: 3, denominator: 4 });
  });

  it('withholds the Wilson CI on held-out phases and rounds the rest outward', () => {
    const sens = publicMetric(report.metrics.sensitivity, 2, true);
    expect(sens).toEqual({ value: 0.75, ci: null, method: expect.stringMatching(/withheld/) });
    expect(sens).not.toHaveProperty('counts');
    const auroc = publicMetric(report.metrics.auroc, 2, true);
    const ci = report.metrics.auroc.ci as [number, number];
    expect(auroc.ci?.[0]).toBeLessThanOrEqual(ci[0]);
    expect(auroc.ci?.[1]).toBeGreaterThanOrEqual(ci[1]);
    expect(publicMetric(report.metrics.sensitivity, 2, false).ci).not.toBeNull();
  });

  it('strips counts from methods stored by older code', () => {
    expect(publicMetric({ value: 0.9268, ci: [0.88, 0.95], method: 'TP/(TP+FN) = 190/205, Wilson score 95% CI' }, 4, false).method).toBe('TP/(TP+FN), Wilson score 95% CI');
  });
});

describe('scoredRunView', () => {
  const metrics = scoreBinary({ labels: [1, 0, 1, 0, 1, 0], scores: [0.91234567, 0.2, 0.7, 0.6, 0.4, 0.1], threshold: 0.5, bootstrap: { replicates: 100, seed: 2 } }).metrics;

  it('shows a vendor nothing on a held-out phase that is not released', () => {
    expect(scoredRunView({ definition, split: 'test', released: false, fullPrecision: false, metrics, record: null })).toEqual({ metrics: null, feedback: expect.objectContaining({ state: 'withheld' }) });
  });

  it('rounds as the public leaderboard does once released, and evaluators see full precision with counts', () => {
    const vendor = scoredRunView({ definition, split: 'test', released: true, fullPrecision: false, metrics, record: null });
    expect(Object.keys(vendor.metrics ?? {})).toEqual(['auroc', 'sensitivity', 'brier']);
    expect(vendor.metrics?.brier?.value).toBe(Math.round((metrics.brier.value as number) * 1e4) / 1e4);
    expect(JSON.stringify(vendor)).not.toMatch(/numerator|\d+\/\d+/);
    const evaluator = scoredRunView({ definition, split: 'test', released: false, fullPrecision: true, metrics, record: null });
    expect(evaluator.metrics).toBe(metrics);
  });

  it('shows the ladder value only, under the Ladder', () => {
    const ladder = { ...definition, feedback: { mechanism: 'ladder' as const, step: 0.01 } };
    expect(scoredRunView({ definition: ladder, split: 'test', released: true, fullPrecision: false, metrics, record: null }).feedback.state).toBe('pending');
    const view = scoredRunView({ definition: ladder, split: 'test', released: true, fullPrecision: false, metrics, record: { mechanism: 'ladder', shownValue: 0.78, improved: true } });
    expect(view.metrics).toEqual({ auroc: { value: 0.78, ci: null, method: expect.stringMatching(/Ladder.*Blum & Hardt/) } });
    expect(view.feedback).toEqual({ mechanism: 'ladder', state: 'shown', step: 0.01, improved: true });
  });
});

describe('feedback in the benchmark schema', () => {
  const base = (): Record<string, unknown> => ({
    slug: 'x-bench',
    title: 't',
    description: 'd',
    task: 'binary-classification',
    cohort: { slug: 'wdbc' },
    interface: { inputs: [{ name: 'features', kind: 'vector', length: 30, dtype: 'float32' }], outputs: [{ name: 'probability', kind: 'probability' }] },
    metrics: { primary: 'auroc', secondary: ['brier'], threshold: 0.5 },
    ranking: { method: 'aggregate-then-rank', ties: 'min', perVendor: 'best' },
    phases: [{ name: 'test', split: 'test', leaderboard: 'public' }],
    limits: { submissionsPerDay: 1, submissionsTotal: 5, modelBytes: 2048, resources: { cpus: 1, memoryMiB: 256, gpus: 0, timeoutSeconds: 60, batchSize: 10, outputBytes: 4096 } },
  });

  it('accepts a ladder with a step and the parameter-free ladder on brier', () => {
    expect(validateBenchmarkDefinition({ ...base(), feedback: { mechanism: 'ladder', step: 0.01 } }).feedback).toEqual({ mechanism: 'ladder', step: 0.01 });
    expect(() => validateBenchmarkDefinition({ ...base(), metrics: { primary: 'brier', secondary: [], threshold: 0.5 }, feedback: { mechanism: 'ladder-parameter-free' } })).not.toThrow();
  });

  it('names the field when the ladder has no step, a step it cannot use, or the parameter-free ladder has no per-case loss', () => {
    expect(() => validateBenchmarkDefinition({ ...base(), feedback: { mechanism: 'ladder' } })).toThrow(/feedback\.step: the ladder needs a step/);
    expect(() => validateBenchmarkDefinition({ ...base(), feedback: { mechanism: 'round', step: 0.1 } })).toThrow(/feedback\.step: only the fixed-step ladder/);
    expect(() => validateBenchmarkDefinition({ ...base(), feedback: { mechanism: 'ladder-parameter-free' } })).toThrow(/feedback\.mechanism: the parameter-free ladder needs a per-case loss/);
    expect(() => validateBenchmarkDefinition({ ...base(), feedback: { mechanism: 'ladder', step: 2 } })).toThrow(/feedback\.step/);
  });
});
