import type { Estimate } from '../evidence';

/**
 * Number formatting for the report: locale-free (the same bytes on any machine) and one rule everywhere, so a value
 * in a table, a chart subtitle and a text alternative reads the same.
 */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
  const s = v.toFixed(digits);
  return minus(/^-0\.?0*$/.test(s) ? s.slice(1) : s);
}

/** A table cell or a count: integers as integers, other numbers as formatNumber. */
export function formatValue(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return Number.isInteger(v) ? minus(String(v)) : formatNumber(v);
}

/** A typographic minus, so negative numbers do not break at the hyphen. */
const minus = (s: string): string => s.replace(/^-/, '−');

export function formatCi(ci: [number, number] | null | undefined): string {
  return ci ? `CI ${formatNumber(ci[0])} to ${formatNumber(ci[1])}` : 'CI not estimable';
}

export function formatP(p: number | null | undefined): string {
  if (p === null || p === undefined || Number.isNaN(p)) return '—';
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

export function formatCounts(e: Estimate): string | null {
  return e.counts ? `${e.counts.numerator}/${e.counts.denominator}` : null;
}

/** "0.953 (CI 0.931 to 0.972)" or "not estimable". */
export function formatEstimate(e: Estimate): string {
  if (e.value === null) return 'not estimable';
  return `${formatNumber(e.value)} (${formatCi(e.ci)})`;
}

/** Milliseconds as a human duration: "850 ms", "12.4 s", "3 min 05 s", "2 h 03 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m - h * 60).padStart(2, '0')} min`;
}

export function formatPercent(numerator: number, denominator: number): string {
  return denominator > 0 ? `${((100 * numerator) / denominator).toFixed(1)}%` : '—';
}
