import { type BootstrapSpec, DEFAULT_BOOTSTRAP } from '../metrics/binary-classification';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import type { MetricValue } from '../metrics/score-report';
import { METRIC_CODE_VERSION, scoreBinary } from '../metrics/score-report';
import { parseBinaryPredictionsJsonl, parseTruthCsv, type ParseResult } from '../metrics/predictions';
import { parseRiskPredictionsJsonl, parseSurvivalTruthCsv } from '../metrics/survival-predictions';
import { scoreSurvival, SURVIVAL_METRIC_CODE_VERSION } from '../metrics/survival-report';
import { subgroupMetrics, type SubgroupResult } from '../metrics/subgroups';

export interface CasePrediction {
  caseId: string;
  value: number;
}

export interface TaskScore {
  n: number;
  metrics: Record<string, MetricValue>;
  details: Record<string, unknown>;
  metricCodeVersion: string;
  /** attribute → metric → one row per subgroup (suppressed below the benchmark's minimum size). */
  subgroups: Record<string, Record<string, SubgroupResult[]>>;
}

/** What differs between tasks for the worker: the prediction field, how to parse it, how to score it. */
export interface TaskAdapter {
  field: 'probability' | 'risk';
  parsePredictions(text: string): ParseResult<CasePrediction[]>;
  /** Scores predictions (already aligned to the truth's case order) against the truth file's text. */
  score(input: { truthText: string; predictions: Map<string, number>; definition: BenchmarkDefinition; metadata: Map<string, Record<string, string>> }): TaskScore | { missing: string[] };
}

function mapOk<T, U>(r: ParseResult<T[]>, f: (t: T) => U): ParseResult<U[]> {
  return r.ok ? { ok: true, value: r.value.map(f) } : r;
}

/** Metrics per subgroup of each declared attribute, memoising the full scorer per subgroup. */
function subgroupTables(
  definition: BenchmarkDefinition,
  caseIds: string[],
  metadata: Map<string, Record<string, string>>,
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

export const BINARY_ADAPTER: TaskAdapter = {
  field: 'probability',
  parsePredictions: (text) => mapOk(parseBinaryPredictionsJsonl(text), (p) => ({ caseId: p.caseId, value: p.probability })),
  score({ truthText, predictions, definition, metadata }) {
    const truth = parseTruthCsv(truthText);
    if (!truth.ok) throw new Error(`truth file is invalid: ${truth.error.message}`);
    const missing = truth.value.filter((t) => !predictions.has(t.caseId)).map((t) => t.caseId);
    if (missing.length > 0) return { missing };
    const caseIds = truth.value.map((t) => t.caseId);
    const labels = truth.value.map((t) => t.label);
    const scores = caseIds.map((id) => predictions.get(id) as number);
    const threshold = definition.metrics.threshold;
    const bootstrap = benchmarkBootstrap(definition);
    const report = scoreBinary({ labels, scores, bootstrap, ...(threshold === undefined ? {} : { threshold }) });
    const subset = (idx: readonly number[]): Record<string, MetricValue> =>
      scoreBinary({ labels: idx.map((i) => labels[i] as number), scores: idx.map((i) => scores[i] as number), bootstrap, ...(threshold === undefined ? {} : { threshold }) }).metrics;
    return {
      n: report.n,
      metrics: report.metrics,
      details: { nPositive: report.nPositive, nNegative: report.nNegative, threshold: report.threshold, confusion: report.confusion, ...(report.calibration ? { calibration: report.calibration } : {}) },
      metricCodeVersion: METRIC_CODE_VERSION,
      subgroups: subgroupTables(definition, caseIds, metadata, subset),
    };
  },
};

/** The benchmark's declared B (metrics.bootstrapReplicates), else the default 2000; seed fixed for reproducibility. */
function benchmarkBootstrap(definition: BenchmarkDefinition): BootstrapSpec {
  return { replicates: definition.metrics.bootstrapReplicates ?? DEFAULT_BOOTSTRAP.replicates, seed: DEFAULT_BOOTSTRAP.seed };
}

export const SURVIVAL_ADAPTER: TaskAdapter = {
  field: 'risk',
  parsePredictions: (text) => mapOk(parseRiskPredictionsJsonl(text), (p) => ({ caseId: p.caseId, value: p.risk })),
  score({ truthText, predictions, definition, metadata }) {
    const truth = parseSurvivalTruthCsv(truthText);
    if (!truth.ok) throw new Error(`truth file is invalid: ${truth.error.message}`);
    const missing = truth.value.filter((t) => !predictions.has(t.caseId)).map((t) => t.caseId);
    if (missing.length > 0) return { missing };
    const caseIds = truth.value.map((t) => t.caseId);
    const time = truth.value.map((t) => t.time);
    const event = truth.value.map((t) => t.event);
    const risk = caseIds.map((id) => predictions.get(id) as number);
    const tau = definition.metrics.tau;
    const bootstrap = benchmarkBootstrap(definition);
    const report = scoreSurvival({ time, event, risk, bootstrap, ...(tau === undefined ? {} : { tau }) });
    const subset = (idx: readonly number[]): Record<string, MetricValue> =>
      scoreSurvival({ time: idx.map((i) => time[i] as number), event: idx.map((i) => event[i] as number), risk: idx.map((i) => risk[i] as number), tau: report.tau, bootstrap }).metrics;
    return {
      n: report.n,
      metrics: report.metrics,
      details: { nEvents: report.nEvents, nCensored: report.nCensored, tau: report.tau, pairs: report.pairs },
      metricCodeVersion: SURVIVAL_METRIC_CODE_VERSION,
      subgroups: subgroupTables(definition, caseIds, metadata, subset),
    };
  },
};

export function adapterFor(task: string): TaskAdapter {
  if (task === 'binary-classification') return BINARY_ADAPTER;
  if (task === 'survival') return SURVIVAL_ADAPTER;
  throw new Error(`no scorer for task '${task}'`);
}
