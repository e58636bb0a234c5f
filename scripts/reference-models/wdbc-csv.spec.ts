import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatSampleCsv,
  parseCohortCsv,
  parseSampleCsv,
  SAMPLE_CSV_HEADER,
  selectStratifiedSample,
  WDBC_FEATURES,
  WdbcCsvError,
} from './wdbc-csv';

const REPO = join(__dirname, '..', '..');
const cohortText = readFileSync(join(REPO, 'cohorts', 'wdbc', 'wdbc.csv'), 'utf8');
const fixtureText = readFileSync(join(REPO, 'test', 'fixtures', 'wdbc-sample.csv'), 'utf8');

const HEADER = SAMPLE_CSV_HEADER.join(',');
const row = (id: string, label: string, values: string[] = Array<string>(30).fill('1.5')): string =>
  [id, label, ...values].join(',');

describe('WDBC feature order', () => {
  it('matches the cohort file header', () => {
    expect(cohortText.split('\n')[0]?.trim().split(',').slice(2)).toEqual([...WDBC_FEATURES]);
  });
});

describe('test/fixtures/wdbc-sample.csv', () => {
  it('is the deterministic stratified 8 M / 12 B choice from the cohort, values unchanged', () => {
    const cohort = parseCohortCsv(cohortText);
    expect(fixtureText).toBe(formatSampleCsv(selectStratifiedSample(cohort, 8, 12)));
    const sample = parseSampleCsv(fixtureText);
    expect(sample).toHaveLength(20);
    expect(sample.filter((c) => c.label === 1)).toHaveLength(8);
    const byId = new Map(cohort.map((c) => [c.caseId, c]));
    for (const c of sample) expect(byId.get(c.caseId)).toEqual(c);
  });
});

describe('parseSampleCsv', () => {
  it('parses valid rows', () => {
    const cases = parseSampleCsv(`${HEADER}\r\n${row('a', '1')}\r\n${row('b', '0')}\r\n\r\n`);
    expect(cases.map((c) => [c.caseId, c.label, c.features.length])).toEqual([
      ['a', 1, 30],
      ['b', 0, 30],
    ]);
  });

  it.each([
    ['empty file', '', /is empty/],
    ['wrong header', `case_id,diagnosis,${WDBC_FEATURES.join(',')}\n${row('a', '1')}`, /:1: header column 2 is "diagnosis", expected "label"/],
    ['short header', 'case_id,label\n', /:1: header has 2 columns, expected 32/],
    ['short row', `${HEADER}\na,1,2,3`, /:2: row has 4 columns, expected 32/],
    ['bad label', `${HEADER}\n${row('a', '2')}`, /:2: label is "2", expected 0 or 1/],
    ['not a number', `${HEADER}\n${row('a', '1', [...Array<string>(29).fill('1'), 'x'])}`, /:2: worst_fractal_dimension is "x"/],
    ['empty cell', `${HEADER}\n${row('a', '1', ['', ...Array<string>(29).fill('1')])}`, /:2: mean_radius is ""/],
    ['duplicate id', `${HEADER}\n${row('a', '1')}\n${row('a', '0')}`, /:3: duplicate case_id "a"/],
    ['no rows', `${HEADER}\n`, /no data rows/],
    ['blank line inside', `${HEADER}\n${row('a', '1')}\n\n${row('b', '0')}`, /:3: blank line/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseSampleCsv(text, 'x.csv')).toThrow(WdbcCsvError);
    expect(() => parseSampleCsv(text, 'x.csv')).toThrow(message);
  });
});
