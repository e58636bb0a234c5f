import { MAX_INFRA_FAULTS } from '../runs/run-state-machine';
import { DEFAULT_JOB_OPTIONS, JOB_ATTEMPTS, JOB_BACKOFF_MS, retryDelayMs } from './queue.constants';

/** Retries must outlast a restart of any one component (the chaos suite restarts each for 4–8 s; real ones take longer). */
describe('retry bounds', () => {
  it("Bull's job retries wait at least 2 minutes in all before giving up", () => {
    expect(DEFAULT_JOB_OPTIONS.backoff).toEqual({ type: 'exponential', delay: JOB_BACKOFF_MS });
    // Bull's exponential backoff waits delay × 2^(n−1) before the (n+1)-th attempt.
    let total = 0;
    for (let n = 1; n < JOB_ATTEMPTS; n++) total += JOB_BACKOFF_MS * 2 ** (n - 1);
    expect(total).toBeGreaterThanOrEqual(120_000);
  });

  it('a run handed back for transient faults waits at least 2 minutes in all before it fails as internal', () => {
    let total = 0;
    for (let n = 1; n <= MAX_INFRA_FAULTS; n++) total += retryDelayMs(n);
    expect(total).toBeGreaterThanOrEqual(120_000);
    expect(retryDelayMs(1)).toBe(1000);
    expect(retryDelayMs(100)).toBe(60_000);
  });
});
