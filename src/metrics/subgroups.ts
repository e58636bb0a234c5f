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
  return [...byGroup.keys()].sort().map((group): SubgroupResult => {
    const indices = byGroup.get(group) as number[];
    if (indices.length < input.minSize) return { group, suppressed: true, n: `< ${input.minSize}` };
    try {
      return { group, suppressed: false, n: indices.length, ...input.compute(indices) };
    } catch (e) {
      if (!(e instanceof MetricInputError)) throw e;
      return { group, suppressed: false, n: indices.length, value: null, ci: null, method: `not estimable in this subgroup: ${e.message}` };
    }
  });
}

/** Picks the entries at `indices` (helper for `compute`). */
export function pick<T>(values: readonly T[], indices: readonly number[]): T[] {
  return indices.map((i) => values[i] as T);
}
