import type { JobOptions } from 'bull';

/** Few queues, named by the resource a job needs (STYLE.md), not by domain. */
export enum QueueName {
  SandboxCpu = 'sandbox-cpu',
  SandboxGpu = 'sandbox-gpu',
  Scoring = 'scoring',
}

export const ALL_QUEUES: QueueName[] = [QueueName.SandboxCpu, QueueName.SandboxGpu, QueueName.Scoring];

/** Every job name, in one enum; each has a typed payload (queue.payloads.ts) and exactly one handler. */
export enum JobName {
  CheckSubmission = 'check-submission',
  ExecuteRun = 'execute-run',
  ScoreRun = 'score-run',
}

/** Where a job goes unless the caller picks the GPU queue for execution. */
export const DEFAULT_QUEUE: Record<JobName, QueueName> = {
  [JobName.CheckSubmission]: QueueName.SandboxCpu,
  [JobName.ExecuteRun]: QueueName.SandboxCpu,
  [JobName.ScoreRun]: QueueName.Scoring,
};

/**
 * Retry defaults, set once. Bull retries only what a handler throws; vendor faults are recorded as failed runs and
 * not thrown, so only Assay's own faults (internal) come back here.
 */
export const DEFAULT_JOB_OPTIONS: JobOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: 1000,
  removeOnFail: 5000,
};
