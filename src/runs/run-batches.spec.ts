import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { taskDefinition } from '../tasks/registry';
import { FakeExecutor } from './batch-executor.fake';
import { FailureReason } from './evaluation.entity';
import { runBatches, type RunCase } from './run-batches';
import { VendorFault } from './sandbox-faults';

const definition = {
  slug: 'wdbc-malignancy',
  task: 'binary-classification',
  interface: { inputs: [], outputs: [] },
  limits: { resources: { batchSize: 2 } },
} as unknown as BenchmarkDefinition;
const limits = { cpus: 1, memoryBytes: 1, pids: 1, timeoutMs: 1, outputBytes: 1, logBytes: 1 } as never;
const cases: RunCase[] = ['A', 'B', 'C'].map((caseId) => ({ caseId, inputs: { features: [1] } }));
const jsonl = (ids: readonly string[], p = 0.5): string => ids.map((caseId) => JSON.stringify({ caseId, probability: p })).join('\n') + '\n';
const run = (executor: FakeExecutor, progress: number[] = []) =>
  runBatches({ executor, task: taskDefinition('binary-classification'), definition, runId: 'run-1', workDir: '/work/run-1', cases, limits, onProgress: async (n) => void progress.push(n) });

describe('runBatches (with the FakeExecutor)', () => {
  it('runs the cases in batches of the benchmark size and stores what the task parsed', async () => {
    const executor = new FakeExecutor((r) => ({ output: jsonl(r.batch.cases.map((c) => c.caseId), 0.25) }));
    const progress: number[] = [];
    const out = await run(executor, progress);
    expect(out.fault).toBeNull();
    expect(executor.requests.map((r) => r.batch.cases.map((c) => c.caseId))).toEqual([['A', 'B'], ['C']]);
    expect(executor.requests.map((r) => r.workDir)).toEqual(['/work/run-1/batch-1', '/work/run-1/batch-2']);
    expect(out.predictions).toEqual(['A', 'B', 'C'].map((caseId) => ({ runId: 'run-1', caseId, prediction: { probability: 0.25 } })));
    expect(progress).toEqual([2, 3]);
    expect(out.timings.sandboxTotalMs).toBe(20);
    expect(out.logs).toHaveLength(2);
  });

  it('returns invalid_output naming the batch and line when the task cannot parse a batch', async () => {
    const out = await run(new FakeExecutor(() => ({ output: '{"caseId": "A", "probability": 2}\n' })));
    expect(out.fault?.reason).toBe(FailureReason.InvalidOutput);
    expect(out.fault?.detail).toMatch(/^batch 1, line 1: /);
  });

  it('returns invalid_output for a prediction of a case outside the batch', async () => {
    const out = await run(new FakeExecutor(() => ({ output: jsonl(['C']) })));
    expect(out.fault?.detail).toMatch(/batch 1: 1 prediction\(s\) for cases not in this batch \(first: 'C'\)/);
  });

  it('returns missing_predictions when a case has no prediction, never dropping it', async () => {
    const out = await run(new FakeExecutor((r) => ({ output: jsonl(r.batch.cases.slice(0, 1).map((c) => c.caseId)) })));
    expect(out.fault?.reason).toBe(FailureReason.MissingPredictions);
    expect(out.fault?.detail).toMatch(/^1 of 3 case\(s\) have no prediction \(first: 'B'\)/);
  });

  it("keeps the logs up to an executor's vendor fault and stops there", async () => {
    const executor = new FakeExecutor((r) => (r.batchNumber === 2 ? { output: null, fault: new VendorFault(FailureReason.Timeout, 'too slow') } : { output: jsonl(r.batch.cases.map((c) => c.caseId)) }));
    const out = await run(executor);
    expect(out.fault?.reason).toBe(FailureReason.Timeout);
    expect(out.logs.map((b) => b.toString())).toEqual(['batch 1\n', 'batch 2\n']);
  });

  it("throws Assay's own faults (no exit code) for the caller to hand the run back", async () => {
    await expect(run(new FakeExecutor(() => ({ output: null, exitCode: null })))).rejects.toThrow(/no exit code/);
  });

  describe('case files (image tasks)', () => {
    const events: string[] = [];
    const fetchCaseFiles = async (batchCases: readonly RunCase[], dir: string): Promise<Record<string, Record<string, string>>> => {
      events.push(`fetch ${batchCases.map((c) => c.caseId).join('')} start`);
      await new Promise((r) => setTimeout(r, 5));
      events.push(`fetch ${batchCases.map((c) => c.caseId).join('')} done`);
      return Object.fromEntries(batchCases.map((c) => [c.caseId, { 'ct.nii.gz': `${dir}/${c.caseId}/ct.nii.gz` }]));
    };
    const runWithFiles = (executor: FakeExecutor) =>
      runBatches({ executor, task: taskDefinition('binary-classification'), definition, runId: 'run-1', workDir: '/work/run-1', cases, limits, fetchCaseFiles });
    beforeEach(() => void events.splice(0));

    it("downloads the next batch's files while a batch runs, and hands each batch its own", async () => {
      const executor = new FakeExecutor((r) => (events.push(`run ${r.batchNumber}`), { output: jsonl(r.batch.cases.map((c) => c.caseId)) }));
      const out = await runWithFiles(executor);
      expect(out.fault).toBeNull();
      expect(events).toEqual(['fetch AB start', 'fetch AB done', 'fetch C start', 'run 1', 'fetch C done', 'run 2']);
      expect(executor.requests.map((r) => r.caseFiles)).toEqual([
        { A: { 'ct.nii.gz': '/work/run-1/batch-1/fetched/A/ct.nii.gz' }, B: { 'ct.nii.gz': '/work/run-1/batch-1/fetched/B/ct.nii.gz' } },
        { C: { 'ct.nii.gz': '/work/run-1/batch-2/fetched/C/ct.nii.gz' } },
      ]);
    });

    it('settles a pending download before returning when a batch ends the run', async () => {
      const executor = new FakeExecutor(() => ({ output: null, fault: new VendorFault(FailureReason.Timeout, 'too slow') }));
      const out = await runWithFiles(executor);
      expect(out.fault?.reason).toBe(FailureReason.Timeout);
      expect(events[events.length - 1]).toBe('fetch C done');
    });
  });
});
