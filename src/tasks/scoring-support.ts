import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { type BootstrapSpec, DEFAULT_BOOTSTRAP } from '../metrics/binary-classification';
import type { ParseResult } from '../metrics/predictions';
import type { MetricValue } from '../metrics/score-report';
import { subgroupMetrics } from '../metrics/subgroups';
import type { CaseResult, ParsedPredictions, TaskScore, TruthSource } from './task-definition';

/** The truth file of the tabular tasks, relative to the split's truth prefix. */
export const TABULAR_TRUTH_FILE = 'labels.csv';

/** The benchmark's declared B (metrics.bootstrapReplicates), else the default 2000; seed fixed for reproducibility. */
export function benchmarkBootstrap(definition: BenchmarkDefinition): BootstrapSpec {
  return { replicates: definition.metrics.bootstrapReplicates ?? DEFAULT_BOOTSTRAP.replicates, seed: DEFAULT_BOOTSTRAP.seed };
}

/** Reads one CSV truth file and parses it with the task's parser; an invalid truth file is Assay's fault. */
export async function readCsvTruth<T>(source: TruthSource, parse: (text: string) => ParseResult<T>, file = TABULAR_TRUTH_FILE): Promise<T> {
  const parsed = parse((await source.read(file)).toString('utf8'));
  if (!parsed.ok) throw new Error(`truth file is invalid: ${parsed.error.message}`);
  return parsed.value;
}

/** A per-case numeric field of predictions.jsonl, as stored ({ [field]: value }). */
export function jsonlField<T extends { caseId: string }>(parsed: ParseResult<T[]>, field: string, value: (p: T) => number): ParsedPredictions {
  if (!parsed.ok) {
    const first = parsed.error.issues[0];
    return { ok: false, message: first ? `line ${first.line}: ${first.message}` : parsed.error.message };
  }
  return { ok: true, value: parsed.value.map((p) => ({ caseId: p.caseId, prediction: { [field]: value(p) } })) };
}

/** Truth case ids that have no prediction. */
export function missingCases(caseIds: readonly string[], predictions: ReadonlyMap<string, unknown>): string[] {
  return caseIds.filter((id) => !predictions.has(id));
}

/** A numeric column of stored per-case results (NaN where absent, so a caller's finiteness check catches it). */
export function column(results: readonly CaseResult[], field: string): number[] {
  return results.map((r) => {
    const v = r[field];
    return typeof v === 'number' ? v : Number.NaN;
  });
}

/** Metrics per subgroup of each declared attribute, memoising the full scorer per subgroup. */
export function subgroupTables(
  definition: BenchmarkDefinition,
  caseIds: readonly string[],
  metadata: ReadonlyMap<string, Record<string, string>>,
  scoreSubset: (indices: readonly number[]) => Record<string, MetricValue>,
): TaskScore['subgroups'] {
  const spec = definition.subgroups;
  if (!spec) return {};
  const names = [definition.metrics.primary, ...definition.metrics.secondary];
  const out: TaskScore['subgroups'] = {};
  for (const attribute of spec.attributes) {
    const groups = caseIds.map((id) => metadata.get(id)?.[attribute] ?? null);
    const memo = new Map<string, Record<string, MetricValue>>();
    const metricsOf = (indices: readonly number[]): Record<string, MetricValue> => {
      const key = indices.join(',');
      let m = memo.get(key);
      if (!m) {
        m = scoreSubset(indices);
        memo.set(key, m);
      }
      return m;
    };
    out[attribute] = Object.fromEntries(
      names.map((name) => [
        name,
        subgroupMetrics({
          groups,
          minSize: spec.minSize,
          compute: (indices) => {
            const v = metricsOf(indices)[name];
            return { value: v?.value ?? null, ci: v?.ci ?? null, method: v?.method ?? 'not computed' };
          },
        }),
      ]),
    );
  }
  return out;
}

/** The shared rules of the tabular tasks: one vector input, one output named and kinded as the task's field. */
export function tabularInterfaceProblems(dto: { task: string; interface: { inputs: unknown[]; outputs: { name: string; kind: string }[] } }, field: string): { field: string; problem: string }[] {
  const problems: { field: string; problem: string }[] = [];
  const output = dto.interface.outputs[0];
  if (dto.interface.outputs.length !== 1 || output?.name !== field || output?.kind !== field) {
    problems.push({ field: 'interface.outputs', problem: `${dto.task} has exactly one output named '${field}' of kind '${field}'` });
  }
  if (dto.interface.inputs.length !== 1) {
    problems.push({ field: 'interface.inputs', problem: `${dto.task} over tabular features takes exactly one vector input` });
  }
  return problems;
}
