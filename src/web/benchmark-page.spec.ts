import { CsrfService } from '../auth/web-session';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import type { AppConfig } from '../config/config.schema';
import type { LeaderboardResponse } from '../leaderboards/leaderboards.dto';
import type { ApiHandlers } from './api-handlers';
import { BenchmarkPagesController } from './benchmark-pages.controller';
import { WebViews } from './web-views';

// The benchmark page keeps each phase's rendered leaderboard section with the served board page (one frozen object
// per page until the board is rebuilt). These checks hold the cache to what the page would render afresh.

const board = (auroc: number, extra: Partial<LeaderboardResponse> = {}): LeaderboardResponse =>
  Object.freeze({
    benchmark: 'b', benchmarkVersion: 1, benchmarkContentHash: 'h', phase: 'test', split: 'test', primaryMetric: 'auroc', direction: 'higher', ranking: 'rank-then-aggregate',
    precision: 2, fullPrecision: false, feedback: { mechanism: 'round', step: null }, robustness: null, methods: {}, total: 1, offset: 0, limit: 100,
    rows: [{ rank: 1, medianRank: 1, rankInterval: [1, 1], rankShare: [1], rankShareFrom: 1, organisation: 'Org A', submission: 'model-a', metrics: { auroc: { value: auroc, ci: [auroc - 0.05, auroc + 0.01] } } }],
    ...extra,
  }) as unknown as LeaderboardResponse;

function setUp() {
  const state = { status: 'open', leaderboard: 'public', board: board(0.91), granted: false };
  const views = new WebViews(new CsrfService({ redis: { queuePrefix: 't' } } as AppConfig));
  const fragments = jest.spyOn(views, 'renderFragment');
  const definition = { task: 'binary-classification', description: 'd', cohort: { slug: 'c' }, ranking: { method: 'm', ties: 'min', perVendor: 'best' }, interface: { inputs: [], outputs: [] }, metrics: { primary: 'auroc' }, limits: { resources: {} } };
  const resolves: string[] = [];
  const benchmarks = {
    resolveCurrent: async (slug: string) => (
      resolves.push(slug),
      {
        benchmark: { slug: 'b', title: 'B' },
        version: { version: 1, contentHash: 'h', definition },
        phases: [{ name: 'test', split: 'test', status: state.status, leaderboardVisibility: state.leaderboard }],
      }
    ),
  };
  // What the page hands the leaderboard handler besides the caller: the benchmark it resolved, and the grant.
  const reads: unknown[] = [];
  const api = {
    cohorts: { list: async () => [] },
    leaderboards: { page: async (_p: unknown, _slug: string, _phase: string, _page: unknown, read: unknown) => (reads.push(read), { response: state.board }) },
  } as unknown as ApiHandlers;
  const grants = { mayReadBenchmark: async () => state.granted };
  const controller = new BenchmarkPagesController(views, api, grants as never, benchmarks as never);
  const principal = { role: Role.Vendor, email: 'v@x' } as Principal;
  const page = async () => (await controller.benchmark({ principal, path: '/benchmarks/b' } as never, principal, 'b')).toString();
  const sections = () => fragments.mock.calls.filter(([view]) => view === 'leaderboard-section').length;
  return { state, page, sections, resolves, reads };
}

describe('benchmark page: leaderboard sections kept with the served board page', () => {
  it('renders a board page once, and serves the same HTML to the next readers', async () => {
    const { page, sections, resolves, reads } = setUp();
    const first = await page();
    expect(first).toContain('Org A');
    expect(first).toContain('0.91');
    expect(sections()).toBe(1);
    // The benchmark is resolved once for the page, and its boards are read with it and the caller's grant.
    expect(resolves).toEqual(['b']);
    expect(reads).toEqual([{ resolved: expect.objectContaining({ benchmark: { slug: 'b', title: 'B' } }), granted: false }]);
    expect(await page()).toBe(first);
    expect(sections()).toBe(1);
  });

  it('renders afresh when the board is rebuilt (a new page object)', async () => {
    const { state, page, sections } = setUp();
    await page();
    state.board = board(0.77);
    const html = await page();
    expect(sections()).toBe(2);
    expect(html).toContain('0.77');
    expect(html).not.toContain('0.91');
  });

  it('renders afresh when the phase is closed or its board hidden without a rebuild', async () => {
    const { state, page, sections } = setUp();
    await page();
    state.status = 'closed';
    expect(await page()).toMatch(/<span class="tag">closed<\/span>/);
    expect(sections()).toBe(2);
    // Hidden, and this vendor holds no grant: the kept section of the shown board must not be served.
    state.leaderboard = 'hidden';
    const hidden = await page();
    expect(hidden).toContain('has not been released');
    expect(hidden).not.toContain('Org A');
    // Hidden but readable (a grant): the board again, labelled hidden.
    state.granted = true;
    const granted = await page();
    expect(granted).toContain('Org A');
    expect(granted).toContain('leaderboard hidden');
  });
});
