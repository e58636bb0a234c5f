import { InjectQueue } from '@nestjs/bull';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bull';
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
  ) {
    this.queues = { [QueueName.SandboxCpu]: cpu, [QueueName.SandboxGpu]: gpu, [QueueName.Scoring]: scoring };
  }

  async enqueue<K extends JobName>(input: { name: K; payload: JobPayloads[K]; jobId: string; queue?: QueueName }): Promise<void> {
    const queue = this.queues[input.queue ?? DEFAULT_QUEUE[input.name]];
    await queue.add(input.name, { ...input.payload }, { ...DEFAULT_JOB_OPTIONS, jobId: input.jobId });
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
