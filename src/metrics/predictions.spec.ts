import { alignPredictions, firstDuplicateKey, MAX_PREDICTION_ISSUES, parseBinaryPredictionsJsonl, parseTruthCsv } from './predictions';

const jsonl = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('parseTruthCsv', () => {
  it('parses case_id,label with CRLF, BOM, quotes and extra columns', () => {
    const r = parseTruthCsv('\uFEFFcase_id,label,site\r\nA,1,x\r\n"B,2",0,y\r\n\r\n');
    expect(r).toEqual({
      ok: true,
      value: [
        { caseId: 'A', label: 1 },
        { caseId: 'B,2', label: 0 },
      ],
    });
  });

  it('fails on a missing header column', () => {
    const r = parseTruthCsv('id,label\nA,1\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toBe('line 1: header is missing column(s) case_id; expected "case_id,label"');
  });

  it('lists every bad row: bad labels, duplicates, short rows, empty ids', () => {
    const r = parseTruthCsv('case_id,label\nA,1\nB,yes\nA,0\nC\n,1\nD,2\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('INVALID_TRUTH');
    expect(r.error.issues).toEqual([
      { line: 3, message: 'label "yes" for case_id "B" is not 0 or 1' },
      { line: 4, message: 'duplicate case_id "A" (first on line 2)' },
      { line: 5, message: 'expected 2 columns, found 1' },
      { line: 6, message: 'case_id is empty' },
      { line: 7, message: 'label "2" for case_id "D" is not 0 or 1' },
    ]);
    expect(r.error.message).toBe('line 3: label "yes" for case_id "B" is not 0 or 1 (and 4 more problems)');
  });

  it('fails on an empty file or a header without rows', () => {
    expect(parseTruthCsv('').ok).toBe(false);
    const r = parseTruthCsv('case_id,label\n');
    expect(!r.ok && r.error.reason).toBe('no cases after the header');
  });
});

describe('parseBinaryPredictionsJsonl', () => {
  it('parses valid lines, ignores blank lines and allows unknown extra fields', () => {
    const r = parseBinaryPredictionsJsonl(
      jsonl('{"caseId":"A","probability":0.3}', '', '{"caseId":"B","probability":1,"model":"v2"}', '{"caseId":"C","probability":0}'),
    );
    expect(r).toEqual({
      ok: true,
      value: [
        { caseId: 'A', probability: 0.3 },
        { caseId: 'B', probability: 1 },
        { caseId: 'C', probability: 0 },
      ],
    });
  });

  it.each([
    ['{"caseId":"A","probability":1.2}', 'probability 1.2 is outside [0, 1]'],
    ['{"caseId":"A","probability":-0.1}', 'probability -0.1 is outside [0, 1]'],
    ['{"caseId":"A","probability":"0.3"}', 'probability is a string ("0.3"), expected a number in [0, 1]'],
    ['{"caseId":"A","probability":null}', 'probability is null, expected a number in [0, 1]'],
    ['{"caseId":"A","probability":1e999}', 'probability Infinity is not a finite number'],
    ['{"caseId":"A"}', 'missing "probability" for caseId "A"'],
    ['{"probability":0.2}', 'missing "caseId"'],
    ['{"caseId":7,"probability":0.2}', 'caseId is number 7, expected a string'],
    ['{"caseId":"","probability":0.2}', 'caseId is empty'],
    ['[1,2]', 'expected a JSON object, got an array'],
    ['0.5', 'expected a JSON object, got number 0.5'],
  ])('reports the line and reason for %s', (bad, reason) => {
    const r = parseBinaryPredictionsJsonl(jsonl('{"caseId":"X","probability":0.1}', bad));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('INVALID_PREDICTIONS');
    expect(r.error.line).toBe(2);
    expect(r.error.reason).toBe(reason);
    expect(r.error.message).toBe(`line 2: ${reason}`);
  });

  it('stops reading a vendor file of junk after MAX_PREDICTION_ISSUES problems (16 MiB of "x" lines, 8 M lines)', () => {
    const junk = 'x\n'.repeat(8 * 1024 * 1024);
    const r = parseBinaryPredictionsJsonl(junk);
    if (r.ok) throw new Error('expected a failure');
    expect(r.error.issues).toHaveLength(MAX_PREDICTION_ISSUES + 1);
    expect(r.error.issues.slice(0, 2).map((i) => i.line)).toEqual([1, 2]);
    expect(r.error.issues[MAX_PREDICTION_ISSUES]).toEqual({ line: MAX_PREDICTION_ISSUES + 1, message: `more problems from here on; reading stopped after ${MAX_PREDICTION_ISSUES}` });
    // Problems below the cap are each reported, and blank lines between them still count for line numbers.
    const few = parseBinaryPredictionsJsonl('x\n\n{"caseId":"a","probability":0.5}\ny\n');
    expect(few.ok ? [] : few.error.issues.map((i) => i.line)).toEqual([1, 4]);
  });

  it('reports invalid JSON, including NaN, with its line', () => {
    const r = parseBinaryPredictionsJsonl(jsonl('{"caseId":"A","probability":0.1}', '{"caseId":"B","probability":NaN}'));
    expect(!r.ok && r.error.line).toBe(2);
    expect(!r.ok && r.error.reason).toMatch(/^invalid JSON/);
  });

  it('reports duplicates and keeps every issue, first one first', () => {
    const lines = Array.from({ length: 6 }, (_, i) => `{"caseId":"C${i}","probability":0.5}`);
    lines.push('{"caseId":"C2","probability":0.4}', '{"caseId":"C9","probability":1.2}');
    const r = parseBinaryPredictionsJsonl(jsonl(...lines));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.issues).toEqual([
      { line: 7, message: 'duplicate caseId "C2" (first on line 3)' },
      { line: 8, message: 'probability 1.2 is outside [0, 1]' },
    ]);
    expect(r.error.message).toBe('line 7: duplicate caseId "C2" (first on line 3) (and 1 more problem)');
  });

  it('fails on a file without predictions', () => {
    expect(parseBinaryPredictionsJsonl('\n\n').ok).toBe(false);
  });
});

describe('alignPredictions', () => {
  const p = (caseId: string, probability: number): { caseId: string; probability: number } => ({ caseId, probability });

  it('returns probabilities in truth order', () => {
    expect(alignPredictions(['A', 'B', 'C'], [p('C', 0.3), p('A', 0.1), p('B', 0.2)])).toEqual({
      ok: true,
      caseIds: ['A', 'B', 'C'],
      probabilities: [0.1, 0.2, 0.3],
    });
  });

  it('never drops a case silently: lists missing and unknown ids', () => {
    expect(alignPredictions(['A', 'B', 'C'], [p('A', 0.1), p('Z', 0.2)])).toEqual({
      ok: false,
      missing: ['B', 'C'],
      unknown: ['Z'],
    });
  });
});

describe('duplicate JSON keys (issue 8)', () => {
  it('rejects a prediction line that repeats a key, naming the line and the key', () => {
    const r = parseBinaryPredictionsJsonl('{"caseId":"A","probability":0.2}\n{"caseId":"B","probability":0.1,"probability":0.6}\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toBe('line 2: duplicate key "probability" in one object (JSON.parse would keep the last value; the scorer does not guess)');
  });

  it('compares keys after unescaping, and looks into nested objects', () => {
    expect(firstDuplicateKey('{"probability":0.1,"\\u0070robability":0.6}')).toBe('probability');
    expect(firstDuplicateKey('{"caseId":"x","meta":{"a":1,"a":2}}')).toBe('a');
    expect(firstDuplicateKey('{"caseId":"a,\\"caseId\\":","meta":[{"k":1},{"k":2}],"probability":0.5}')).toBeNull();
    expect(firstDuplicateKey('{"a":{"b":1},"b":2}')).toBeNull();
  });
});
