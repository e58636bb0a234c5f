import fc from 'fast-check';
import { inputProblems, MAX_INPUT_DEPTH, multipartFieldProblem, parseUntrustedJson, textProblem } from './input-guard';

describe('input guard', () => {
  it('refuses NUL and lone surrogates and keeps every well-formed string', () => {
    expect(textProblem('a\u0000b')).toMatch(/NUL/);
    expect(textProblem('a\ud800')).toMatch(/lone UTF-16 surrogate/);
    expect(textProblem('\udc00a')).toMatch(/lone UTF-16 surrogate/);
    expect(textProblem('\ud83d\ude00 Ünïcödé ✓')).toBeNull();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        fc.pre(!s.includes('\u0000'));
        return textProblem(s) === null;
      }),
      { seed: 7, numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => (textProblem(s) === null) === (!s.includes('\u0000') && Buffer.from(s, 'utf8').toString('utf8') === s)),
      { seed: 8, numRuns: 2000 },
    );
  });

  it('names the field path of every problem: nested keys, array items, forbidden and unsafe keys', () => {
    const value = JSON.parse('{"a":{"b":["ok","x\\u0000"]},"__proto__":{"y":1},"c":{"constructor":1,"k\\u0000":2},"d":"\\ud800"}') as unknown;
    expect(inputProblems(value, 'body')).toEqual([
      { field: 'body.a.b.1', problem: 'contains a NUL character (U+0000)' },
      { field: 'body.__proto__', problem: "'__proto__' is not allowed as a key" },
      { field: 'body.c.constructor', problem: "'constructor' is not allowed as a key" },
      { field: 'body.c.k\\u0000', problem: 'key contains a NUL character (U+0000)' },
      { field: 'body.d', problem: 'contains a lone UTF-16 surrogate (not valid Unicode)' },
    ]);
  });

  it('stops at the depth limit without recursing, whatever the depth', () => {
    const text = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const parsed = parseUntrustedJson(text);
    expect(parsed).toEqual({ problems: [{ field: expect.stringMatching(/^0(\.0)*$/), problem: `nested deeper than ${MAX_INPUT_DEPTH} levels` }] });
    expect(parseUntrustedJson(`${'['.repeat(MAX_INPUT_DEPTH)}${']'.repeat(MAX_INPUT_DEPTH)}`)).toEqual({ value: expect.any(Array) });
  });

  it('refuses non-finite numbers and malformed JSON, naming the root', () => {
    expect(parseUntrustedJson('{"n":1e400}', 'manifest')).toEqual({ problems: [{ field: 'manifest.n', problem: 'is not a finite number' }] });
    expect(parseUntrustedJson('{"n":', 'manifest')).toEqual({ problems: [{ field: 'manifest', problem: expect.stringMatching(/^is not valid JSON/) }] });
  });

  it('lists at most 20 problems for a body full of them', () => {
    expect(inputProblems(Array.from({ length: 10_000 }, () => '\u0000'))).toHaveLength(20);
  });

  it('checks multipart field names and values', () => {
    expect(multipartFieldProblem('version', '1\u0000')).toEqual({ field: 'version', problem: 'contains a NUL character (U+0000)' });
    expect(multipartFieldProblem('ver\u0000', '1')).toEqual({ field: 'ver\\u0000', problem: 'contains a NUL character (U+0000)' });
    expect(multipartFieldProblem('version', '1.0.0')).toBeNull();
  });
});
