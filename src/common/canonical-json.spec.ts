import fc from 'fast-check';
import { canonicalJson } from './canonical-json';
import { mulberry32, seededShuffle } from './seeded-random';

// The independent oracle (devDependency, tests only): Samuel Erdtman's `canonicalize`, one of RFC 8785's authors.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const canonicalize = require('canonicalize') as (value: unknown) => string | undefined;

const double = (bits: string): number => {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
};

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe('{"a":{"d":[1,{"x":1,"y":2}]},"b":1}');
  });

  it('refuses non-finite numbers', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(/non-finite/);
    expect(() => canonicalJson(Number.NEGATIVE_INFINITY)).toThrow(/non-finite/);
  });

  // RFC 8785 Appendix B: IEEE 754 bit patterns and the text every JCS implementation must print for them.
  const APPENDIX_B: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  it.each(APPENDIX_B)('prints the IEEE 754 value 0x%s as %s (RFC 8785 Appendix B)', (bits, expected) => {
    expect(canonicalJson(double(bits))).toBe(expected);
    expect(canonicalJson({ n: double(bits) })).toBe(`{"n":${expected}}`);
  });

  it('refuses the Appendix B NaN and Infinity patterns, and prints the decimal/exponent boundaries as ECMAScript does', () => {
    expect(() => canonicalJson(double('7fffffffffffffff'))).toThrow(/non-finite/);
    expect(() => canonicalJson(double('7ff0000000000000'))).toThrow(/non-finite/);
    expect(canonicalJson([1e21, 1e20, 1e-7, 1e-6, 5e-324, 1.7976931348623157e308, 9007199254740992, 333333333.3333333, -0, 0.1 + 0.2])).toBe(
      '[1e+21,100000000000000000000,1e-7,0.000001,5e-324,1.7976931348623157e+308,9007199254740992,333333333.3333333,0,0.30000000000000004]',
    );
    expect(Object.is(JSON.parse(canonicalJson(-0)), 0)).toBe(true);
  });

  it('sorts member names by UTF-16 code units (RFC 8785 §3.2.3)', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ) as Record<string, string>;
    const out = canonicalJson(input);
    // U+1F600 (a surrogate pair, D83D DE00) sorts before U+FB33: code units, not code points.
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('escapes strings minimally and prints the §3.2.2 sample as the RFC’s bytes (§3.2.4)', () => {
    const input = JSON.parse(
      String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`,
    ) as unknown;
    const out = canonicalJson(input);
    expect(out).toBe(String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`);
    const bytes = [
      '7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72',
      '75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a',
      '5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31',
      '65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37',
      '5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30',
      '30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d',
    ].join(' ');
    expect(Buffer.from(out, 'utf8').toString('hex').replace(/(..)(?!$)/g, '$1 ')).toBe(bytes);
    // Control characters: the short escapes where JSON has them, \u00xx (lower-case hex) otherwise; DEL and above raw.
    expect(canonicalJson('\b\t\n\f\r\u0000\u001f\u007f"\\/')).toBe(String.raw`"\b\t\n\f\r\u0000\u001f` + '\u007f' + String.raw`\"\\/"`);
  });

  it('refuses lone surrogates in strings and in member names (I-JSON), and accepts paired ones', () => {
    expect(() => canonicalJson('a\ud800')).toThrow(/lone surrogate in a string at \$/);
    expect(() => canonicalJson({ x: ['\udc00b'] })).toThrow(/lone surrogate in a string at \$\.x\[0\]/);
    expect(() => canonicalJson({ ['k\udbff']: 1 })).toThrow(/lone surrogate in a member name/);
    expect(() => canonicalJson('\ude00\ud83d')).toThrow(/lone surrogate/);
    expect(canonicalJson({ '\ud83d\ude00': '\ud83d\ude00' })).toBe('{"\ud83d\ude00":"\ud83d\ude00"}');
  });

  it('refuses what is not JSON data', () => {
    expect(() => canonicalJson(undefined)).toThrow(/undefined/);
    expect(() => canonicalJson([1, undefined])).toThrow(/undefined at \$\[1\]/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function is not JSON data/);
    expect(() => canonicalJson({ s: Symbol('x') })).toThrow(/symbol/);
    expect(() => canonicalJson(BigInt(1))).toThrow(/bigint/);
  });

  it('keeps the output the code before RFC 8785 gave (dates as ISO strings, undefined members dropped)', () => {
    expect(canonicalJson({ at: new Date('2026-12-01T10:00:00.000Z'), gone: undefined, z: [true, false, null, 'x'] })).toBe('{"at":"2026-12-01T10:00:00.000Z","z":[true,false,null,"x"]}');
  });

  it('agrees with the independent RFC 8785 implementation `canonicalize` on arbitrary JSON', () => {
    const json = fc.oneof(fc.jsonValue({ depthSize: 'medium', stringUnit: 'grapheme' }), fc.jsonValue({ stringUnit: 'grapheme-ascii' }));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), json, fc.dictionary(fc.string({ unit: 'grapheme' }), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ unit: 'grapheme' })))), (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 500, seed: 8785 },
    );
  });

  it('is stable under member order and a parse round trip', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'grapheme' }), fc.jsonValue()), (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        const out = canonicalJson(value);
        expect(canonicalJson(reversed)).toBe(out);
        expect(canonicalJson(JSON.parse(out))).toBe(out);
      }),
      { numRuns: 300, seed: 7493 },
    );
  });
});

describe('seededShuffle', () => {
  it('gives the same order for the same seed and a permutation of the input', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const a = seededShuffle(items, mulberry32(42));
    const b = seededShuffle(items, mulberry32(42));
    expect(a).toEqual(b);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(seededShuffle(items, mulberry32(43))).not.toEqual(a);
  });
});
