import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { harrellC } from '../metrics/survival';
import { EXIT_BAD_INPUT, EXIT_USAGE, ScoreIo, registerScoreCommand, runScore } from './score.command';

const Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1];
const A = [0.9, 0.8, 0.7, 0.35, 0.6, 0.3, 0.2, 0.1, 0.35, 0.55, 0.4, 0.65];

describe('score command', () => {
  let dir: string;
  let out: string[];
  let err: string[];
  let io: ScoreIo;

  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const truthCsv = (): string => write('truth.csv', `case_id,label\n${Y.map((y, i) => `C${i + 1},${y}`).join('\n')}\n`);
  const predsJsonl = (lines = A.map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p }))): string =>
    write('predictions.jsonl', `${lines.join('\n')}\n`);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'assay-score-'));
    out = [];
    err = [];
    io = { readFile: (p) => readFileSync(p, 'utf8'), stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the binary report as pretty JSON and exits 0', () => {
    const code = runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl() }, io);
    expect(code).toBe(0);
    expect(err).toEqual([]);
    const text = out.join('');
    expect(text).toContain('\n  "n": 12');
    const report = JSON.parse(text) as { n: number; metrics: Record<string, { value: number; ci: number[]; method: string }> };
    expect(report.n).toBe(12);
    expect(report.metrics['auroc']?.value).toBeCloseTo(0.902778, 6);
    expect(report.metrics['sensitivity']?.ci[0]).toBeCloseTo(0.4365, 4);
  });

  it('passes --threshold through', () => {
    runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl(), threshold: '0.95' }, io);
    const report = JSON.parse(out.join('')) as { threshold: number; confusion: { tp: number } };
    expect(report.threshold).toBe(0.95);
    expect(report.confusion.tp).toBe(0);
  });

  it('names file, line and problem on stderr and exits 3 (bad input) for a bad prediction line', () => {
    const lines = A.map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p }));
    lines[6] = '{"caseId":"C7","probability":1.2}';
    const preds = predsJsonl(lines);
    const code = runScore({ task: 'binary', truth: truthCsv(), predictions: preds }, io);
    expect(code).toBe(EXIT_BAD_INPUT);
    expect(out).toEqual([]);
    expect(err.join('')).toBe(`error: ${preds}: line 7: probability 1.2 is outside [0, 1]\n`);
  });

  it('exits 3 and lists cases without a prediction', () => {
    const preds = predsJsonl(A.slice(0, 10).map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p })));
    const truth = truthCsv();
    expect(runScore({ task: 'binary', truth, predictions: preds }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.join('')).toContain(`2 case(s) in ${truth} have no prediction: C11, C12`);
  });

  it('exits 3 for a bad truth file or an unreadable file, 2 (usage) for a bad threshold', () => {
    const badTruth = write('bad.csv', 'case_id,label\nC1,2\n');
    expect(runScore({ task: 'binary', truth: badTruth, predictions: predsJsonl() }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.pop()).toBe(`error: ${badTruth}: line 2: label "2" for case_id "C1" is not 0 or 1\n`);
    expect(runScore({ task: 'binary', truth: join(dir, 'nope.csv'), predictions: predsJsonl() }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.pop()).toMatch(/cannot read truth file .*nope\.csv/);
    expect(runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl(), threshold: 'abc' }, io)).toBe(EXIT_USAGE);
    expect(err.pop()).toBe('usage error: --threshold must be a finite number, got "abc"\n');
    expect(runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl(), bootstrap: '0' }, io)).toBe(EXIT_USAGE);
    expect(err.pop()).toBe('usage error: --bootstrap must be an integer in [1, 1000000], got "0"\n');
    expect(runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl(), tau: '3' }, io)).toBe(EXIT_USAGE);
    expect(runScore({ task: 'multiclass', truth: truthCsv(), predictions: predsJsonl() }, io)).toBe(EXIT_USAGE);
    expect(runScore({ task: 'constructor', truth: truthCsv(), predictions: predsJsonl() }, io)).toBe(EXIT_USAGE);
  });

  it('exits 3 for a prediction line with a duplicate key', () => {
    const lines = A.map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p }));
    lines[2] = '{"caseId":"C3","probability":0.1,"probability":0.6}';
    const preds = predsJsonl(lines);
    expect(runScore({ task: 'binary', truth: truthCsv(), predictions: preds }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.join('')).toContain(`${preds}: line 3: duplicate key "probability"`);
  });

  it('with one class reports what is still estimable (METRICS.md §4.1) and exits 0', () => {
    const truth = write('one.csv', 'case_id,label\nC1,1\nC2,1\n');
    const preds = predsJsonl(['{"caseId":"C1","probability":0.2}', '{"caseId":"C2","probability":0.7}']);
    expect(runScore({ task: 'binary', truth, predictions: preds }, io)).toBe(0);
    const report = JSON.parse(out.join('')) as { metrics: Record<string, { value: number | null; method: string }> };
    expect(report.metrics['auroc']?.value).toBeNull();
    expect(report.metrics['auroc']?.method).toMatch(/not estimable: no negative \(0\) cases/);
    expect(report.metrics['sensitivity']?.value).toBe(0.5);
    expect(report.metrics['brier']?.value).toBeCloseTo((0.64 + 0.09) / 2, 15);
  });

  it('--compare degrades with one positive: paired DeLong null with the reason, the other comparisons computed', () => {
    const truth = write('t1.csv', `case_id,label\n${Array.from({ length: 30 }, (_, i) => `C${i + 1},${i === 4 ? 1 : 0}`).join('\n')}\n`);
    const mk = (name: string, f: (i: number) => number): string =>
      write(name, `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: f(i) })).join('\n')}\n`);
    const a = mk('a1.jsonl', (i) => (i === 4 ? 0.9 : (i % 10) / 12));
    const b = mk('b1.jsonl', (i) => (i === 4 ? 0.5 : (i % 7) / 9));
    expect(runScore({ task: 'binary', truth, predictions: a, compare: b }, io)).toBe(0);
    const report = JSON.parse(out.join('')) as { comparison: Record<string, { difference: number | null; p: number | null; method: string }> };
    expect(report.comparison['auroc']?.p).toBeNull();
    expect(report.comparison['auroc']?.difference).not.toBeNull();
    expect(report.comparison['auroc']?.method).toMatch(/1 positive and 29 negative.*at least 2 in each class/);
    expect(report.comparison['brier']?.difference).toBeCloseTo(
      Array.from({ length: 30 }, (_, i) => ((i === 4 ? 0.9 : (i % 10) / 12) - (i === 4 ? 1 : 0)) ** 2 - ((i === 4 ? 0.5 : (i % 7) / 9) - (i === 4 ? 1 : 0)) ** 2).reduce((x, y) => x + y, 0) / 30,
      12,
    );
    expect(report.comparison['brier']?.method).toMatch(/withheld.*floor of 10 per class/);
  });

  it('names the supported tasks for one it does not know', () => {
    expect(runScore({ task: 'multiclass', truth: 'x', predictions: 'y' }, io)).toBe(EXIT_USAGE);
    expect(err.join('')).toMatch(/^unknown task "multiclass"; supported tasks: binary, survival, segmentation, detection/);
  });

  describe('survival task', () => {
    // METRICS.md §5.1 toy data: Harrell 0.903226, Uno (τ = 25, scikit-survival) 0.925201.
    const T = [5, 8, 8, 12, 15, 15, 20, 22, 30, 30];
    const E = [1, 1, 0, 1, 1, 0, 0, 1, 1, 0];
    const R = [0.9, 0.7, 0.6, 0.8, 0.4, 0.5, 0.3, 0.35, 0.1, 0.2];
    const survTruth = (): string => write('s.csv', `case_id,time,event\n${T.map((t, i) => `S${i + 1},${t},${E[i]}`).join('\n')}\n`);
    const risks = (name: string, r: readonly number[]): string =>
      write(name, `${r.map((v, i) => JSON.stringify({ caseId: `S${i + 1}`, risk: v })).join('\n')}\n`);
    type Report = {
      task: string;
      tau: number;
      metrics: Record<string, { value: number; ci: number[]; method: string; B: number; seed: number; degenerate: number }>;
      comparison?: Record<string, { difference: number; ci: number[]; p: number; p_holm: number; method: string }>;
    };

    it('prints c_index_harrell and c_index_uno with value, ci and method', () => {
      expect(runScore({ task: 'survival', truth: survTruth(), predictions: risks('r.jsonl', R), tau: '25' }, io)).toBe(0);
      const report = JSON.parse(out.join('')) as Report;
      expect(report.task).toBe('survival');
      expect(report.metrics['c_index_harrell']?.value).toBeCloseTo(0.903226, 6);
      expect(report.metrics['c_index_uno']?.value).toBeCloseTo(0.925201, 6);
      expect(report.metrics['c_index_uno']?.method).toContain('τ = 25 (given)');
      expect(report.metrics['c_index_harrell']?.ci).toHaveLength(2);
      expect(report.metrics['c_index_harrell']?.B).toBe(2000);
    });

    it('defaults τ to the largest event time and says so, on stderr too', () => {
      runScore({ task: 'survival', truth: survTruth(), predictions: risks('r.jsonl', R) }, io);
      const report = JSON.parse(out.join('')) as Report;
      expect(report.tau).toBe(30);
      expect(report.metrics['c_index_uno']?.method).toContain('default: the largest observed event time');
      expect(err.join('')).toMatch(/^note: --tau not given: Uno's C uses τ = 30, the largest event time; .* the 1 death\(s\) at 30 do not count/);
    });

    it('refuses a --tau with Ĝ = 0 at an event time before it (usage error naming the bound)', () => {
      // At t = 30 one death and the last case censored: Ĝ(30) = 0, and the death at 30 would need weight 1/0.
      const truth = write('g0.csv', 'case_id,time,event\nS1,5,1\nS2,10,0\nS3,20,1\nS4,30,1\nS5,30,0\n');
      const preds = write('g0.jsonl', ['S1', 'S2', 'S3', 'S4', 'S5'].map((id, i) => JSON.stringify({ caseId: id, risk: 6 - i })).join('\n'));
      expect(runScore({ task: 'survival', truth, predictions: preds, tau: '35' }, io)).toBe(EXIT_USAGE);
      expect(err.join('')).toMatch(/usage error: --tau 35: the censoring survival Ĝ is 0 at the event time 30 < τ.*choose τ ≤ 30/);
    });

    it('adds a paired comparison with Holm-adjusted p when --compare is given', () => {
      const b = R.map((v, i) => (i % 2 === 0 ? v : 1 - v));
      runScore({ task: 'survival', truth: survTruth(), predictions: risks('a.jsonl', R), compare: risks('b.jsonl', b) }, io);
      const report = JSON.parse(out.join('')) as Report;
      const h = report.comparison?.['c_index_harrell'];
      expect(h?.difference).toBeCloseTo(0.903226 - harrellC({ time: T, event: E, risk: b }).cIndex, 6);
      expect(h?.p_holm).toBeGreaterThanOrEqual(h?.p as number);
      expect(h?.method).toContain('paired');
    });

    it('names the line of a bad truth row and of a bad prediction', () => {
      const truth = write('bad.csv', 'case_id,time,event\nS1,5,1\nS2,-3,0\n');
      expect(runScore({ task: 'survival', truth, predictions: risks('r.jsonl', R) }, io)).toBe(EXIT_BAD_INPUT);
      expect(err.join('')).toBe(`error: ${truth}: line 3: time "-3" for case_id "S2" is not a finite number ≥ 0\n`);
      err.length = 0;
      const preds = write('p.jsonl', '{"caseId":"S1","risk":0.3}\n{"caseId":"S2","risk":"high"}\n');
      expect(runScore({ task: 'survival', truth: survTruth(), predictions: preds }, io)).toBe(EXIT_BAD_INPUT);
      expect(err.join('')).toBe(`error: ${preds}: line 2: risk is a string ("high"), expected a number (higher = worse)\n`);
    });
  });

  it('binary --compare adds auroc by paired DeLong and the others by paired bootstrap', () => {
    const B = [0.7, 0.9, 0.4, 0.5, 0.5, 0.2, 0.3, 0.2, 0.6, 0.8, 0.1, 0.45];
    const b = write('b.jsonl', `${B.map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p })).join('\n')}\n`);
    expect(runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl(), compare: b }, io)).toBe(0);
    const report = JSON.parse(out.join('')) as { comparison: Record<string, { difference: number; p: number; p_holm: number; method: string }> };
    expect(report.comparison['auroc']?.difference).toBeCloseTo(0.055556, 6);
    expect(report.comparison['auroc']?.p).toBeCloseTo(0.649774, 6);
    expect(report.comparison['auroc']?.method).toContain('paired DeLong');
    expect(report.comparison['brier']?.method).toContain('paired stratified bootstrap');
    expect(Object.values(report.comparison).every((c) => c.p_holm >= c.p)).toBe(true);
  });

  it('is wired into commander via registerScoreCommand', async () => {
    const program = new Command().exitOverride();
    registerScoreCommand(program, io);
    const previous = process.exitCode;
    try {
      await program.parseAsync(
        ['score', '--task', 'binary', '--truth', truthCsv(), '--predictions', predsJsonl(), '--threshold', '0.5'],
        { from: 'user' },
      );
      expect(process.exitCode).toBe(0);
    } finally {
      process.exitCode = previous;
    }
    expect((JSON.parse(out.join('')) as { n: number }).n).toBe(12);
  });

  it('exits 2 (usage) for commander\'s own errors: a --task that is not a choice, a missing --truth', async () => {
    const codes: number[] = [];
    const program = new Command().configureOutput({ writeErr: (t) => err.push(t) });
    registerScoreCommand(program, io, (code) => {
      codes.push(code);
      throw new Error('exit');
    });
    await expect(program.parseAsync(['score', '--task', 'multiclass', '--truth', 'a', '--predictions', 'b'], { from: 'user' })).rejects.toThrow('exit');
    await expect(program.parseAsync(['score', '--task', 'binary', '--predictions', 'b'], { from: 'user' })).rejects.toThrow('exit');
    expect(codes).toEqual([EXIT_USAGE, EXIT_USAGE]);
  });

  it('rejects an unknown task before running', async () => {
    const program = new Command().exitOverride().configureOutput({ writeErr: (t) => err.push(t) });
    registerScoreCommand(program, io);
    program.commands.forEach((c) => c.exitOverride().configureOutput({ writeErr: (t) => err.push(t) }));
    await expect(
      program.parseAsync(['score', '--task', 'multiclass', '--truth', 'a', '--predictions', 'b'], { from: 'user' }),
    ).rejects.toThrow(/Allowed choices are binary/);
  });
});
