// Per-subgroup metrics with small-group suppression (METRICS.md §6.4): a group below k cases is reported without any
// value, so tiny groups can neither be over-read nor used to re-identify patients.
import { MetricInputError } from './metrics.errors';

export interface SubgroupValue {
  readonly value: number | null;
  readonly ci: [number, number] | null;
  readonly method: string;
}

export type SubgroupResult =
  | ({ readonly group: string; readonly suppressed: false; readonly n: number } & SubgroupValue)
  | { readonly group: string; readonly suppressed: true; readonly n: string };

export interface SubgroupInput {
  /** Subgroup label per case (e.g. site, sex, age band); null = missing, grouped as `missingLabel`. */
  readonly groups: readonly (string | null)[];
  /** Minimum group size k; groups with n < k are suppressed. */
  readonly minSize: number;
  /** Computes the metric on the cases with the given indices (e.g. AUROC with its CI). */
  readonly compute: (indices: readonly number[]) => SubgroupValue;
  readonly missingLabel?: string;
}

/** One entry per subgroup, sorted by label; a metric that throws on a subgroup (e.g. one class) is reported as null. */
export function subgroupMetrics(input: SubgroupInput): SubgroupResult[] {
  if (!Number.isInteger(input.minSize) || input.minSize < 1) {
    throw new MetricInputError('METRIC_BAD_PARAMETER', `minSize must be a positive integer, got ${input.minSize}`);
  }
  const missing = input.missingLabel ?? 'unknown';
  const byGroup = new Map<string, number[]>();
  input.groups.forEach((g, i) => {
    const key = g ?? missing;
    const list = byGroup.get(key);
    if (list) list.push(i);
    else byGroup.set(key, [i]);
  });
  const rows = [...byGroup.keys()].sort().map((group) => ({ group, n: (byGroup.get(group) as number[]).length }));
  const hidden = suppressedGroups(rows, input.minSize);
  return rows.map(({ group, n }): SubgroupResult => {
    const why = hidden.get(group);
    if (why) return { group, suppressed: true, n: why };
    try {
      return { group, suppressed: false, n, ...input.compute(byGroup.get(group) as number[]) };
    } catch (e) {
      if (!(e instanceof MetricInputError)) throw e;
      return { group, suppressed: false, n, value: null, ci: null, method: `not estimable in this subgroup: ${e.message}` };
    }
  });
}

/** What a complementarily suppressed group shows instead of its size. */
export const COMPLEMENTARY_SUPPRESSION = 'withheld (complementary suppression)';

/**
 * The groups to show without a value, each with what it shows instead of its n. Primary suppression: every group
 * below k. Complementary suppression: when exactly one group is below k, the smallest other group is withheld too,
 * because the overall value is shown beside the table: for a mean or a proportion (and for the exact pooled value
 * of federated nodes) the one hidden group's value would otherwise follow from the overall value and the other rows
 * (overall·N − Σ others' n·value). With two or more groups hidden, only their combination can be derived.
 */
export function suppressedGroups(rows: readonly { group: string; n: number }[], minSize: number): Map<string, string> {
  const hidden = new Map<string, string>();
  for (const r of rows) if (r.n < minSize) hidden.set(r.group, `< ${minSize}`);
  if (hidden.size === 1 && rows.length >= 2) {
    const next = rows.filter((r) => !hidden.has(r.group)).sort((a, b) => a.n - b.n || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0))[0];
    if (next) hidden.set(next.group, COMPLEMENTARY_SUPPRESSION);
  }
  return hidden;
}

/** Picks the entries at `indices` (helper for `compute`). */
export function pick<T>(values: readonly T[], indices: readonly number[]): T[] {
  return indices.map((i) => values[i] as T);
}
