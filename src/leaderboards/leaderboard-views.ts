import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { deepFreeze } from '../common/deep-freeze';
import type { LeaderboardResponse } from './leaderboards.dto';

const gzipAsync = promisify(gzip);

/** Rows a page carries unless the caller asks for another `limit`; the most it may ask for. */
export const LEADERBOARD_DEFAULT_LIMIT = 100;
export const LEADERBOARD_MAX_LIMIT = 1000;

/** One page of one view of a leaderboard as served: the response, its JSON bytes and their gzip encoding. */
export interface LeaderboardPage {
  /** Deep-frozen: shared by every reader of this page until the next rebuild. */
  readonly response: LeaderboardResponse;
  readonly json: Buffer;
  readonly gzip: Buffer;
  /** Strong validator of `json`: from the board, the view, the page and the rebuild's stamp (the bytes when never built). */
  readonly etag: string;
}

/** One view of one leaderboard, all rows (deep-frozen), with its pages serialized on first request and kept. */
export interface SerializedLeaderboard {
  /** The whole board in rank order (`offset` 0, `limit` = `total`). */
  readonly response: LeaderboardResponse;
  /** Rows [offset, offset + limit) in rank order, with `total`, `offset` and `limit`. */
  page(offset: number, limit: number): Promise<LeaderboardPage>;
}

/** Who sees which rendering of a leaderboard: the rounding and Ladder rules give exactly two. */
export type LeaderboardView = 'full' | 'public';

const tag = (text: string): string => `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;

/**
 * A built view: each row serialized once; a page is the header, `total`/`offset`/`limit` and a slice of the rows'
 * JSON joined, gzipped once and kept (bounded per view, least recently used out; the whole entry goes with its stamp).
 */
function serialized(response: LeaderboardResponse, validator: string | null, pagesKept: number): SerializedLeaderboard {
  const { rows, ...header } = response;
  const head = JSON.stringify(header).slice(0, -1);
  const rowJson = rows.map((r) => JSON.stringify(r));
  const pages = new Map<string, Promise<LeaderboardPage>>();
  const whole = deepFreeze({ ...header, total: rows.length, offset: 0, limit: rows.length, rows } as LeaderboardResponse);
  return {
    response: whole,
    page(offset: number, limit: number): Promise<LeaderboardPage> {
      const id = `${offset}:${limit}`;
      const kept = pages.get(id);
      if (kept) {
        pages.delete(id);
        pages.set(id, kept);
        return kept;
      }
      const work = (async (): Promise<LeaderboardPage> => {
        const json = Buffer.from(`${head}${head.length > 1 ? ',' : ''}"total":${rows.length},"offset":${offset},"limit":${limit},"rows":[${rowJson.slice(offset, offset + limit).join(',')}]}`);
        return {
          response: deepFreeze({ ...header, total: rows.length, offset, limit, rows: rows.slice(offset, offset + limit) } as LeaderboardResponse),
          json,
          gzip: await gzipAsync(json, { level: 6 }),
          etag: tag(`${validator ?? json.toString('base64')}\u0000${id}`),
        };
      })();
      pages.set(id, work);
      while (pages.size > pagesKept) pages.delete(pages.keys().next().value as string);
      work.catch(() => pages.get(id) === work && pages.delete(id));
      return work;
    },
  };
}

/**
 * The serialized views of materialized leaderboards, in this process, each valid for one rebuild: the caller passes
 * the snapshot's current stamp (LeaderboardsRepository.findSnapshotStamp, read from the database on every request),
 * so a rebuild committed by any process (the worker, another API process) is served on the next read; a view's pages
 * go with it. Concurrent readers of a stale view wait for one build (no stampede after a rebuild). Bounded (least
 * recently used out).
 */
export class LeaderboardViewCache {
  private readonly views = new Map<string, { stamp: string; board: SerializedLeaderboard }>();
  private readonly building = new Map<string, Promise<SerializedLeaderboard>>();

  constructor(
    private readonly capacity = 64,
    private readonly pagesPerView = 32,
  ) {}

  /**
   * The view for `stamp`; `build` reads the board in one database snapshot and returns the stamp it read with the
   * response (a rebuild may commit between the stamp check and the read: the view is kept under the stamp it was
   * built from, so the next read sees the difference and builds again). A null stamp (never built) is not kept.
   */
  async get(key: { benchmarkVersionId: string; phase: string; view: LeaderboardView }, stamp: string | null, build: () => Promise<{ stamp: string | null; response: LeaderboardResponse }>): Promise<SerializedLeaderboard> {
    const id = `${key.benchmarkVersionId}\u0000${key.phase}\u0000${key.view}`;
    const hit = this.views.get(id);
    if (stamp !== null && hit?.stamp === stamp) {
      this.views.delete(id);
      this.views.set(id, hit);
      return hit.board;
    }
    const flight = `${id}\u0000${stamp ?? ''}`;
    const pending = this.building.get(flight);
    if (pending) return pending;
    const work = (async (): Promise<SerializedLeaderboard> => {
      const built = await build();
      // Never built: the validator is the page's own bytes (there is no stamp to name the rebuild).
      const board = serialized(built.response, built.stamp === null ? null : `${id}\u0000${built.stamp}`, this.pagesPerView);
      if (built.stamp !== null) {
        this.views.delete(id);
        this.views.set(id, { stamp: built.stamp, board });
        while (this.views.size > this.capacity) this.views.delete(this.views.keys().next().value as string);
      }
      return board;
    })();
    this.building.set(flight, work);
    try {
      return await work;
    } finally {
      this.building.delete(flight);
    }
  }
}
