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
}
