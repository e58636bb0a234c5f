/** One entry per vendor: its best by the primary metric, or its latest. */
export function onePerVendor<T extends { organisationId: string; evaluatedAt: Date; primary: number }>(rows: readonly T[], rule: 'best' | 'latest', direction: 'higher' | 'lower'): T[] {
  const chosen = new Map<string, T>();
  for (const row of rows) {
    const current = chosen.get(row.organisationId);
    if (!current) {
      chosen.set(row.organisationId, row);
      continue;
    }
    const replace =
      rule === 'latest'
        ? row.evaluatedAt > current.evaluatedAt
        : direction === 'higher'
          ? row.primary > current.primary || (row.primary === current.primary && row.evaluatedAt < current.evaluatedAt)
          : row.primary < current.primary || (row.primary === current.primary && row.evaluatedAt < current.evaluatedAt);
    if (replace) chosen.set(row.organisationId, row);
  }
  return [...chosen.values()];
}

/** Public scores are rounded to the benchmark's declared precision (fewer digits to probe the test set with). */
export function roundTo(value: number | null, digits: number): number | null {
  if (value === null) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
