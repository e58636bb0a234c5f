import { canonicalJson } from './canonical-json';
import { mulberry32, seededShuffle } from './seeded-random';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe('{"a":{"d":[1,{"x":1,"y":2}]},"b":1}');
  });
  it('refuses non-finite numbers', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
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
