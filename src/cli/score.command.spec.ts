import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { EXIT_BAD_INPUT, ScoreIo, registerScoreCommand, runScore } from './score.command';

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

  it('names file, line and problem on stderr and exits 2 for a bad prediction line', () => {
    const lines = A.map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p }));
    lines[6] = '{"caseId":"C7","probability":1.2}';
    const preds = predsJsonl(lines);
    const code = runScore({ task: 'binary', truth: truthCsv(), predictions: preds }, io);
    expect(code).toBe(EXIT_BAD_INPUT);
    expect(out).toEqual([]);
    expect(err.join('')).toBe(`error: ${preds}: line 7: probability 1.2 is outside [0, 1]\n`);
  });

  it('exits 2 and lists cases without a prediction', () => {
    const preds = predsJsonl(A.slice(0, 10).map((p, i) => JSON.stringify({ caseId: `C${i + 1}`, probability: p })));
    const truth = truthCsv();
    expect(runScore({ task: 'binary', truth, predictions: preds }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.join('')).toContain(`2 case(s) in ${truth} have no prediction: C11, C12`);
  });

  it('exits 2 for a bad truth file, an unreadable file and a bad threshold', () => {
    const badTruth = write('bad.csv', 'case_id,label\nC1,2\n');
    expect(runScore({ task: 'binary', truth: badTruth, predictions: predsJsonl() }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.pop()).toBe(`error: ${badTruth}: line 2: label "2" for case_id "C1" is not 0 or 1\n`);
    expect(runScore({ task: 'binary', truth: join(dir, 'nope.csv'), predictions: predsJsonl() }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.pop()).toMatch(/cannot read truth file .*nope\.csv/);
    expect(runScore({ task: 'binary', truth: truthCsv(), predictions: predsJsonl(), threshold: 'abc' }, io)).toBe(
      EXIT_BAD_INPUT,
    );
    expect(err.pop()).toBe('error: --threshold must be a finite number, got "abc"\n');
  });

  it('exits 2 with a metric error when the truth has only one class', () => {
    const truth = write('one.csv', 'case_id,label\nC1,1\nC2,1\n');
    const preds = predsJsonl(['{"caseId":"C1","probability":0.2}', '{"caseId":"C2","probability":0.7}']);
    expect(runScore({ task: 'binary', truth, predictions: preds }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.join('')).toMatch(/only positive \(1\) cases present/);
  });

  it('says survival is not supported yet', () => {
    expect(runScore({ task: 'survival', truth: 'x', predictions: 'y' }, io)).toBe(EXIT_BAD_INPUT);
    expect(err.join('')).toMatch(/^not supported yet: survival .*supported tasks: binary/);
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

  it('rejects an unknown task before running', async () => {
    const program = new Command().exitOverride().configureOutput({ writeErr: (t) => err.push(t) });
    registerScoreCommand(program, io);
    program.commands.forEach((c) => c.exitOverride().configureOutput({ writeErr: (t) => err.push(t) }));
    await expect(
      program.parseAsync(['score', '--task', 'multiclass', '--truth', 'a', '--predictions', 'b'], { from: 'user' }),
    ).rejects.toThrow(/Allowed choices are binary/);
  });
});
