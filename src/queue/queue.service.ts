import { InjectQueue } from '@nestjs/bull';
import { Injectable, Optional } from '@nestjs/common';
import type { Queue } from 'bull';
import { AssayMetrics, type QueueDepth } from '../observability/metrics';
import { DEFAULT_JOB_OPTIONS, DEFAULT_QUEUE, JobName, QueueName } from './queue.constants';
import { JobPayloads } from './queue.payloads';

/** Producers call this; job ids dedupe (`${id}:${step}:${attempt}`) so a step is queued once. */
@Injectable()
export class QueueService {
  private readonly queues: Record<QueueName, Queue>;

  constructor(
    @InjectQueue(QueueName.SandboxCpu) cpu: Queue,
    @InjectQueue(QueueName.SandboxGpu) gpu: Queue,
    @InjectQueue(QueueName.Scoring) scoring: Queue,
    @InjectQueue(QueueName.Reports) reports: Queue,
    @Optional() metrics?: AssayMetrics,
  ) {
    this.queues = { [QueueName.SandboxCpu]: cpu, [QueueName.SandboxGpu]: gpu, [QueueName.Scoring]: scoring, [QueueName.Reports]: reports };
    // Read at each scrape (assay_queue_jobs): these are this facility's own queues.
    metrics?.watchQueues(() => this.depths());
  }

  /** Waiting, active and delayed jobs of every queue (Bull's counts, read from Redis). */
  async depths(): Promise<QueueDepth[]> {
    return Promise.all(
      Object.entries(this.queues).map(async ([name, queue]) => {
        const c = await queue.getJobCounts();
        return { queue: name, node: 'local', counts: { waiting: c.waiting, active: c.active, delayed: c.delayed } };
      }),
    );
  }

  async enqueue<K extends JobName>(input: { name: K; payload: JobPayloads[K]; jobId: string; queue?: QueueName; delayMs?: number }): Promise<void> {
    const queue = this.queues[input.queue ?? DEFAULT_QUEUE[input.name]];
    await queue.add(input.name, { ...input.payload }, { ...DEFAULT_JOB_OPTIONS, jobId: input.jobId, ...(input.delayMs ? { delay: input.delayMs } : {}) });
  }

  /**
   * Makes sure a live job exists: a job that finished or failed under this id is removed and added again; a waiting,
   * delayed or active one is left alone. Returns true when it (re-)added the job.
   */
  async ensureQueued<K extends JobName>(input: { name: K; payload: JobPayloads[K]; jobId: string; queue?: QueueName; delayMs?: number }): Promise<boolean> {
    const queue = this.queues[input.queue ?? DEFAULT_QUEUE[input.name]];
    const job = await queue.getJob(input.jobId);
    if (job) {
      const state = await job.getState();
      if (state !== 'completed' && state !== 'failed') return false;
      await job.remove();
    }
    await this.enqueue(input);
    return true;
  }

  queue(name: QueueName): Queue {
    return this.queues[name];
  }

  async ping(): Promise<void> {
    const client = this.queues[QueueName.Scoring].client;
    await client.ping();
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, queue] of Object.entries(this.queues)) out[name] = (await queue.getJobCounts()) as unknown as Record<string, number>;
    return out;
  }
}
