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

/**
 * The worker's table of handlers: it refuses to start with a job name that has no handler or two. It also knows
 * which handlers are running, so a worker shutting down can wait for them to record their outcome (idle()).
 */
export class JobRegistry {
  private readonly handlers = new Map<JobName, JobHandler<JobName>>();
  private readonly duplicates: JobName[] = [];
  private readonly running = new Set<Promise<void>>();

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

  /** The handler, wrapped so that each call is counted among the running until it settles. */
  get<K extends JobName>(name: K): JobHandler<K> {
    const handler = this.handlers.get(name) as unknown as JobHandler<K> | undefined;
    if (!handler) throw new Error(`no handler for job '${name}'`);
    return (payload, meta) => {
      const call = handler(payload, meta);
      const tracked = call.then(
        () => undefined,
        () => undefined,
      );
      this.running.add(tracked);
      void tracked.then(() => this.running.delete(tracked));
      return call;
    };
  }

  /** How many handlers are running now. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Resolves once no handler runs (also those started meanwhile), or after timeoutMs; says how many were left. */
  async idle(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(this.running), new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
    return this.running.size;
  }
}
