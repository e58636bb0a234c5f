import { testCrashPointSetting } from '../config/test-crash-point';

/**
 * Named points where the chaos suite (test/integration/chaos.int-spec.ts) kills the worker with SIGKILL, to prove that
 * every step resumes from the persisted state. Inert unless ASSAY_MODE=test and ASSAY_TEST_CRASH_AT names the point.
 */
export type CrashPoint =
  | 'check:started'
  | 'check:settled'
  | 'execute:preparing'
  | 'execute:running'
  | 'execute:determinism-checked'
  | 'execute:scoring-committed'
  | 'score:started'
  | 'score:succeeded-committed'
  | 'score:next-phase-queued';

export function crashPoint(point: CrashPoint): void {
  if (testCrashPointSetting() !== point) return;
  process.stderr.write(`crash point ${point}: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
