import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DomainError } from '../common/domain-error';
import { planTabularIngest, stratifiedSplit, validateCohortDescriptor } from './cohort-ingest';

const dir = join(__dirname, '../../cohorts/wdbc');
const descriptor = validateCohortDescriptor(parse(readFileSync(join(dir, 'cohort.yaml'), 'utf8')));
const wdbc = readFileSync(join(dir, 'wdbc.csv'));

const problemsOf = (csv: string): string[] => {
  try {
    planTabularIngest(descriptor, Buffer.from(csv));
    return [];
  } catch (error) {
    return (error as DomainError).problems.map((p) => `${p.field}: ${p.problem}`);
  }
};

describe('planTabularIngest', () => {
  it('plans the shipped WDBC cohort: 569 cases, 30 features, a stratified 20-case sample', () => {
    const plan = planTabularIngest(descriptor, wdbc);
    expect(plan.cases).toHaveLength(569);
    expect(plan.featureColumns).toHaveLength(30);
    expect(plan.counts.sample).toEqual({ positive: 7, negative: 13 });
    expect(plan.counts.test).toEqual({ positive: 205, negative: 344 });
  });

  it('is deterministic for the same data and seed', () => {
    const a = planTabularIngest(descriptor, wdbc).cases.filter((c) => c.split === 'sample').map((c) => c.caseId);
    const b = planTabularIngest(descriptor, wdbc).cases.filter((c) => c.split === 'sample').map((c) => c.caseId);
    expect(a).toEqual(b);
  });

  it('names every bad row: duplicate id, unknown and missing label, column count, non-number', () => {
    const lines = wdbc.toString('utf8').trim().split(/\r?\n/);
    const header = lines[0] as string;
    const good = lines.slice(1, 40);
    const withId = (line: string, id: string): string => line.replace(/^[^,]+/, id);
    const bad = [
      good[0] as string, // duplicate of line 2
      withId(good[1] as string, 'BAD-1').replace(/,[MB],/, ',X,'),
      withId(good[2] as string, 'BAD-2').replace(/,[MB],/, ',,'),
      withId(good[3] as string, 'BAD-3').split(',').slice(0, 20).join(','),
      withId(good[4] as string, 'BAD-4').replace(/^([^,]+,[MB]),[^,]+,/, '$1,abc,'),
    ];
    const problems = problemsOf([header, ...good, ...bad].join('\n'));
    expect(problems).toHaveLength(5);
    expect(problems[0]).toMatch(/^wdbc\.csv:41: duplicate case id 'WDBC-0001' \(first on line 2\)/);
    expect(problems[1]).toMatch(/^wdbc\.csv:42: unknown label 'X'/);
    expect(problems[2]).toMatch(/^wdbc\.csv:43: missing label/);
    expect(problems[3]).toMatch(/^wdbc\.csv:44: has 20 columns, the header has 32/);
    expect(problems[4]).toMatch(/^wdbc\.csv:45: column 'mean_radius': 'abc' is not a number/);
  });

  it('names a missing header column', () => {
    expect(problemsOf('id,diagnosis,x\nA,M,1\n')).toContainEqual(expect.stringMatching(/header has no column 'case_id'/));
  });
});

describe('stratifiedSplit', () => {
  it('keeps class proportions within one case and samples exactly the requested size', () => {
    const cases = Array.from({ length: 100 }, (_, i) => ({ caseId: `c${String(i).padStart(3, '0')}`, label: (i % 4 === 0 ? 1 : 0) as 0 | 1 }));
    const split = stratifiedSplit(cases, 7, 20);
    const sample = split.filter((c) => c.split === 'sample');
    expect(sample).toHaveLength(20);
    expect(sample.filter((c) => c.label === 1)).toHaveLength(5);
  });
});
