// BenchmarksService.resolveCurrent keeps benchmark versions (with their definitions) by id and row stamp, and reads
// the benchmark, the current version's stamp and the phases in one statement per call: what changes shows on the very
// next call, whoever wrote it (this process, another process, SQL by hand), and what is kept cannot be changed by a
// caller. On the real Postgres.
import { DataSource } from 'typeorm';
import { BenchmarksService } from '../../src/benchmarks/benchmarks.service';
import { createDataSource } from '../../src/database/data-source';
import { LeaderboardsRepository } from '../../src/leaderboards/leaderboards.repository';
import { LeaderboardsService } from '../../src/leaderboards/leaderboards.service';
import { startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(120_000);

const SLUG = 'wdbc-malignancy';

describe('resolveCurrent: one statement per call, versions kept by row stamp', () => {
  let stack: TestStack;
  let other: DataSource;
  let service: BenchmarksService;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    service = stack.api.get(BenchmarksService);
    // Another connection pool, as another API process or an operator's psql would be.
    other = createDataSource(stack.config.database.url);
    await other.initialize();
  });

  afterAll(async () => {
    await other?.destroy();
    await stack?.close();
  });

  it('serves phases fresh and in the definition order, whoever changed them', async () => {
    const first = await service.resolveCurrent(SLUG);
    expect(first.phases.map((p) => p.name)).toEqual(first.version.definition.phases.map((p) => p.name));
    expect(first.phases.map((p) => p.name)).toEqual(['sample', 'test']);
    expect(first.phases.every((p) => p.benchmarkVersionId === first.version.id)).toBe(true);

    // Written by another pool: the first phase's row is rewritten (its new tuple lies after the second's on disk).
    await other.query(`UPDATE benchmark_phases SET status = 'closed', leaderboard_visibility = 'hidden' WHERE benchmark_version_id = $1 AND name = 'sample'`, [first.version.id]);
    const after = await service.resolveCurrent(SLUG);
    expect(after.phases.map((p) => [p.name, p.status, p.leaderboardVisibility])).toEqual([
      ['sample', 'closed', 'hidden'],
      ['test', 'open', 'public'],
    ]);
    // The version is the one kept, not read again.
    expect(after.version).toBe(first.version);

    await other.query(`UPDATE benchmark_phases SET status = 'open', leaderboard_visibility = 'public' WHERE benchmark_version_id = $1 AND name = 'sample'`, [first.version.id]);
    expect((await service.resolveCurrent(SLUG)).phases.map((p) => p.status)).toEqual(['open', 'open']);
  });

  it('hands out a frozen version: a caller cannot change what later callers are served', async () => {
    const { version } = await service.resolveCurrent(SLUG);
    const title = version.definition.title;
    expect(() => {
      (version.definition as { title: string }).title = 'Changed by a caller';
    }).toThrow(TypeError);
    expect(() => {
      (version.definition.phases as unknown[]).push({ name: 'extra' });
    }).toThrow(TypeError);
    expect((await service.resolveCurrent(SLUG)).version.definition.title).toBe(title);
  });

  it('reads the version again when its row was written outside Assay (a new row stamp)', async () => {
    const { version } = await service.resolveCurrent(SLUG);
    const title = version.definition.title;
    await other.query(`UPDATE benchmark_versions SET definition = jsonb_set(definition, '{title}', to_jsonb($2::text)) WHERE id = $1`, [version.id, `${title} (edited in SQL)`]);
    try {
      const edited = await service.resolveCurrent(SLUG);
      expect(edited.version).not.toBe(version);
      expect(edited.version.id).toBe(version.id);
      expect(edited.version.definition.title).toBe(`${title} (edited in SQL)`);
    } finally {
      await other.query(`UPDATE benchmark_versions SET definition = jsonb_set(definition, '{title}', to_jsonb($2::text)) WHERE id = $1`, [version.id, title]);
    }
    expect((await service.resolveCurrent(SLUG)).version.definition.title).toBe(title);
  });

  it('follows the current version when another process makes a new one', async () => {
    const before = await service.resolveCurrent(SLUG);
    // A new version as another process would commit it: a copy of the current one, then the benchmark re-pointed.
    const [{ id: newId }] = (await other.query(
      `INSERT INTO benchmark_versions (benchmark_id, version, content_hash, definition, cohort_version_id, source)
       SELECT benchmark_id, version + 1, content_hash || '-next', jsonb_set(definition, '{phases,1,leaderboard}', '"hidden"'), cohort_version_id, source
         FROM benchmark_versions WHERE id = $1 RETURNING id`,
      [before.version.id],
    )) as [{ id: string }];
    await other.query(
      `INSERT INTO benchmark_phases (benchmark_version_id, name, split, status, leaderboard_visibility) VALUES ($1, 'test', 'test', 'open', 'hidden'), ($1, 'sample', 'sample', 'open', 'public')`,
      [newId],
    );
    await other.query(`UPDATE benchmarks SET current_version_id = $1 WHERE slug = $2`, [newId, SLUG]);
    try {
      const now = await service.resolveCurrent(SLUG);
      expect(now.benchmark.currentVersionId).toBe(newId);
      expect(now.version.id).toBe(newId);
      expect(now.version.version).toBe(before.version.version + 1);
      // Its own phases (inserted in the other order), in its definition's order.
      expect(now.phases.map((p) => [p.name, p.leaderboardVisibility, p.benchmarkVersionId])).toEqual([
        ['sample', 'public', newId],
        ['test', 'hidden', newId],
      ]);
    } finally {
      await other.query(`UPDATE benchmarks SET current_version_id = $1 WHERE slug = $2`, [before.version.id, SLUG]);
    }
    const back = await service.resolveCurrent(SLUG);
    expect(back.version).toBe(before.version);
    expect(back.phases.map((p) => p.leaderboardVisibility)).toEqual(['public', 'public']);
  });

  it("carries each phase's leaderboard rebuild stamp, read in the same statement, fresh on every call", async () => {
    const repository = stack.api.get(LeaderboardsRepository);
    const before = await service.resolveCurrent(SLUG);
    expect([...(before.boardStamps ?? new Map())]).toEqual([
      ['sample', null],
      ['test', null],
    ]);
    // A rebuild (an empty board: no runs yet) gives the phase a stamp, the same the leaderboard reads on its own.
    await stack.api.get(LeaderboardsService).materialize(before.version.id, 'test');
    const built = await service.resolveCurrent(SLUG);
    const stamp = built.boardStamps?.get('test');
    expect(stamp).toMatch(/^\d+\/\d+$/);
    expect(stamp).toBe(await repository.findSnapshotStamp(before.version.id, 'test'));
    expect(built.boardStamps?.get('sample')).toBeNull();
    // Another rebuild, another stamp, on the next call.
    await stack.api.get(LeaderboardsService).materialize(before.version.id, 'test');
    const rebuilt = await service.resolveCurrent(SLUG);
    expect(rebuilt.boardStamps?.get('test')).not.toBe(stamp);
    expect(rebuilt.boardStamps?.get('test')).toBe(await repository.findSnapshotStamp(before.version.id, 'test'));
  });

  it('answers 404 for an unknown slug and for a benchmark without a current version', async () => {
    await expect(service.resolveCurrent('no-such-benchmark')).rejects.toMatchObject({ code: 'not_found' });
    await other.query(`INSERT INTO benchmarks (slug, title) VALUES ('no-version-yet', 'Not yet defined')`);
    await expect(service.resolveCurrent('no-version-yet')).rejects.toMatchObject({ code: 'not_found' });
  });
});
