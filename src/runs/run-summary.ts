import type { RunSummaryResponse } from '../submissions/submissions.dto';
import type { RunEntity } from './evaluation.entity';

/**
 * `waitingForGpuWorker`: the benchmark needs a GPU and no live worker has one; a queued run then shows status
 * `waiting_for_gpu_worker` (it stays queued: it neither fails nor runs on a CPU).
 */
export function toRunSummary(run: RunEntity, opts: { showDetail: boolean; waitingForGpuWorker?: boolean }, now: Date): RunSummaryResponse {
  const end = run.finishedAt ?? (run.startedAt ? now : null);
  return {
    id: run.id,
    phase: run.phase,
    // A federated run in flight with a node offline waits for it (FederatedRuns keeps each node's status on the run).
    status: run.status === 'queued' && opts.waitingForGpuWorker ? 'waiting_for_gpu_worker' : run.status === 'running' && run.federation?.nodes.some((n) => n.status === 'waiting_for_node') ? 'waiting_for_node' : run.status,
    failureReason: run.failureReason,
    failureDetail: opts.showDetail ? run.failureDetail : null,
    casesTotal: run.casesTotal,
    casesDone: run.casesDone,
    progress: run.casesTotal > 0 ? run.casesDone / run.casesTotal : 0,
    durationMs: run.startedAt && end ? end.getTime() - run.startedAt.getTime() : null,
    queuedAt: run.queuedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}
