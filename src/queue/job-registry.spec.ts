import { JobRegistry } from './job-registry';
import { JobName } from './queue.constants';
import { parsePayload } from './queue.payloads';

const noop = async (): Promise<void> => undefined;

describe('JobRegistry', () => {
  it('refuses to start when a job name has no handler', () => {
    const registry = new JobRegistry();
    registry.register(JobName.ExecuteRun, noop);
    expect(() => registry.assertComplete()).toThrow(/'check-submission' has no handler.*'score-run' has no handler/);
  });

  it('refuses to start when a job name has two handlers', () => {
    const registry = new JobRegistry();
    for (const name of Object.values(JobName)) registry.register(name, noop);
    registry.register(JobName.ScoreRun, noop);
    expect(() => registry.assertComplete()).toThrow(/'score-run' has more than one handler/);
  });

  it('accepts one handler per job name', () => {
    const registry = new JobRegistry();
    for (const name of Object.values(JobName)) registry.register(name, noop);
    expect(() => registry.assertComplete()).not.toThrow();
  });
});

describe('JobRegistry.idle (a worker shutting down waits for its handlers)', () => {
  const meta = { attempt: 1, maxAttempts: 3, jobId: 'j' };
  const payload = { runId: '6f1c1f5e-2c7a-4a7e-9a52-9d3f0a1b2c3d' };
  const gate = (): { promise: Promise<void>; open: () => void; fail: () => void } => {
    let open: () => void = () => undefined;
    let fail: () => void = () => undefined;
    const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = () => reject(new Error('handler failed')))));
    return { promise, open, fail };
  };

  it('resolves at once with 0 when nothing runs', async () => {
    await expect(new JobRegistry().idle(10_000)).resolves.toBe(0);
  });

  it('waits for every running handler, whether it succeeds or throws, and for one started meanwhile', async () => {
    const registry = new JobRegistry();
    const gates = [gate(), gate(), gate()];
    let k = 0;
    registry.register(JobName.ScoreRun, () => (gates[k++] as ReturnType<typeof gate>).promise);
    const calls = [registry.get(JobName.ScoreRun)(payload, meta), registry.get(JobName.ScoreRun)(payload, meta)];
    calls.forEach((c) => c.catch(() => undefined));
    expect(registry.inFlight).toBe(2);
    let settled: number | null = null;
    const idle = registry.idle(10_000).then((n) => (settled = n));
    gates[0]?.open();
    await new Promise((r) => setTimeout(r, 10));
    // A third starts while the first two are still being waited for: idle waits for it as well.
    void registry.get(JobName.ScoreRun)(payload, meta);
    gates[1]?.fail();
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBeNull();
    gates[2]?.open();
    await idle;
    expect(settled).toBe(0);
    expect(registry.inFlight).toBe(0);
    // The caller still sees the handler's own outcome.
    await expect(calls[1]).rejects.toThrow('handler failed');
  });

  it('gives up after its timeout and says how many are still running', async () => {
    const registry = new JobRegistry();
    registry.register(JobName.ScoreRun, () => new Promise<void>(() => undefined));
    void registry.get(JobName.ScoreRun)(payload, meta);
    const t0 = Date.now();
    await expect(registry.idle(50)).resolves.toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });
});

describe('parsePayload', () => {
  it('rejects a payload from an older deploy that lacks the run id', () => {
    expect(() => parsePayload(JobName.ExecuteRun, { run: 'x' })).toThrow(/invalid payload/);
  });
  it('accepts a valid payload', () => {
    expect(parsePayload(JobName.ScoreRun, { runId: '6f1c1f5e-2c7a-4a7e-9a52-9d3f0a1b2c3d' }).runId).toMatch(/^6f1c/);
  });
});
