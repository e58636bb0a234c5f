import { gunzipSync } from 'node:zlib';
import type { LeaderboardResponse } from './leaderboards.dto';
import { LeaderboardViewCache } from './leaderboard-views';

const response = (label: string): LeaderboardResponse => ({ benchmark: label, rows: [{ rank: 1, metrics: { auroc: { value: 0.9, ci: null, method: label } } }] }) as unknown as LeaderboardResponse;
const key = { benchmarkVersionId: 'v1', phase: 'test', view: 'public' as const };

describe('LeaderboardViewCache', () => {
  it('builds once per stamp, and again when the stamp changes', async () => {
    const cache = new LeaderboardViewCache();
    let builds = 0;
    const build = (stamp: string) => async () => ({ stamp, response: response(`build ${++builds}`) });
    const a = await cache.get(key, 's1', build('s1'));
    const b = await cache.get(key, 's1', build('s1'));
    expect(builds).toBe(1);
    expect(b).toBe(a);
    expect(JSON.parse(a.json.toString())).toEqual(response('build 1'));
    expect(gunzipSync(a.gzip).equals(a.json)).toBe(true);
    const c = await cache.get(key, 's2', build('s2'));
    expect(builds).toBe(2);
    expect(c.response.benchmark).toBe('build 2');
    expect(c.etag).not.toBe(a.etag);
    // The other view of the same board is its own entry.
    await cache.get({ ...key, view: 'full' }, 's2', build('s2'));
    expect(builds).toBe(3);
  });

  it('keeps a view under the stamp it was read with, so a rebuild between the check and the read is seen next time', async () => {
    const cache = new LeaderboardViewCache();
    let builds = 0;
    // Checked s1, but the board had moved on to s2 by the time it was read.
    await cache.get(key, 's1', async () => ({ stamp: 's2', response: response(`build ${++builds}`) }));
    await cache.get(key, 's1', async () => ({ stamp: 's2', response: response(`build ${++builds}`) }));
    expect(builds).toBe(2);
    await cache.get(key, 's2', async () => ({ stamp: 's2', response: response(`build ${++builds}`) }));
    expect(builds).toBe(2);
  });

  it('lets concurrent readers of a stale view wait for one build', async () => {
    const cache = new LeaderboardViewCache();
    let builds = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const build = async () => {
      builds++;
      await gate;
      return { stamp: 's1', response: response('slow') };
    };
    const readers = Array.from({ length: 20 }, () => cache.get(key, 's1', build));
    release();
    const boards = await Promise.all(readers);
    expect(builds).toBe(1);
    expect(new Set(boards).size).toBe(1);
  });

  it('does not keep a board that was never built (null stamp), and a failed build is not kept either', async () => {
    const cache = new LeaderboardViewCache();
    let builds = 0;
    await cache.get(key, null, async () => ({ stamp: null, response: response(`build ${++builds}`) }));
    await cache.get(key, null, async () => ({ stamp: null, response: response(`build ${++builds}`) }));
    expect(builds).toBe(2);
    await expect(cache.get(key, 's1', async () => Promise.reject(new Error('database gone')))).rejects.toThrow('database gone');
    await cache.get(key, 's1', async () => ({ stamp: 's1', response: response(`build ${++builds}`) }));
    expect(builds).toBe(3);
  });

  it('freezes the shared response, and evicts the least recently used view beyond its capacity', async () => {
    const cache = new LeaderboardViewCache(2);
    let builds = 0;
    const build = async () => ({ stamp: 's', response: response(`build ${++builds}`) });
    const a = await cache.get({ ...key, benchmarkVersionId: 'a' }, 's', build);
    expect(() => {
      (a.response.rows[0] as { rank: number }).rank = 2;
    }).toThrow(TypeError);
    await cache.get({ ...key, benchmarkVersionId: 'b' }, 's', build);
    await cache.get({ ...key, benchmarkVersionId: 'a' }, 's', build); // a is now the most recent
    await cache.get({ ...key, benchmarkVersionId: 'c' }, 's', build); // evicts b
    expect(builds).toBe(3);
    await cache.get({ ...key, benchmarkVersionId: 'a' }, 's', build);
    expect(builds).toBe(3);
    await cache.get({ ...key, benchmarkVersionId: 'b' }, 's', build);
    expect(builds).toBe(4);
  });
});
