import { AssayClient, RunSummary } from './api-client';
import { followSubmission } from './vendor.command';

type View = { status: string; rejectionReason: string | null; runs: { id: string; phase: string; status: string }[] };

/** The API as the CLI sees it, at the adapter boundary: a scripted sequence of submission views. */
class ScriptedClient extends AssayClient {
  constructor(private readonly views: View[], private readonly runEnd: RunSummary | null = null) {
    super('http://127.0.0.1:1');
  }
  override async get<T>(): Promise<T> {
    const next = this.views.length > 1 ? this.views.shift() : this.views[0];
    return next as T;
  }
  override async followRun(_id: string, onEvent: (s: RunSummary) => void): Promise<RunSummary> {
    if (!this.runEnd) throw new Error('no run expected');
    onEvent(this.runEnd);
    return this.runEnd;
  }
}

describe('followSubmission (submit / submit-image / watch)', () => {
  it('follows a submission from validating to its rejection and shows the reason', async () => {
    const lines: string[] = [];
    const client = new ScriptedClient([
      { status: 'validating', rejectionReason: null, runs: [] },
      { status: 'validating', rejectionReason: null, runs: [] },
      { status: 'rejected', rejectionReason: "model: does not fit wdbc-malignancy: input 'input': last dimension 31, expected 30", runs: [] },
    ]);
    await expect(followSubmission(client, 's1', (l) => lines.push(l))).resolves.toBe('rejected');
    expect(lines).toEqual(['validating: the worker checks the model before any run', "rejected: model: does not fit wdbc-malignancy: input 'input': last dimension 31, expected 30"]);
  });

  it('follows an accepted submission to the end of its run', async () => {
    const lines: string[] = [];
    const end: RunSummary = { id: 'r1', phase: 'sample', status: 'failed', failureReason: 'invalid_output', failureDetail: 'line 1', casesTotal: 20, casesDone: 20, progress: 1, durationMs: 5 };
    const client = new ScriptedClient(
      [
        { status: 'validating', rejectionReason: null, runs: [] },
        { status: 'accepted', rejectionReason: null, runs: [{ id: 'r1', phase: 'sample', status: 'running' }] },
      ],
      end,
    );
    await expect(followSubmission(client, 's1', (l) => lines.push(l))).resolves.toBe('accepted');
    expect(lines).toEqual(['validating: the worker checks the model before any run', 'accepted', '  sample: failed (invalid_output: line 1) in 5 ms']);
  });
});
