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
    status: run.status === 'queued' && opts.waitingForGpuWorker ? 'waiting_for_gpu_worker' : run.status,
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
