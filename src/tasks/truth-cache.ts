import type { TaskDefinition, TruthSource } from './task-definition';

/** Which truth: a cohort version (immutable, content-hashed) and split, read by one task. */
export interface TruthKey {
  task: string;
  cohortVersionId: string;
  /** The cohort version's content hash: a key never outlives the content it names. */
  contentHash: string;
  split: string;
}

/**
 * Parsed truth per cohort version and split, in-process and least-recently-used: a cohort version never changes, so
 * its truth is read and parsed once per process, however many runs are scored on it. Concurrent readers share one
 * read; a failed read is not kept.
 */
export class TruthCache {
  private readonly entries = new Map<string, Promise<unknown>>();

  constructor(private readonly capacity = 16) {}

  get<T>(definition: TaskDefinition<T>, key: TruthKey, source: () => TruthSource): Promise<T> {
    const id = `${key.task}\u0000${key.cohortVersionId}\u0000${key.contentHash}\u0000${key.split}`;
    const hit = this.entries.get(id);
    if (hit) {
      // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit as Promise<T>;
    }
    const loading = definition.readTruth(source());
    this.entries.set(id, loading);
    loading.catch(() => {
      if (this.entries.get(id) === loading) this.entries.delete(id);
    });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return loading;
  }

  get size(): number {
    return this.entries.size;
  }
}
