import type { AssayMetrics } from '../observability/metrics';
import { FailureReason, type RunEntity, RunStatus, type RunTimings } from './evaluation.entity';

/** The steps of RunTimings (ms) as the `step` label of assay_run_step_duration_seconds: a closed list. */
export const RUN_STEP_OF: Record<keyof RunTimings, string> = {
  queueWaitMs: 'queue_wait',
  prepareMs: 'prepare',
  sandboxCreateMs: 'sandbox_create',
  sandboxStartMs: 'sandbox_start',
  sandboxWaitMs: 'sandbox_wait',
  sandboxRemoveMs: 'sandbox_remove',
  sandboxTotalMs: 'sandbox_total',
  fetchInputsMs: 'fetch_inputs',
  batchIoMs: 'batch_io',
  parseOutputMs: 'parse_output',
  storeOutputMs: 'store_output',
  determinismMs: 'determinism',
  scoringMs: 'scoring',
  scoringReadMs: 'scoring_read',
  totalMs: 'total',
};
export const RUN_STEPS: readonly string[] = Object.values(RUN_STEP_OF);
export const FAILURE_REASONS: readonly string[] = Object.values(FailureReason);

/** Whose fault a failure reason is: Internal is Assay's; every other reason is the vendor's algorithm (or image). */
export function faultSideOf(reason: FailureReason | null): 'vendor' | 'internal' {
  return reason === FailureReason.Internal ? 'internal' : 'vendor';
}

/**
 * A run reached a final state (called once, after the commit that put it there): its recorded step timings into
 * the step histogram, and a failure into the failure counter. Only the reason code and the step names become
 * labels: nothing of the run's submission, vendor, cases or results.
 */
export function observeRunFinished(metrics: AssayMetrics | undefined, run: Pick<RunEntity, 'status' | 'failureReason' | 'timings'>): void {
  if (!metrics) return;
  for (const [key, step] of Object.entries(RUN_STEP_OF)) {
    const ms = (run.timings as Record<string, unknown> | null | undefined)?.[key];
    if (typeof ms === 'number') metrics.observeRunStep({ step, steps: RUN_STEPS, status: run.status, seconds: ms / 1000 });
  }
  if (run.status === RunStatus.Failed) metrics.countRunFailure({ reason: run.failureReason ?? 'unknown', reasons: FAILURE_REASONS, fault: faultSideOf(run.failureReason) });
}
