import { JobName } from './queue.constants';
import { JobPayloads } from './queue.payloads';

/** What a handler learns about its job: Bull's attempt (1-based) of how many, and what it holds (a GPU device). */
export interface JobContext {
  attempt: number;
  maxAttempts: number;
  jobId: string;
  gpus?: { deviceIds: string[] };
}

export type JobHandler<K extends JobName> = (payload: JobPayloads[K], meta: JobContext) => Promise<void>;

/** The worker's table of handlers: it refuses to start with a job name that has no handler or two. */
export class JobRegistry {
  private readonly handlers = new Map<JobName, JobHandler<JobName>>();
  private readonly duplicates: JobName[] = [];

  register<K extends JobName>(name: K, handler: JobHandler<K>): void {
    if (this.handlers.has(name)) this.duplicates.push(name);
    this.handlers.set(name, handler as unknown as JobHandler<JobName>);
  }

  assertComplete(): void {
    const missing = Object.values(JobName).filter((name) => !this.handlers.has(name));
    const problems = [
      ...missing.map((n) => `job '${n}' has no handler`),
      ...this.duplicates.map((n) => `job '${n}' has more than one handler`),
    ];
    if (problems.length > 0) throw new Error(`worker refuses to start: ${problems.join('; ')}`);
  }

  get<K extends JobName>(name: K): JobHandler<K> {
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`no handler for job '${name}'`);
    return handler as unknown as JobHandler<K>;
  }
}
