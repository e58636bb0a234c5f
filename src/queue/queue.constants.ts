import type { JobOptions } from 'bull';

/** Few queues, named by the resource a job needs (STYLE.md), not by domain. */
export enum QueueName {
  SandboxCpu = 'sandbox-cpu',
  SandboxGpu = 'sandbox-gpu',
  Scoring = 'scoring',
  /** Validation reports: evidence, signing, HTML and PDF (chromium), off the request path. */
  Reports = 'reports',
}

export const ALL_QUEUES: QueueName[] = [QueueName.SandboxCpu, QueueName.SandboxGpu, QueueName.Scoring, QueueName.Reports];

/** Every job name, in one enum; each has a typed payload (queue.payloads.ts) and exactly one handler. */
export enum JobName {
  CheckSubmission = 'check-submission',
  ExecuteRun = 'execute-run',
  ScoreRun = 'score-run',
  GenerateReport = 'generate-report',
}

/** Where a job goes unless the caller picks the GPU queue for execution. */
export const DEFAULT_QUEUE: Record<JobName, QueueName> = {
  [JobName.CheckSubmission]: QueueName.SandboxCpu,
  [JobName.ExecuteRun]: QueueName.SandboxCpu,
  [JobName.ScoreRun]: QueueName.Scoring,
  [JobName.GenerateReport]: QueueName.Reports,
};

/**
 * Retry defaults, set once. Bull retries what a handler throws: a step that could not even record its outcome (the
 * database or Redis is restarting). Backoff 1 s doubling over 8 attempts waits 1+2+…+64 = 127 s in all, which
 * outlasts a restart of any one component (the chaos suite restarts each for 5–15 s). The run's own attempt budget
 * (MAX_RUN_ATTEMPTS) is kept in the database, not here.
 */
export const JOB_ATTEMPTS = 8;
export const JOB_BACKOFF_MS = 1000;
export const DEFAULT_JOB_OPTIONS: JobOptions = {
  attempts: JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
  removeOnComplete: 1000,
  removeOnFail: 5000,
};

/** Delay before the n-th (1-based) re-try of a step handed back for a transient fault: 1 s doubling, at most 60 s. */
export function retryDelayMs(n: number): number {
  return Math.min(60_000, JOB_BACKOFF_MS * 2 ** Math.max(0, n - 1));
}
