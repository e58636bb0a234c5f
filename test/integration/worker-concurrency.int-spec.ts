import Bull from 'bull';
import { randomBytes, randomUUID } from 'node:crypto';
import { JobContext, JobRegistry } from '../../src/queue/job-registry';
import { JobName } from '../../src/queue/queue.constants';
import { redisOptionsFromUrl } from '../../src/queue/queue.module';
import { consumeQueue } from '../../src/queue/queue-consumers';
import { GpuPool } from '../../src/sandbox/gpu-inventory';
import { TEST_REDIS_URL } from '../support/test-env';

jest.setTimeout(60_000);

/**
 * The worker promises ASSAY_WORKER_CONCURRENCY sandboxes at a time. Bull adds up the concurrency of every process()
 * call on a queue and a named processor's loops take any job name, so one call per job name doubled it. Real Redis,
 * real Bull: six jobs of two names on one queue consumed with concurrency 2 never run more than two at once.
 */
describe('one consumer per queue', () => {
  const queues: Bull.Queue[] = [];
  const newQueue = (name: string): Bull.Queue => {
    const q = new Bull(name, { redis: redisOptionsFromUrl(TEST_REDIS_URL), prefix: `assayconc${randomBytes(4).toString('hex')}` });
    queues.push(q);
    return q;
  };

  afterAll(async () => {
    for (const q of queues) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
  });

  /** Handlers that hold a "sandbox" for a while and count how many are held at once. */
  function countingRegistry(holdMs: number): { registry: JobRegistry; max: () => number; done: () => number; seen: JobContext[] } {
    let active = 0;
    let max = 0;
    let done = 0;
    const seen: JobContext[] = [];
    const handler = async (_p: unknown, ctx: JobContext): Promise<void> => {
      active++;
      max = Math.max(max, active);
      seen.push(ctx);
      await new Promise((r) => setTimeout(r, holdMs));
      active--;
      done++;
    };
    const registry = new JobRegistry();
    for (const name of Object.values(JobName)) registry.register(name, handler);
    return { registry, max: () => max, done: () => done, seen };
  }

  async function waitFor(pred: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('runs at most `concurrency` jobs of any names at once on the sandbox queue', async () => {
    const q = newQueue('sandbox-cpu');
    const counting = countingRegistry(400);
    consumeQueue(q, { concurrency: 2, registry: counting.registry, onError: (e) => { throw e; } });
    for (let i = 0; i < 3; i++) {
      await q.add(JobName.CheckSubmission, { submissionId: randomUUID() });
      await q.add(JobName.ExecuteRun, { runId: randomUUID() });
    }
    await waitFor(() => counting.done() === 6);
    expect(counting.max()).toBe(2);
  });

  it('dispatches GPU jobs through the registry, each holding its own device', async () => {
    const q = newQueue('sandbox-gpu');
    const counting = countingRegistry(300);
    const pool = new GpuPool(['0', '1']);
    consumeQueue(q, {
      concurrency: 2,
      registry: counting.registry,
      onError: (e) => { throw e; },
      context: () => {
        const device = pool.acquire();
        if (device === null) throw new Error('no free device');
        return { ctx: { gpus: { deviceIds: [device] } }, release: () => pool.release(device) };
      },
    });
    for (let i = 0; i < 6; i++) await q.add(JobName.ExecuteRun, { runId: randomUUID() });
    await waitFor(() => counting.done() === 6);
    expect(counting.max()).toBe(2);
    expect(counting.seen.map((c) => c.gpus?.deviceIds.length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(new Set(counting.seen.map((c) => c.gpus?.deviceIds[0]))).toEqual(new Set(['0', '1']));
  });

  it('fails a job with an unknown name instead of running it with some other handler', async () => {
    const q = newQueue('scoring');
    const counting = countingRegistry(10);
    consumeQueue(q, { concurrency: 1, registry: counting.registry, onError: (e) => { throw e; } });
    const failed = new Promise<string>((resolve) => q.on('failed', (_j, err: Error) => resolve(err.message)));
    await q.add('drop-tables', { runId: randomUUID() }, { attempts: 1 });
    expect(await failed).toMatch(/unknown job name 'drop-tables'/);
    expect(counting.done()).toBe(0);
  });
});
