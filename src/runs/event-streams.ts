/**
 * Live SSE streams per user in this API process. Each stream polls Postgres, so an unbounded number from one token
 * would starve the pool for every route; the cap is per user (more tokens do not buy more streams). Per process:
 * N API processes allow N × the cap, which the per-IP lockout and the proxy's own limits bound further.
 */
export class EventStreamLimiter {
  private readonly live = new Map<string, number>();

  constructor(readonly maxPerUser: number) {}

  /** Takes a slot for the user; false when it already holds maxPerUser streams. */
  acquire(userId: string): boolean {
    const n = this.live.get(userId) ?? 0;
    if (n >= this.maxPerUser) return false;
    this.live.set(userId, n + 1);
    return true;
  }

  release(userId: string): void {
    const n = (this.live.get(userId) ?? 0) - 1;
    if (n > 0) this.live.set(userId, n);
    else this.live.delete(userId);
  }
}
