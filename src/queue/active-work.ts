import { Injectable } from '@nestjs/common';

/**
 * What this worker process is executing right now. A run or check that the database says is ours but that is not
 * here was lost by this process (its handler could not record the outcome, or the process restarted under the same
 * worker id): it is handed back at once instead of waiting for its heartbeat to go stale.
 */
@Injectable()
export class ActiveWork {
  /** When this process started: a run ours by worker id but last seen before this belongs to a previous life. */
  readonly bootTime = new Date();
  readonly runs = new Set<string>();
  readonly checks = new Set<string>();

  /**
   * Runs `work` holding `id` in `kind`, reserved before the work reads any state: a second job for the same run or
   * check in this process returns at once and leaves it alone.
   */
  async exclusive(kind: 'runs' | 'checks', id: string, work: () => Promise<void>): Promise<void> {
    const held = this[kind];
    if (held.has(id)) return;
    held.add(id);
    try {
      await work();
    } finally {
      held.delete(id);
    }
  }
}
