import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Fields every log line written inside a unit of work carries (a job: jobId, queue, job, attempt, runId,
 * submissionId, …). Held in AsyncLocalStorage, so the existing `new Logger('X')` calls of src/runs and src/queue
 * need no change: the logger (logger.ts) mixes the current fields into each line, including the lines of timers
 * and callbacks the job started. Values are ids and counters only, never vendor-provided text.
 */
export type LogFields = Record<string, string | number>;

const storage = new AsyncLocalStorage<LogFields>();

/** Runs `work` with `fields` added to the current context (nested work keeps the outer fields). */
export function runWithLogContext<T>(fields: LogFields, work: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, work);
}

/** Adds fields to the current unit of work once they are known (e.g. the run's submission); no-op outside one. */
export function addLogContext(fields: LogFields): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

export function currentLogContext(): Readonly<LogFields> {
  return storage.getStore() ?? {};
}
