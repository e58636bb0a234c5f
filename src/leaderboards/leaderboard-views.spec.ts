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
    const pa = await a.page(0, 100);
    expect(JSON.parse(pa.json.toString())).toEqual({ ...response('build 1'), total: 1, offset: 0, limit: 100 });
    expect(gunzipSync(pa.gzip).equals(pa.json)).toBe(true);
    const c = await cache.get(key, 's2', build('s2'));
    expect(builds).toBe(2);
    expect(c.response.benchmark).toBe('build 2');
    expect((await c.page(0, 100)).etag).not.toBe(pa.etag);
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

  it('serves pages as slices of the rows in rank order, each kept once with its own ETag, and gone with its stamp', async () => {
    const cache = new LeaderboardViewCache(64, 2);
    const rows = Array.from({ length: 7 }, (_, i) => ({ rank: i + 1, metrics: { auroc: { value: i / 10, ci: null } } }));
    const board = { benchmark: 'b', methods: { auroc: 'm' }, rows } as unknown as LeaderboardResponse;
    const view = await cache.get(key, 's1', async () => ({ stamp: 's1', response: board }));
    const pages = await Promise.all([view.page(0, 3), view.page(3, 3), view.page(6, 3), view.page(9, 3)]);
    expect(pages.map((p) => JSON.parse(p.json.toString()).rows.map((r: { rank: number }) => r.rank))).toEqual([[1, 2, 3], [4, 5, 6], [7], []]);
    for (const p of pages) {
      expect(JSON.parse(p.json.toString())).toEqual({ ...p.response, rows: p.response.rows });
      expect(JSON.parse(p.json.toString())).toMatchObject({ benchmark: 'b', methods: { auroc: 'm' }, total: 7 });
      expect(gunzipSync(p.gzip).equals(p.json)).toBe(true);
    }
    expect(new Set(pages.map((p) => p.etag)).size).toBe(4);
    // Kept: the same page object while the stamp holds (pagesPerView 2: the two most recent).
    expect(await view.page(9, 3)).toBe(pages[3]);
    expect(await view.page(0, 3)).not.toBe(pages[0]);
    expect((await view.page(0, 3)).etag).toBe(pages[0]?.etag);
    // A new stamp: a new view, new pages, new ETags.
    const next = await cache.get(key, 's2', async () => ({ stamp: 's2', response: board }));
    expect((await next.page(0, 3)).etag).not.toBe(pages[0]?.etag);
    expect(view.response.rows).toHaveLength(7);
    expect(view.response).toMatchObject({ total: 7, offset: 0, limit: 7 });
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
