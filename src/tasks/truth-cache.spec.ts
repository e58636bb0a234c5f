import { BINARY_CLASSIFICATION } from './binary-classification/binary-classification.task';
import type { TruthSource } from './task-definition';
import { TruthCache } from './truth-cache';

function countingSource(text: string): { source: () => TruthSource; reads: () => number; opened: () => number } {
  let reads = 0;
  let opened = 0;
  return {
    source: () => {
      opened++;
      return { list: async () => ['labels.csv'], read: async () => (reads++, Buffer.from(text)) };
    },
    reads: () => reads,
    opened: () => opened,
  };
}

const key = (cohortVersionId: string, split = 'test') => ({ task: 'binary-classification', cohortVersionId, contentHash: `h-${cohortVersionId}`, split });

describe('TruthCache', () => {
  it('reads and parses the truth of a cohort version once, however many runs ask (also concurrently)', async () => {
    const cache = new TruthCache();
    const s = countingSource('case_id,label\na,1\nb,0\n');
    const results = await Promise.all([1, 2, 3].map(() => cache.get(BINARY_CLASSIFICATION, key('v1'), s.source)));
    await cache.get(BINARY_CLASSIFICATION, key('v1'), s.source);
    expect(s.reads()).toBe(1);
    expect(s.opened()).toBe(1);
    expect(results[0]).toEqual({ caseIds: ['a', 'b'], labels: [1, 0] });
    expect(results[1]).toBe(results[0]);
  });

  it('keeps splits and versions apart and evicts the least recently used', async () => {
    const cache = new TruthCache(2);
    const s = countingSource('case_id,label\na,1\n');
    await cache.get(BINARY_CLASSIFICATION, key('v1'), s.source);
    await cache.get(BINARY_CLASSIFICATION, key('v1', 'sample'), s.source);
    await cache.get(BINARY_CLASSIFICATION, key('v1'), s.source); // v1/test is now the most recent
    await cache.get(BINARY_CLASSIFICATION, key('v2'), s.source); // evicts v1/sample
    expect(s.reads()).toBe(3);
    await cache.get(BINARY_CLASSIFICATION, key('v1'), s.source);
    expect(s.reads()).toBe(3);
    await cache.get(BINARY_CLASSIFICATION, key('v1', 'sample'), s.source);
    expect(s.reads()).toBe(4);
    expect(cache.size).toBe(2);
  });

  it('does not keep a failed read', async () => {
    const cache = new TruthCache();
    await expect(cache.get(BINARY_CLASSIFICATION, key('v1'), countingSource('not,a,truth\n').source)).rejects.toThrow(/truth file is invalid/);
    const good = countingSource('case_id,label\na,1\n');
    await expect(cache.get(BINARY_CLASSIFICATION, key('v1'), good.source)).resolves.toEqual({ caseIds: ['a'], labels: [1] });
  });
});
