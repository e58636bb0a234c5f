import { formatCi, formatDuration, formatNumber, formatP, formatPercent, formatValue } from './format';

describe('report number formatting', () => {
  it('prints estimates with digits by magnitude, a typographic minus and no negative zero', () => {
    expect(formatNumber(0.97731)).toBe('0.977');
    expect(formatNumber(1)).toBe('1.000');
    expect(formatNumber(12.345)).toBe('12.35');
    expect(formatNumber(123.45)).toBe('123.5');
    expect(formatNumber(-0.0004)).toBe('0.000');
    expect(formatNumber(-0.25)).toBe('−0.250');
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('∞');
  });

  it('prints counts and cells as integers and leaves strings alone', () => {
    expect(formatValue(569)).toBe('569');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(0.5)).toBe('0.500');
    expect(formatValue('case-0001')).toBe('case-0001');
    expect(formatValue(null)).toBe('—');
  });

  it('prints intervals, p-values, durations and shares', () => {
    expect(formatCi([0.9627, 0.9918])).toBe('CI 0.963 to 0.992');
    expect(formatCi(null)).toBe('CI not estimable');
    expect(formatP(0.0004)).toBe('< 0.001');
    expect(formatP(0.142)).toBe('0.142');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_400)).toBe('12.4 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(7_380_000)).toBe('2 h 03 min');
    expect(formatPercent(1, 3)).toBe('33.3%');
    expect(formatPercent(1, 0)).toBe('—');
  });
});
