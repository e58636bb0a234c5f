import type { SandboxResult } from '../sandbox/sandbox.types';
import type { BatchExecutor, BatchOutcome, BatchRequest, CheckRequest, CheckVerdict } from './batch-executor';
import type { VendorFault } from './sandbox-faults';

/** What the fake algorithm does with one batch: the predictions.jsonl text it writes (null: none), files, or a fault. */
export type FakeBehaviour = (request: BatchRequest) => { output: string | null; files?: Record<string, Buffer>; fault?: VendorFault; exitCode?: number | null };

/** A BatchExecutor for unit tests: no sandbox; records what it was asked. */
export class FakeExecutor implements BatchExecutor {
  readonly prepared: string[] = [];
  readonly requests: BatchRequest[] = [];
  readonly checks: CheckRequest[] = [];

  constructor(
    private readonly behaviour: FakeBehaviour,
    private readonly verdict: CheckVerdict = { ok: true, reason: null, report: {} },
  ) {}

  async check(request: CheckRequest): Promise<CheckVerdict> {
    this.checks.push(request);
    return this.verdict;
  }

  async prepare(workDir: string): Promise<void> {
    this.prepared.push(workDir);
  }

  async runBatch(request: BatchRequest): Promise<BatchOutcome> {
    this.requests.push(request);
    const b = this.behaviour(request);
    const logBytes = Buffer.from(`batch ${request.batchNumber}\n`);
    const result: SandboxResult = {
      exitCode: b.exitCode === undefined ? 0 : b.exitCode,
      timedOut: false,
      oomKilled: false,
      outputExceeded: false,
      logBytes,
      logs: logBytes.toString('utf8'),
      logsTruncated: false,
      outputRefused: null,
      timings: { createMs: 1, startMs: 2, waitMs: 3, removeMs: 4, totalMs: 10 },
      runtime: 'fake',
    };
    const files = b.files ?? {};
    return { result, output: b.output, readOutput: async (p) => files[p] ?? null, imageId: 'sha256:fake', runtime: 'fake', fault: b.fault ?? null };
  }
}
