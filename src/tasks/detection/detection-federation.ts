// Detection (FROC) over federated nodes (issue 11). What pools exactly, by what leaves a node:
// - sensitivity and FP/scan at the locked threshold are ratios of sums (Σ detected lesions / Σ reference lesions,
//   Σ false positives / Σ scans): every level, with a CI from the within-node scan bootstrap (each node resamples its
//   own scans and returns replicate sums only);
// - CPM (interpolated and nearest-point) is a function of the union's FROC curve, which needs only three things: the
//   best scores of the detected lesions, the scores of the false-positive candidates, and the lesion and scan counts.
//   At 'score-distributions' a node sends the two score lists sorted (no scan grouping, no case id), and the hub
//   computes CPM with the single-site code on the union: the point value is the single-site value on the union of
//   the scans. Its CI cannot be the single-site scan bootstrap (which scan a score came from does not leave the
//   node), so the hub resamples lesions and candidates themselves (Poisson(1) weights per element, the scan count
//   fixed), labelled as such;
// - at 'aggregates' CPM is a DerSimonian–Laird meta-analysis of the nodes' own CPMs (variance from each node's CI).
import { mulberry32 } from '../../common/seeded-random';
import { DETECTION_METRIC_CODE_VERSION, DETECTION_METRIC_NAMES, luna16PercentileCi } from '../../metrics/detection/detection-report';
import { CPM_INTERPOLATED_METHOD, CPM_NEAREST_METHOD, type ScanScores, buildScorePool, countBuffers, cpmInterpolatedFromCounts, cpmNearestFromCounts, cpmScratch, cumulativeCounts } from '../../metrics/detection/froc';
import { MetricInputError } from '../../metrics/metrics.errors';
import { nodeRatioSums, pooledRatio, type RatioPart, type ScoreDistribution } from '../../metrics/pooling';
import type { MetricValue } from '../../metrics/score-report';
import { countAtOrAbove, egressAllows, type EgressLevel, type FederatedScore, type Heterogeneity, isCount, metaAnalysedFromCis, perNodeTables, type PooledMetric, ratioPartProblem, scoreListProblem, type TaskFederation } from '../federation';
import { benchmarkBootstrap } from '../scoring-support';
import type { CaseResult } from '../task-definition';

/** What one node returns for a detection run, by its egress level (JSON; signed by the node). */
export interface DetectionNodeSummary {
  readonly egress: EgressLevel;
  /** Scans. */
  readonly n: number;
  /** Reference lesions over the node's scans. */
  readonly nLesions: number;
  /** The node's own metrics on its own scans (aggregates: every level). */
  readonly metrics: Record<string, MetricValue>;
  /** Σ detected lesions at the threshold / Σ reference lesions, with the node's scan-bootstrap replicate sums. */
  readonly sensitivity: RatioPart;
  /** Σ false positives at the threshold / scans, with the node's scan-bootstrap replicate sums. */
  readonly fpPerScan: RatioPart;
  /**
   * 'score-distributions' and above: positives = the best score of each detected lesion, negatives = the score of
   * each false-positive candidate, both sorted ascending; a missed lesion is counted in nLesions only.
   */
  readonly distribution?: ScoreDistribution;
}

const sorted = (xs: number[]): number[] => xs.sort((a, b) => a - b);

function scanScores(r: CaseResult): ScanScores {
  return { lesionScores: (r['lesionScores'] ?? []) as (number | null)[], fpScores: (r['fpScores'] ?? []) as number[] };
}

export const HUB_ELEMENT_BOOTSTRAP_METHOD =
  'percentile bootstrap at the hub over reference lesions and false-positive candidates (Poisson(1) weight per lesion and per candidate, ' +
  'scan count fixed; Hanley & MacGibbon 2006): which scan a score came from does not leave a node, so the correlation of lesions and ' +
  'candidates within a scan is not in this CI (it is narrower than the single-site scan bootstrap when lesions or false positives cluster by scan)';

/**
 * CPM of the union of the nodes' score lists: one pseudo-scan per element (detected lesion, missed lesion, false
 * positive) so that each can carry its own bootstrap weight; the FP/scan denominator is the real scan count.
 */
