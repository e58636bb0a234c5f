import { DomainError, ErrorCode } from '../common/domain-error';
import { RunStatus } from './evaluation.entity';

/**
 * The explicit transition table. `→ queued` from an in-flight state is the recovery path: an internal fault or a
 * worker that died hands the run back to the queue (bounded by attempts).
 */
export const RUN_TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  [RunStatus.Queued]: [RunStatus.Preparing, RunStatus.Failed, RunStatus.Cancelled],
  [RunStatus.Preparing]: [RunStatus.Running, RunStatus.Queued, RunStatus.Failed, RunStatus.Cancelled],
  [RunStatus.Running]: [RunStatus.Scoring, RunStatus.Queued, RunStatus.Failed, RunStatus.Cancelled],
  [RunStatus.Scoring]: [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled],
  [RunStatus.Succeeded]: [],
  [RunStatus.Failed]: [],
  [RunStatus.Cancelled]: [],
};

export const TERMINAL_STATUSES: readonly RunStatus[] = [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled];
export const IN_FLIGHT_STATUSES: readonly RunStatus[] = [RunStatus.Preparing, RunStatus.Running, RunStatus.Scoring];

export function assertTransition(from: RunStatus, to: RunStatus): void {
  if (!RUN_TRANSITIONS[from].includes(to)) {
    throw new DomainError(ErrorCode.InvalidTransition, `run cannot go from ${from} to ${to}`);
  }
}

/** How many times the execution step may start before an internal fault becomes a failed run. */
export const MAX_RUN_ATTEMPTS = 3;

/**
 * How many times a run may be handed back because a component was unreachable, apart from MAX_RUN_ATTEMPTS. With the
 * backoff of retryDelayMs (1 s doubling, capped at 60 s) the waits add up to 1+2+4+8+16+32+60×6 = 423 s.
 */
export const MAX_INFRA_FAULTS = 12;
