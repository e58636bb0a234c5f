import fc from 'fast-check';

/** Strings that broke Assay before (issue 7) or tend to break parsers, mixed with fast-check's own. */
const HOSTILE_STRINGS = [
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\ud83d\ude00',
  '..',
  '../../etc/passwd',
  '%',
  '%00',
  '%ED%A0%80',
  '__proto__',
  'constructor',
  'prototype',
  '$ne',
  "' OR 1=1 --",
  '1e20',
  '1.5',
  'Infinity',
  '-1',
  'NaN',
  '9007199254740993',
  '00000000-0000-0000-0000-000000000000',
  'null',
  'true',
  '[]',
  '{}',
  '\u202e\u200b',
  'wdbc-malignancy',
  'test',
];

export const hostileString = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 70_000 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.uuid() },
  );

export const hostileNumber = (): fc.Arbitrary<number> =>
  fc.oneof(fc.constantFrom(0, -1, 1.5, 1e30, -1e30, 2 ** 53 + 1, 1e308, Number.MIN_VALUE, -0), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());

/** Any JSON value, with hostile leaves and keys. */
export const hostileJson = (): fc.Arbitrary<unknown> =>
  fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      hostileString(),
      hostileNumber(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(fc.oneof(hostileString(), fc.constantFrom('name', 'email', 'role', 'status', 'leaderboard', 'label', 'slug', 'limits', 'descriptor', 'csv')), tie('value'), { maxKeys: 5 }),
    ),
  })).value;

/** Percent-encodes every byte but the unreserved ones; lone surrogates become U+FFFD as in any UTF-8 client. */
export const encodeComponent = (s: string): string =>
  [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** A path or query component: well-formed text, or raw bytes (invalid UTF-8, encoded surrogate halves). */
export const hostileComponent = (good: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: good.length > 0 ? fc.constantFrom(...good).map(encodeComponent) : fc.constant('x') },
    { weight: 4, arbitrary: hostileString().map((s) => encodeComponent(s.slice(0, 2000))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%ED%A0%80', '%C0%80', '%FF', '%00') },
  );

/** Replaces one node of a valid document (or adds a key to one) with a hostile value: wrong types, NUL, huge numbers. */
export function mutationOf(template: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]): void => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((c, i) => walk(c, [...path, i]));
    else if (typeof v === 'object' && v !== null) for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
  };
  walk(template, []);
  return fc
    .record({
      at: fc.constantFrom(...paths),
      how: fc.constantFrom('replace', 'add-key', 'remove'),
      key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'k\u0000'), hostileString()),
      value: hostileJson(),
    })
    .map(({ at, how, key, value }) => {
      const doc = structuredClone(template) as unknown;
      if (at.length === 0) return how === 'replace' ? value : doc;
      let parent = doc as Record<string | number, unknown>;
      for (const step of at.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
      const last = at[at.length - 1] as string | number;
      if (how === 'replace') parent[last] = value;
      else if (how === 'remove') delete parent[last];
      else {
        const target = parent[last];
        if (typeof target === 'object' && target !== null && !Array.isArray(target)) Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
        else parent[last] = value;
      }
      return doc;
    });
}

/** JSON text of a document nested `depth` deep (arrays: 2 bytes a level). */
export const deepJson = (): fc.Arbitrary<string> => fc.integer({ min: 20, max: 6000 }).map((d) => `{"a":${'['.repeat(d)}1${']'.repeat(d)}}`);
