import type { Job, Queue } from 'bull';
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
        await input.registry.get(name)(parsePayload(name, job.data), { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? JOB_ATTEMPTS, jobId: String(job.id), ...held?.ctx });
      } finally {
        held?.release();
      }
    })
    .catch(input.onError);
}
