import type { Clock } from '../common/clock';
import type { StorageService } from '../storage/storage.service';
import { RunEntity, RunPredictionEntity, RunStatus } from './evaluation.entity';
import type { EvaluationRepository } from './evaluation.repository';
import { attemptSegment, parseAttemptSegment, referencedKeys, removableArtifacts, RunArtifactsGc, startedBefore } from './run-artifacts';

const RUN = '11111111-2222-3333-4444-555555555555';
const OTHER = '99999999-2222-3333-4444-555555555555';
const key = (segment: string, caseId: string) => `runs/${RUN}/${segment}/${caseId}/mask.nii.gz`;
const withFiles = (caseId: string, k: string) => ({ runId: RUN, caseId, prediction: { label: 1, files: { 'mask.nii.gz': { key: k, sha256: 'x', bytes: 3 } } } });

describe('attempt segments', () => {
  it('name every start once, in the order the starts happened', () => {
    // The run row's counters through starts and hand-backs, as RunExecutor and the recovery sweep change them.
    let row = { attempts: 0, infraFaults: 0, drains: 0 };
    const starts: { attempts: number; infraFaults: number; drains: number }[] = [];
    for (const handBack of ['transient', 'drained', 'transient', 'internal', 'lost', 'drained', 'transient', 'internal'] as const) {
      row = { ...row, attempts: row.attempts + 1 };
      starts.push(row);
      if (handBack === 'transient') row = { ...row, attempts: row.attempts - 1, infraFaults: row.infraFaults + 1 };
      if (handBack === 'drained') row = { ...row, attempts: row.attempts - 1, drains: row.drains + 1 };
    }
    const segments = starts.map(attemptSegment);
    expect(new Set(segments).size).toBe(starts.length);
    expect(segments.slice(0, 3)).toEqual(['a1', 'a1i1', 'a1i1d1']);
    for (let i = 0; i < starts.length; i++) {
      expect(parseAttemptSegment(segments[i] as string)).toEqual(starts[i]);
      for (let j = 0; j < starts.length; j++) expect(startedBefore(starts[i]!, starts[j]!)).toBe(i < j);
    }
    expect(parseAttemptSegment('reports')).toBeNull();
    expect(parseAttemptSegment('a1x')).toBeNull();
  });
});

describe('removableArtifacts', () => {
  const objects = [key('a1', 'c1'), key('a1', 'c2'), key('a2', 'c1'), key('a2', 'c2'), key('a1i1', 'c1'), `runs/${RUN}/stray`, `runs/${OTHER}/a1/c1/mask.nii.gz`, 'reports/r1/report.pdf'].map((k) => ({ key: k }));

  it('keeps only what the predictions reference once the run is finished', () => {
    const referenced = new Set([key('a2', 'c1'), key('a2', 'c2')]);
    for (const status of [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled]) {
      const gone = removableArtifacts({ id: RUN, status, attempts: 2, infraFaults: 0, drains: 0 }, objects, referenced).map((o) => o.key);
      expect(gone.sort()).toEqual([key('a1', 'c1'), key('a1', 'c2'), key('a1i1', 'c1'), `runs/${RUN}/stray`].sort());
    }
  });

  it('takes only attempts that started before the current one from a run not finished', () => {
    for (const status of [RunStatus.Queued, RunStatus.Preparing, RunStatus.Running, RunStatus.Scoring]) {
      // Row at (2, 1): a1 (started at (1, 0)) is older, a1i1 is older, a2 (2, 0) is older; nothing else is placed.
      const gone = removableArtifacts({ id: RUN, status, attempts: 2, infraFaults: 1, drains: 0 }, objects, new Set()).map((o) => o.key);
      expect(gone.sort()).toEqual([key('a1', 'c1'), key('a1', 'c2'), key('a2', 'c1'), key('a2', 'c2'), key('a1i1', 'c1')].sort());
      // Row at (1, 1), after (2, 0) was handed back for a transient fault: a2 is older, the current a1i1 stays, and
      // so does a referenced key whatever its attempt.
      const fewer = removableArtifacts({ id: RUN, status, attempts: 1, infraFaults: 1, drains: 0 }, objects, new Set([key('a1', 'c2')])).map((o) => o.key);
      expect(fewer).toEqual([key('a1', 'c1'), key('a2', 'c1'), key('a2', 'c2')]);
      // At (1, 0, 1), after (1, 0, 0) was drained (its worker shut down): a1 is older, the current a1d1 stays.
      expect(removableArtifacts({ id: RUN, status, attempts: 1, infraFaults: 0, drains: 1 }, [{ key: key('a1', 'c1') }, { key: key('a1d1', 'c1') }], new Set()).map((o) => o.key)).toEqual([key('a1', 'c1')]);
      // At (1, 0) nothing started before.
      expect(removableArtifacts({ id: RUN, status, attempts: 1, infraFaults: 0, drains: 0 }, objects, new Set())).toEqual([]);
    }
  });
});

