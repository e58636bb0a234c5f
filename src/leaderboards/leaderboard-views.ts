import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { LeaderboardResponse } from './leaderboards.dto';

const gzipAsync = promisify(gzip);

/** One view of one leaderboard as served: the response, its JSON bytes and their gzip encoding. */
export interface SerializedLeaderboard {
  /** Deep-frozen: shared by every reader of this view until the next rebuild. */
  readonly response: LeaderboardResponse;
  readonly json: Buffer;
  readonly gzip: Buffer;
  /** Strong validator of `json`: from the board, the view and the rebuild's stamp (the bytes when never built). */
  readonly etag: string;
}

/** Who sees which rendering of a leaderboard: the rounding and Ladder rules give exactly two. */
export type LeaderboardView = 'full' | 'public';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * The serialized views of materialized leaderboards, in this process, each valid for one rebuild: the caller passes
 * the snapshot's current stamp (LeaderboardsRepository.findSnapshotStamp, read from the database on every request),
 * so a rebuild committed by any process (the worker, another API process) is served on the next read. Concurrent
 * readers of a stale view wait for one build (no stampede after a rebuild). Bounded (least recently used out).
 */
export class LeaderboardViewCache {
  private readonly views = new Map<string, { stamp: string; board: SerializedLeaderboard }>();
  private readonly building = new Map<string, Promise<SerializedLeaderboard>>();

  constructor(private readonly capacity = 64) {}

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
      const json = Buffer.from(JSON.stringify(built.response));
      const board: SerializedLeaderboard = {
        response: deepFreeze(built.response),
        json,
        gzip: await gzipAsync(json, { level: 6 }),
        etag: `"${createHash('sha256').update(`${id}\u0000${built.stamp ?? json.toString('base64')}`).digest('base64url').slice(0, 27)}"`,
      };
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
