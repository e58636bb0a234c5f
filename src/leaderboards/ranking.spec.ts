import { onePerVendor, roundTo } from './ranking';

describe('onePerVendor', () => {
  const row = (org: string, primary: number, day: number) => ({ organisationId: org, primary, evaluatedAt: new Date(2026, 0, day) });
  it('keeps each vendor’s best, or its latest', () => {
    const rows = [row('a', 0.8, 1), row('a', 0.9, 2), row('a', 0.85, 3), row('b', 0.7, 1)];
    expect(onePerVendor(rows, 'best', 'higher').map((r) => r.primary).sort()).toEqual([0.7, 0.9]);
    expect(onePerVendor(rows, 'latest', 'higher').map((r) => r.primary).sort()).toEqual([0.7, 0.85]);
  });
});

describe('roundTo', () => {
  it('rounds to the declared digits', () => {
    expect(roundTo(0.987654, 4)).toBe(0.9877);
    expect(roundTo(null, 4)).toBeNull();
  });
});
