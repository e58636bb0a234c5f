import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { taskDefinition } from '../tasks/registry';
import { sha256Hex } from '../common/hashing';
import { encodeNifti1Gz } from '../volumes/nifti-write';
import { IDENTITY_DIRECTION } from '../volumes/volume';
import { FakeExecutor } from './batch-executor.fake';
import { checkDeterminism, determinismForEvidence, determinismSample } from './determinism-check';
import { toDeterminismResponse } from './evaluation.dto';
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

  it("parses and stores a batch's output while the next batch's container runs, and settles it before returning", async () => {
    const events: string[] = [];
    const executor = new FakeExecutor((r) => (events.push(`run ${r.batchNumber}`), { output: jsonl(r.batch.cases.map((c) => c.caseId)) }));
    const out = await runBatches({
      executor,
      task: taskDefinition('binary-classification'),
      definition,
      runId: 'run-1',
      workDir: '/work/run-1',
      cases,
      limits,
      onProgress: async (n) => {
        events.push(`collect ${n} start`);
        await new Promise((r) => setTimeout(r, 20));
        events.push(`collect ${n} done`);
      },
    });
    expect(out.fault).toBeNull();
    // Batch 2's container ran before batch 1's collection ended; batch 2 is collected after batch 1, and before return.
    expect(events.indexOf('run 2')).toBeLessThan(events.indexOf('collect 2 done'));
    expect(events.filter((e) => e.startsWith('collect'))).toEqual(['collect 2 start', 'collect 2 done', 'collect 3 start', 'collect 3 done']);
    expect(out.predictions.map((p) => p.caseId)).toEqual(['A', 'B', 'C']);
  });

  it("reports the earlier batch's invalid output, not the later batch's fault met while the earlier one was parsed", async () => {
    const executor = new FakeExecutor((r) => (r.batchNumber === 1 ? { output: '{"caseId": "A", "probability": 2}\n' } : { output: null, fault: new VendorFault(FailureReason.Timeout, 'too slow') }));
    const out = await run(executor);
    expect(out.fault?.reason).toBe(FailureReason.InvalidOutput);
    expect(out.fault?.detail).toMatch(/^batch 1, line 1: /);
  });

  it("throws Assay's own faults (no exit code) for the caller to hand the run back", async () => {
    await expect(run(new FakeExecutor(() => ({ output: null, exitCode: null })))).rejects.toThrow(/no exit code/);
  });

  it('an abandoned run (its signal): no further batch starts, each batch is handed the signal, and it throws (no fault, nothing returned)', async () => {
    const controller = new AbortController();
    const executor = new FakeExecutor((r) => {
      expect(r.signal).toBe(controller.signal);
      controller.abort();
      return { output: jsonl(r.batch.cases.map((c) => c.caseId)) };
    });
    await expect(runBatches({ executor, task: taskDefinition('binary-classification'), definition, runId: 'run-1', workDir: '/work/run-1', cases, limits, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(executor.requests).toHaveLength(1);
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

describe('checkDeterminism (the re-run of a seeded sample, with the FakeExecutor)', () => {
  const many: RunCase[] = Array.from({ length: 12 }, (_, i) => ({ caseId: `case-${String(i).padStart(2, '0')}`, inputs: { features: [i] } }));
  const wide = { ...definition, limits: { resources: { batchSize: 1000 } } } as unknown as BenchmarkDefinition;
  /** A deterministic algorithm: the probability is a function of the case's input. */
  const stable = (r: Parameters<ConstructorParameters<typeof FakeExecutor>[0]>[0]) => ({
    output: r.batch.cases.map((c) => JSON.stringify({ caseId: c.caseId, probability: ((c.inputs['features'] as number[])[0] ?? 0) / 20 })).join('\n') + '\n',
  });
  /** The first run's predictions, as runBatches stored them. */
  const firstRun = async (executor: FakeExecutor, def = wide, runId = 'run-1') =>
    (await runBatches({ executor, task: taskDefinition('binary-classification'), definition: def, runId, workDir: `/work/${runId}`, cases: many, limits })).predictions;
  const check = (executor: FakeExecutor, first: Awaited<ReturnType<typeof firstRun>>, def = wide, runId = 'run-1') =>
    checkDeterminism({ executor, task: taskDefinition('binary-classification'), definition: def, runId, workDir: `/work/${runId}`, cases: many, first, limits });

  it('re-runs 5 cases in one extra batch of its own and finds identical outputs identical', async () => {
    const executor = new FakeExecutor(stable);
    const first = await firstRun(executor);
    const { determinism } = await check(executor, first);
    expect(determinism).toEqual({ checked: true, cases: 5, identical: 5, method: expect.stringContaining('(5 of 12 cases)'), mismatches: [], summary: 'all 5 re-run cases gave identical outputs', detail: 'all 5 re-run cases gave identical outputs' });
    expect(executor.requests).toHaveLength(2);
    const rerun = executor.requests[1];
    expect(rerun?.workDir).toBe('/work/run-1/determinism/batch-1');
    expect(rerun?.runId).toBe('run-1');
    expect(rerun?.batch.cases.map((c) => c.caseId)).toEqual(determinismSample('run-1', many, 5).map((c) => c.caseId));
  });

  it('records the cases of a nondeterministic algorithm as mismatches, and never throws', async () => {
    let call = 0;
    // The second run changes two of the sampled cases' outputs.
    const executor = new FakeExecutor((r) => {
      call++;
      const sampled = determinismSample('run-1', many, 5).map((c) => c.caseId);
      return {
        output: r.batch.cases.map((c) => JSON.stringify({ caseId: c.caseId, probability: call > 1 && sampled.slice(0, 2).includes(c.caseId) ? 0.999 : 0.5 })).join('\n') + '\n',
      };
    });
    const first = await firstRun(executor);
    const { determinism } = await check(executor, first);
    const sampled = determinismSample('run-1', many, 5).map((c) => c.caseId);
    expect(determinism).toMatchObject({ checked: true, cases: 5, identical: 3, mismatches: sampled.slice(0, 2) });
    expect(determinism.detail).toBe(`2 of 5 re-run case(s) gave different outputs; first: case ${sampled[0]} (prediction record)`);
    // The summary (a vendor's form of the report) names no case.
    expect(determinism.summary).toBe('2 of 5 re-run case(s) gave different outputs');
    expect(determinismForEvidence(determinism, { perCase: false })).toEqual({ checked: true, cases: 5, identical: 3, method: determinism.method, detail: determinism.summary });
    expect(determinismForEvidence(determinism, { perCase: true }).detail).toBe(determinism.detail);
    expect(determinismForEvidence(null, { perCase: true })).toMatchObject({ checked: false, cases: 0, identical: 0 });
  });

  it("records a re-run batch that fails (the vendor's timeout, or Assay's own fault) as not checked, with the reason", async () => {
    const first = await firstRun(new FakeExecutor(stable));
    const timeout = await check(new FakeExecutor(() => ({ output: null, fault: new VendorFault(FailureReason.Timeout, 'the algorithm ran past 300 s') })), first);
    expect(timeout.determinism).toEqual({ checked: false, cases: 5, identical: 0, method: expect.any(String), mismatches: [], summary: 'not checked: the re-run batch failed (timeout)', detail: 'the re-run batch failed: timeout: the algorithm ran past 300 s' });
    const crashed = await check(new FakeExecutor(() => ({ output: null, exitCode: null })), first);
    expect(crashed.determinism).toMatchObject({ checked: false, cases: 5, identical: 0, mismatches: [] });
    expect(crashed.determinism.detail).toMatch(/^not checked: Assay could not re-run the sample \(not the vendor's fault\): the sandbox container produced no exit code/);
    const missing = await check(new FakeExecutor((r) => ({ output: JSON.stringify({ caseId: r.batch.cases[0]?.caseId, probability: 0.5 }) + '\n' })), first);
    expect(missing.determinism).toMatchObject({ checked: false, detail: expect.stringMatching(/^the re-run batch failed: missing_predictions: /) });
  });

  it('an abandoned run is not a determinism verdict: the re-run throws, never "not checked"', async () => {
    const first = await firstRun(new FakeExecutor(stable));
    const controller = new AbortController();
    controller.abort();
    await expect(checkDeterminism({ executor: new FakeExecutor(stable), task: taskDefinition('binary-classification'), definition: wide, runId: 'run-1', workDir: '/work/run-1', cases: many, first, limits, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('picks the same sample for the same run (an attempt after a crash), whatever the case order, and another for another run', async () => {
    const a = determinismSample('run-1', many, 5).map((c) => c.caseId);
    expect(determinismSample('run-1', [...many].reverse(), 5).map((c) => c.caseId).sort()).toEqual([...a].sort());
    expect(a).toHaveLength(5);
    expect(new Set(a).size).toBe(5);
    // A fresh executor (a new worker life) asked to check the same run re-runs the same cases.
    const first = await firstRun(new FakeExecutor(stable));
    const lives = [new FakeExecutor(stable), new FakeExecutor(stable)];
    for (const life of lives) await check(life, first);
    expect(lives.map((l) => l.requests[0]?.batch.cases.map((c) => c.caseId))).toEqual([a, a]);
    const others = ['run-2', 'run-3', 'run-4'].map((id) => determinismSample(id, many, 5).map((c) => c.caseId).join());
    expect(others.some((o) => o !== a.join())).toBe(true);
  });

  it('re-runs min(limits.determinismCases, batch size, cases) cases, and nothing when the benchmark turns it off', async () => {
    const first = await firstRun(new FakeExecutor(stable));
    const withCases = (n: number, batchSize = 1000) => ({ ...definition, limits: { determinismCases: n, resources: { batchSize } } }) as unknown as BenchmarkDefinition;
    const three = new FakeExecutor(stable);
    expect((await check(three, first, withCases(3))).determinism).toMatchObject({ checked: true, cases: 3, identical: 3 });
    expect((await check(new FakeExecutor(stable), first, withCases(50))).determinism).toMatchObject({ checked: true, cases: 12, identical: 12 });
    const capped = new FakeExecutor(stable);
    expect((await check(capped, first, withCases(5, 2))).determinism).toMatchObject({ checked: true, cases: 2, identical: 2 });
    expect(capped.requests).toHaveLength(1);
    const off = new FakeExecutor(stable);
    expect((await check(off, first, withCases(0))).determinism).toEqual({ checked: false, cases: 0, identical: 0, method: expect.any(String), mismatches: [], summary: 'not checked: turned off by the benchmark (limits.determinismCases: 0)' });
    expect(off.requests).toEqual([]);
  });

  it('compares the sha256 of each output file (segmentation masks), not only the prediction record', async () => {
    const seg = { slug: 'lesion-segmentation', task: 'segmentation', interface: { inputs: [], outputs: [] }, limits: { resources: { batchSize: 13 } } } as unknown as BenchmarkDefinition;
    const dims: [number, number, number] = [4, 4, 2];
    // Two masks with the same number of lesion voxels in different places: the prediction records are equal.
    const mask = (at: number): Buffer => {
      const data = new Uint8Array(32);
      data[at] = 1;
      return encodeNifti1Gz({ dims, spacing: [1, 1, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data });
    };
    const sampleIds = determinismSample('run-seg', many, 5).map((c) => c.caseId);
    let call = 0;
    const executor = new FakeExecutor((r) => {
      call++;
      const files = Object.fromEntries(r.batch.cases.map((c) => [`masks/${c.caseId}.nii.gz`, mask(call > 1 && c.caseId === sampleIds[1] ? 7 : 3)]));
      return { output: '', files };
    });
    const stored: string[] = [];
    const task = taskDefinition('segmentation');
    const first = (
      await runBatches({
        executor, task, definition: seg, runId: 'run-seg', workDir: '/work/run-seg', cases: many, limits,
        storeFile: async (caseId, name, bytes) => (stored.push(caseId), { key: `runs/run-seg/a1/${caseId}/${name}`, sha256: sha256Hex(bytes), bytes: bytes.length }),
      })
    ).predictions;
    expect(first.every((p) => (p.prediction['files'] as Record<string, { sha256: string }>)['mask.nii.gz']?.sha256 === sha256Hex(mask(3)))).toBe(true);
    const { determinism } = await checkDeterminism({ executor, task, definition: seg, runId: 'run-seg', workDir: '/work/run-seg', cases: many, first, limits });
    expect(determinism).toMatchObject({ checked: true, cases: 5, identical: 4, mismatches: [sampleIds[1]] });
    expect(determinism.detail).toMatch(/\(file mask\.nii\.gz\)$/);
    // The re-run's masks are hashed, never stored.
    expect(stored).toHaveLength(12);
  });

  it('shows a vendor of a held-out run the counts only, and staff the case ids and particulars', () => {
    const d = { checked: true, cases: 5, identical: 4, method: 'm', mismatches: ['case-03'], summary: '1 of 5 re-run case(s) gave different outputs', detail: '1 of 5 …; first: case case-03 (prediction record)' };
    expect(toDeterminismResponse(d, { showDetail: false })).toEqual({ checked: true, cases: 5, identical: 4 });
    expect(toDeterminismResponse(d, { showDetail: true })).toEqual(d);
    expect(toDeterminismResponse(null, { showDetail: true })).toBeNull();
  });
});