function pooledCpm(nodes: readonly { n: number; nLesions: number; distribution: ScoreDistribution }[], spec: { replicates: number; seed: number }): { cpm: MetricValue; cpm_nearest: MetricValue } {
  const nScans = nodes.reduce((a, x) => a + x.n, 0);
  const pseudo: ScanScores[] = [];
  for (const x of nodes) {
    const missed = x.nLesions - x.distribution.positives.length;
    if (!Number.isInteger(missed) || missed < 0) throw new MetricInputError('METRIC_BAD_PARAMETER', `a node reported ${x.distribution.positives.length} detected lesions but ${x.nLesions} reference lesions`);
    for (const s of x.distribution.positives) pseudo.push({ lesionScores: [s], fpScores: [] });
    for (let i = 0; i < missed; i++) pseudo.push({ lesionScores: [null], fpScores: [] });
    for (const s of x.distribution.negatives) pseudo.push({ lesionScores: [], fpScores: [s] });
  }
  const nLesions = nodes.reduce((a, x) => a + x.nLesions, 0);
  const note = "computed at the hub on the union of the nodes' lesion and false-positive score lists (no scan grouping, no case identifiers): equal to the single-site computation on the same scans";
  if (nLesions === 0 || pseudo.length === 0) {
    const none = (method: string): MetricValue => ({ value: null, ci: null, method: `${method}; not estimable: no reference lesion in ${nScans} scans` });
    return { cpm: none(CPM_INTERPOLATED_METHOD), cpm_nearest: none(CPM_NEAREST_METHOD) };
  }
  const pool = buildScorePool(pseudo);
  const counts = countBuffers(pool);
  const scratch = cpmScratch(pool);
  cumulativeCounts(pool, null, counts);
  const interpolated = cpmInterpolatedFromCounts(counts, nScans, nLesions, scratch);
  const nearest = cpmNearestFromCounts(counts, nScans, nLesions, scratch);

  // Poisson(1) by inversion of its CDF, from one seeded stream (reproducible from the benchmark's seed).
  const uniform = mulberry32(spec.seed);
  const poisson1 = (): number => {
    const u = uniform();
    let k = 0;
    let p = Math.exp(-1);
    let cdf = p;
    while (u > cdf && k < 30) {
      k++;
      p /= k;
      cdf += p;
    }
    return k;
  };
  const w = new Float64Array(pseudo.length);
  const repsI = new Float64Array(spec.replicates);
  const repsN = new Float64Array(spec.replicates);
  for (let b = 0; b < spec.replicates; b++) {
    let lesions = 0;
    for (let i = 0; i < w.length; i++) {
      w[i] = poisson1();
      lesions += (w[i] as number) * (pool.lesionsPerScan[i] as number);
    }
    cumulativeCounts(pool, w, counts);
    repsI[b] = cpmInterpolatedFromCounts(counts, nScans, lesions, scratch);
    repsN[b] = cpmNearestFromCounts(counts, nScans, lesions, scratch);
  }
  const ciNote = `CI: ${HUB_ELEMENT_BOOTSTRAP_METHOD}, B=${spec.replicates}, seed=${spec.seed}, LUNA16-style percentile 95% CI; replicates without a lesion dropped`;
  return {
    cpm: { value: interpolated, ci: luna16PercentileCi(repsI), method: `${CPM_INTERPOLATED_METHOD}; ${note}; ${ciNote}` },
    cpm_nearest: { value: nearest, ci: luna16PercentileCi(repsN), method: `${CPM_NEAREST_METHOD}; ${note}; ${ciNote}` },
  };
}

/**
 * Detection over nodes: sensitivity and FP/scan pool exactly at every egress level; CPM pools exactly (point value)
 * when every node lets its score lists leave, and by meta-analysis otherwise. See the head of this file.
 */
