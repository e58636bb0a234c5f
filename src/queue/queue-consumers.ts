import type { Job, Queue } from 'bull';
import { runWithLogContext, type LogFields } from '../observability/log-context';
import { JobContext, JobRegistry } from './job-registry';
import { JobName, JOB_ATTEMPTS } from './queue.constants';
import { parsePayload } from './queue.payloads';

const JOB_NAMES = new Set<string>(Object.values(JobName));

/**
 * One consumer per queue. Bull adds up the concurrency of every `process()` call on a queue, whatever the job names
 * (a named processor's loops take any job), so each queue gets exactly one `process('*', concurrency, …)` and the
 * job's name picks the handler from the registry. `context` gives a job what it holds while it runs (a GPU device).
 */
export function consumeQueue(
  queue: Queue,
  input: { concurrency: number; registry: JobRegistry; context?: () => { ctx: Partial<JobContext>; release: () => void }; onError: (error: unknown) => void },
): void {
  queue
    .process('*', input.concurrency, async (job: Job) => {
      if (!JOB_NAMES.has(job.name)) throw new Error(`queue ${queue.name}: unknown job name '${job.name}'`);
      const name = job.name as JobName;
      const held = input.context?.();
      try {
        const payload = parsePayload(name, job.data);
        const attempt = job.attemptsMade + 1;
        // Every log line the handler writes (and its timers) carries the job and the run or submission it serves.
        await runWithLogContext({ queue: queue.name, job: name, jobId: String(job.id), attempt, ...idsOf(payload) }, () =>
          input.registry.get(name)(payload, { attempt, maxAttempts: job.opts.attempts ?? JOB_ATTEMPTS, jobId: String(job.id), ...held?.ctx }),
        );
      } finally {
        held?.release();
      }
    })
    .catch(input.onError);
}

/** The ids a payload names (validated UUIDs), for the log context. */
function idsOf(payload: object): LogFields {
  const out: LogFields = {};
  for (const key of ['runId', 'submissionId'] as const) {
    const value = (payload as Record<string, unknown>)[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}
