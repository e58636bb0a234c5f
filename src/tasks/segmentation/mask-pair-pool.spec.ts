import { join } from 'node:path';
import { encodeNifti1Gz } from '../../volumes/nifti-write';
import { IDENTITY_DIRECTION, type Volume } from '../../volumes/volume';
import { type MaskPairJob, scoreMaskPair } from './mask-pair';
import { scoreMaskPairs } from './mask-pair-pool';

// The threads run the TypeScript worker through the same require hook the chaos suite's worker process uses.
const THREADS = { script: join(__dirname, 'mask-pair-worker.ts'), execArgv: ['-r', join(__dirname, '../../../test/support/swc-register.js')] };

const dims: [number, number, number] = [24, 20, 10];
function blob(seed: number, over: Partial<Volume> = {}): Volume {
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  // two boxes of seeded size and place: a few surface shapes and some lesion-wise components
  for (let b = 0; b < 2; b++) {
    const lo = [Math.floor(rnd() * 10), Math.floor(rnd() * 8), Math.floor(rnd() * 4)];
    const hi = [lo[0]! + 3 + Math.floor(rnd() * 8), lo[1]! + 3 + Math.floor(rnd() * 8), lo[2]! + 2 + Math.floor(rnd() * 4)];
    for (let k = lo[2]!; k < Math.min(hi[2]!, dims[2]); k++) for (let j = lo[1]!; j < Math.min(hi[1]!, dims[1]); j++) for (let i = lo[0]!; i < Math.min(hi[0]!, dims[0]); i++) data[i + dims[0] * (j + dims[1] * k)] = 1;
  }
  return { dims, spacing: [0.8, 0.8, 2.5], origin: [-10, 4, 0], direction: IDENTITY_DIRECTION, data, ...over };
}

const ids = ['c01', 'c02', 'c03', 'c04', 'c05', 'c06', 'c07'];
const file = (name: string, v: Volume): { name: string; bytes: Buffer } => ({ name, bytes: encodeNifti1Gz(v) });
const jobOf = (caseId: string, i: number): MaskPairJob => ({
  caseId,
  reference: file(`truth/masks/${caseId}.nii.gz`, blob(100 + i)),
  // one case on another grid: the threads resample it as the calling thread would
  predicted: file(`prediction/masks/${caseId}.nii.gz`, i === 3 ? blob(200 + i, { spacing: [1.6, 1.6, 2.5], dims: [12, 10, 10], data: blob(200 + i).data.slice(0, 1200) }) : blob(200 + i)),
  toleranceMm: 2,
});

describe('scoreMaskPairs (segmentation scoring on worker threads)', () => {
  it('gives the rows of the calling-thread path, in case order, whichever thread finishes first', async () => {
    const inThread = [];
    for (const [i, id] of ids.entries()) inThread.push(await scoreMaskPair(jobOf(id, i)));
    // Loads finish out of order (later cases sooner), so threads complete out of order too.
    const loads: string[] = [];
    const threaded = await scoreMaskPairs(
      ids,
      async (id) => {
        loads.push(id);
        await new Promise((r) => setTimeout(r, (ids.length - ids.indexOf(id)) * 5));
        return jobOf(id, ids.indexOf(id));
      },
      { threads: 3, ...THREADS },
    );
    expect(threaded).toEqual(inThread);
    expect(threaded.map((o) => o.row.caseId)).toEqual(ids);
    expect(threaded[3]?.resampled).toBe(true);
    expect(new Set(loads)).toEqual(new Set(ids));
    expect(loads).toHaveLength(ids.length); // each case fetched once
  }, 60_000);

  it('fails naming the case when a stored mask does not decode', async () => {
    const bad = (id: string, i: number): MaskPairJob => (id === 'c05' ? { ...jobOf(id, i), predicted: { name: "prediction/masks/c05.nii.gz", bytes: Buffer.from('not a nifti') } } : jobOf(id, i));
    await expect(scoreMaskPairs(ids, async (id) => bad(id, ids.indexOf(id)), { threads: 2, ...THREADS })).rejects.toThrow(/scoring case c05: /);
  }, 60_000);

  it('fails when fetching a case fails, without an unhandled rejection from the cases loaded ahead', async () => {
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      await expect(
        scoreMaskPairs(
          ids,
          async (id) => {
            if (id === 'c02' || id === 'c06') throw new Error(`object store lost ${id}`);
            return jobOf(id, ids.indexOf(id));
          },
          { threads: 2, ...THREADS },
        ),
      ).rejects.toThrow(/object store lost c02/);
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  }, 60_000);

  it('fails, and does not hang or throw past the caller, when a thread dies before it is sent a case', async () => {
    const uncaught = jest.fn();
    process.on('uncaughtException', uncaught);
    try {
      const dead = { script: join(__dirname, 'no-such-worker.ts'), execArgv: THREADS.execArgv };
      await expect(scoreMaskPairs(ids, async (id) => jobOf(id, ids.indexOf(id)), { threads: 2, ...dead })).rejects.toThrow(/^scoring case c0\d: .*(Cannot find module|no-such-worker)/s);
      expect(uncaught).not.toHaveBeenCalled();
    } finally {
      process.off('uncaughtException', uncaught);
    }
  }, 60_000);

  it('scores on the calling thread with one thread, or where no compiled worker script exists', async () => {
    const load = async (id: string): Promise<MaskPairJob> => jobOf(id, ids.indexOf(id));
    const one = await scoreMaskPairs(ids, load, { threads: 1, ...THREADS });
    const noScript = await scoreMaskPairs(ids, load, { threads: 4, script: null });
    expect(noScript).toEqual(one);
    expect(one.map((o) => o.row.caseId)).toEqual(ids);
  });
});