export const DETECTION_FEDERATION: TaskFederation<DetectionNodeSummary> = {
  summarize({ score, definition, egress, seed, seedKey }) {
    const rows = score.perCase;
    const bootstrap = { replicates: benchmarkBootstrap(definition).replicates, seed, ...(seedKey ? { key: seedKey } : {}) };
    const lesionsOf = (r: CaseResult): number => scanScores(r).lesionScores.length;
    const summary: DetectionNodeSummary = {
      egress,
      n: score.n,
      nLesions: rows.reduce((a, r) => a + lesionsOf(r), 0),
      metrics: Object.fromEntries(DETECTION_METRIC_NAMES.map((m) => [m, score.metrics[m] as MetricValue])),
      sensitivity: nodeRatioSums(rows.map((r) => Number(r['tp'])), rows.map(lesionsOf), bootstrap),
      fpPerScan: nodeRatioSums(rows.map((r) => Number(r['fp'])), rows.map(() => 1), bootstrap),
    };
    if (!egressAllows(egress, 'score-distributions')) return summary;
    const positives: number[] = [];
    const negatives: number[] = [];
    for (const r of rows) {
      const s = scanScores(r);
      for (const v of s.lesionScores) if (v !== null) positives.push(v);
      negatives.push(...s.fpScores);
    }
    // Sorted: the order of the lists would otherwise follow the scans.
    return { ...summary, distribution: { positives: sorted(positives), negatives: sorted(negatives) } };
  },

  check({ definition, summary }) {
    const s = summary as Partial<DetectionNodeSummary>;
    if (!isCount(s.n)) return `n ${JSON.stringify(s.n)} is not a scan count`;
    if (!isCount(s.nLesions)) return `nLesions ${JSON.stringify(s.nLesions)} is not a lesion count`;
    const problem =
      ratioPartProblem('sensitivity', s.sensitivity, { integer: true, denominator: s.nLesions, maxNumerator: 'denominator' }) ??
      ratioPartProblem('fpPerScan', s.fpPerScan, { integer: true, denominator: s.n });
    if (problem) return problem;
    const d = s.distribution;
    if (d === undefined) return null;
    const listProblem = scoreListProblem('positives', d.positives) ?? scoreListProblem('negatives', d.negatives);
    if (listProblem) return listProblem;
    if (d.positives.length > s.nLesions) return `${d.positives.length} detected-lesion scores for ${s.nLesions} reference lesions`;
    const t = definition.metrics.threshold ?? 0.5;
    const tpAt = countAtOrAbove(d.positives, t);
    const fpAt = countAtOrAbove(d.negatives, t);
    const sens = s.sensitivity as RatioPart;
    const fps = s.fpPerScan as RatioPart;
    if (tpAt !== sens.numerator || fpAt !== fps.numerator) return `at the locked threshold ${t} the score lists give ${tpAt} detected lesions and ${fpAt} false positives, the node's sums ${sens.numerator} and ${fps.numerator}`;
    return null;
  },

  pool({ definition, nodes }): FederatedScore {
    const ordered = [...nodes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const n = ordered.reduce((acc, x) => acc + x.summary.n, 0);
    const threshold = definition.metrics.threshold ?? 0.5;
    const metrics: Record<string, PooledMetric> = {};

    const ratio = (name: 'sensitivity' | 'fp_per_scan', part: (s: DetectionNodeSummary) => RatioPart, what: string): void => {
      const r = pooledRatio(ordered.map((x) => part(x.summary)));
      metrics[name] = { value: r.value, ci: r.ci, method: `${what} at threshold ${threshold} (score ≥ t); ${r.method}`, counts: { numerator: r.numerator, denominator: r.denominator }, pooling: 'exact' };
    };
    ratio('sensitivity', (s) => s.sensitivity, 'detected lesions / reference lesions');
    ratio('fp_per_scan', (s) => s.fpPerScan, 'false positives / scans (all scans)');

    const heterogeneity: Record<string, Heterogeneity> = {};
    const meta: Record<string, PooledMetric> = {};
    for (const name of DETECTION_METRIC_NAMES) {
      const r = metaAnalysedFromCis(ordered, name, 'scan-bootstrap CI');
      if (!r) continue;
      heterogeneity[name] = r.heterogeneity;
      meta[name] = r.metric;
    }

    const withLists = ordered.map((x) => x.summary.distribution);
    if (withLists.every((d): d is ScoreDistribution => d !== undefined)) {
      const cpm = pooledCpm(
        ordered.map((x) => ({ n: x.summary.n, nLesions: x.summary.nLesions, distribution: x.summary.distribution as ScoreDistribution })),
        benchmarkBootstrap(definition),
      );
      metrics['cpm'] = { ...cpm.cpm, pooling: 'exact' };
      metrics['cpm_nearest'] = { ...cpm.cpm_nearest, pooling: 'exact' };
    } else {
      for (const name of ['cpm', 'cpm_nearest']) {
        metrics[name] =
          meta[name] ??
          { value: null, ci: null, method: `${name} not pooled: a node lets aggregates only leave (so no exact pooling), and a node's estimate or its CI is missing, or there are fewer than 2 nodes`, pooling: 'not-pooled' };
      }
    }
    return {
      n,
      nodes: ordered.length,
      metrics,
      perNode: perNodeTables(definition, ordered.map((x) => ({ node: x.node, n: x.summary.n, metrics: x.summary.metrics })), DETECTION_METRIC_NAMES),
      heterogeneity,
      egress: Object.fromEntries(ordered.map((x) => [x.node, x.summary.egress])),
      metricCodeVersion: DETECTION_METRIC_CODE_VERSION,
    };
  },
};
