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

describe('parsePayload', () => {
  it('rejects a payload from an older deploy that lacks the run id', () => {
    expect(() => parsePayload(JobName.ExecuteRun, { run: 'x' })).toThrow(/invalid payload/);
  });
  it('accepts a valid payload', () => {
    expect(parsePayload(JobName.ScoreRun, { runId: '6f1c1f5e-2c7a-4a7e-9a52-9d3f0a1b2c3d' }).runId).toMatch(/^6f1c/);
  });
});
