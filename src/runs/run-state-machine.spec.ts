import { RunStatus } from './evaluation.entity';
import { assertTransition, RUN_TRANSITIONS, TERMINAL_STATUSES } from './run-state-machine';

describe('run state machine', () => {
  it('follows queued → preparing → running → scoring → succeeded', () => {
    const path = [RunStatus.Queued, RunStatus.Preparing, RunStatus.Running, RunStatus.Scoring, RunStatus.Succeeded];
    for (let i = 1; i < path.length; i++) expect(() => assertTransition(path[i - 1] as RunStatus, path[i] as RunStatus)).not.toThrow();
  });

  it('never leaves a terminal state', () => {
    for (const from of TERMINAL_STATUSES) {
      for (const to of Object.values(RunStatus)) expect(() => assertTransition(from, to)).toThrow(/cannot go/);
    }
  });

  it('does not skip execution: queued cannot jump to scoring or succeeded', () => {
    expect(() => assertTransition(RunStatus.Queued, RunStatus.Scoring)).toThrow();
    expect(() => assertTransition(RunStatus.Queued, RunStatus.Succeeded)).toThrow();
  });

  it('lets every non-terminal state fail or be cancelled', () => {
    for (const from of Object.values(RunStatus).filter((s) => !TERMINAL_STATUSES.includes(s))) {
      expect(RUN_TRANSITIONS[from]).toEqual(expect.arrayContaining([RunStatus.Failed, RunStatus.Cancelled]));
    }
  });
});
