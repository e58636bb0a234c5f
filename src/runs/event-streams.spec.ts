import { EventStreamLimiter } from './event-streams';

describe('EventStreamLimiter', () => {
  it('gives each user at most maxPerUser live streams, and frees a slot on release', () => {
    const limiter = new EventStreamLimiter(2);
    expect([limiter.acquire('a'), limiter.acquire('a'), limiter.acquire('a')]).toEqual([true, true, false]);
    expect(limiter.acquire('b')).toBe(true);
    limiter.release('a');
    expect(limiter.acquire('a')).toBe(true);
    expect(limiter.acquire('a')).toBe(false);
  });
});
