// Assembles the survival report (`score --task survival`), same shape as the binary report.
import { type BootstrapSpec, DEFAULT_BOOTSTRAP } from './binary-classification';
import { type CiProvenance } from './bootstrap';
import { type MetricValue } from './score-report';
import { type SurvivalInput, harrellAndUnoWithCi, harrellC } from './survival';

export const SURVIVAL_METRIC_CODE_VERSION = 'assay-metrics/survival-1.1.0';

export interface SurvivalScoreReport {
  readonly task: 'survival';
  readonly metricCodeVersion: string;
  readonly n: number;
  readonly nEvents: number;
  readonly nCensored: number;
  /** Truncation time of Uno's C (pairs with T_i < τ). */
  readonly tau: number;
  readonly pairs: { readonly comparable: number; readonly concordant: number; readonly discordant: number; readonly tiedRisk: number };
  readonly metrics: {
    readonly c_index_harrell: MetricValue & CiProvenance;
    readonly c_index_uno: MetricValue & CiProvenance;
  };
}

export function scoreSurvival(input: SurvivalInput & { readonly tau?: number; readonly bootstrap?: BootstrapSpec }): SurvivalScoreReport {
  const bootstrap = input.bootstrap ?? DEFAULT_BOOTSTRAP;
  const counts = harrellC(input);
  // One replicate loop for both (the same patients are resampled for each: same seed, same B).
  const { harrell: h, uno: u } = harrellAndUnoWithCi(input, { ...bootstrap, tau: input.tau });
  const nEvents = input.event.filter((e) => e === 1).length;
  const provenance = (c: CiProvenance): CiProvenance => ({ method: c.method, B: c.B, seed: c.seed, degenerate: c.degenerate });
  return {
    task: 'survival',
    metricCodeVersion: SURVIVAL_METRIC_CODE_VERSION,
    n: input.time.length,
    nEvents,
    nCensored: input.time.length - nEvents,
    tau: u.tau,
    pairs: { comparable: counts.comparable, concordant: counts.concordant, discordant: counts.discordant, tiedRisk: counts.tiedRisk },
    metrics: {
      c_index_harrell: { value: h.value, ci: h.ci, ...provenance(h) },
      c_index_uno: { value: u.value, ci: u.ci, ...provenance(u) },
    },
  };
}