describe('referencedKeys', () => {
  it('collects prediction.files keys and refuses a files entry it cannot read', () => {
    expect([...referencedKeys([withFiles('c1', 'k1'), { caseId: 'c2', prediction: { label: 0 } }])]).toEqual(['k1']);
    expect(() => referencedKeys([{ caseId: 'c1', prediction: { files: 'k' } }])).toThrow(/not a record/);
    expect(() => referencedKeys([{ caseId: 'c1', prediction: { files: { m: { sha256: 'x' } } } }])).toThrow(/names no key/);
  });
});

/** The object store faked at StorageService: a map of key → size, prefix listing and multi-object delete. */
function fakes(run: Partial<RunEntity>, predictions: RunPredictionEntity[], keys: string[]) {
  const store = new Map(keys.map((k) => [k, 7]));
  const removeCalls: string[][] = [];
  let removeFails = false;
  const marked: string[] = [];
  const storage = {
    list: async (_bucket: string, prefix: string) => [...store].filter(([k]) => k.startsWith(prefix)).map(([k, size]) => ({ key: k, size, lastModified: new Date(0) })),
    removeMany: async (_bucket: string, ks: readonly string[]) => {
      if (removeFails) throw new Error('store away');
      removeCalls.push([...ks]);
      for (const k of ks) store.delete(k);
    },
  } as unknown as StorageService;
  const repository = {
    findRun: async () => ({ id: RUN, attempts: 2, infraFaults: 0, drains: 0, ...run }) as RunEntity,
    findPredictions: async () => predictions,
    markArtifactsCollected: async (id: string) => void marked.push(id),
  } as unknown as EvaluationRepository;
  const gc = new RunArtifactsGc(repository, storage, { now: () => new Date() } as Clock);
  return { gc, store, removeCalls, marked, failRemoval: () => (removeFails = true) };
}

describe('RunArtifactsGc.collect', () => {
  const all = [key('a1', 'c1'), key('a1', 'c2'), key('a2', 'c1'), key('a2', 'c2'), 'reports/r1/report.pdf'];

  it('removes a finished run’s unreferenced objects in one batch, marks it, and finds nothing the second time', async () => {
    const f = fakes({ status: RunStatus.Succeeded }, [withFiles('c1', key('a2', 'c1')), withFiles('c2', key('a2', 'c2'))], all);
    expect(await f.gc.collect(RUN)).toEqual({ removed: 2, bytes: 14 });
    expect(f.removeCalls).toEqual([[key('a1', 'c1'), key('a1', 'c2')]]);
    expect([...f.store.keys()].sort()).toEqual(['reports/r1/report.pdf', key('a2', 'c1'), key('a2', 'c2')]);
    expect(f.marked).toEqual([RUN]);
    expect(await f.gc.collect(RUN)).toEqual({ removed: 0, bytes: 0 });
    expect([...f.store.keys()]).toHaveLength(3);
  });

  it('does not mark a run whose removal failed, and never marks a run not finished', async () => {
    const failing = fakes({ status: RunStatus.Failed }, [], all);
    failing.failRemoval();
    await expect(failing.gc.collect(RUN)).rejects.toThrow(/store away/);
    expect(failing.marked).toEqual([]);
    const running = fakes({ status: RunStatus.Running, attempts: 2 }, [], all);
    expect(await running.gc.collect(RUN)).toEqual({ removed: 2, bytes: 14 });
    expect([...running.store.keys()].sort()).toEqual(['reports/r1/report.pdf', key('a2', 'c1'), key('a2', 'c2')]);
    expect(running.marked).toEqual([]);
  });

  it('keeps everything of a run whose references cannot be read (marking a finished one so it is not asked again)', async () => {
    const bad = [{ runId: RUN, caseId: 'c1', prediction: { files: { 'mask.nii.gz': { sha256: 'x' } } } }];
    const finished = fakes({ status: RunStatus.Failed }, bad, all);
    expect(await finished.gc.collect(RUN)).toEqual({ removed: 0, bytes: 0 });
    expect(finished.store.size).toBe(all.length);
    expect(finished.marked).toEqual([RUN]);
    const inFlight = fakes({ status: RunStatus.Running }, bad, all);
    await expect(inFlight.gc.collect(RUN)).rejects.toThrow(/names no key/);
    expect(inFlight.store.size).toBe(all.length);
  });
});
