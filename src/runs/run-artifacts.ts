import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { StorageService } from '../storage/storage.service';
import { RunEntity, RunPredictionEntity } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { TERMINAL_STATUSES } from './run-state-machine';

/** The runs one recovery sweep collects at most (each is one listing and at most a few multi-object deletes). */
export const ARTIFACT_RUNS_PER_SWEEP = 25;

export type Attempt = Pick<RunEntity, 'attempts' | 'infraFaults' | 'drains'>;

/**
 * The key segment of one attempt's objects. An attempt handed back uncounted (a transient fault, or its worker
 * shutting down) gives its number back, so the number alone repeats; with the hand-back counts it names one attempt
 * only (as the execute job id does), and an attempt that is still writing can never overwrite a later one's objects.
 */
export function attemptSegment(a: Attempt): string {
  return `a${a.attempts}${a.infraFaults > 0 ? `i${a.infraFaults}` : ''}${a.drains > 0 ? `d${a.drains}` : ''}`;
}

export function parseAttemptSegment(segment: string): Attempt | null {
  const m = /^a(\d+)(?:i(\d+))?(?:d(\d+))?$/.exec(segment);
  return m ? { attempts: Number(m[1]), infraFaults: Number(m[2] ?? 0), drains: Number(m[3] ?? 0) } : null;
}

/** The row still names this attempt (no later one has started): the only state in which the attempt may commit. */
export function sameAttempt(a: Attempt, b: Attempt): boolean {
  return a.attempts === b.attempts && a.infraFaults === b.infraFaults && a.drains === b.drains;
}

/**
 * Whether attempt `a` started before attempt `b` (or before the row's state `b`). Every start adds one to `attempts`;
 * an uncounted hand-back takes one off and adds one to `infraFaults` or `drains`, which never fall. So every event
 * raises (infraFaults + drains, attempts) in lexicographic order, and between two uncounted hand-backs the split of
 * that sum is fixed.
 */
export function startedBefore(a: Attempt, b: Attempt): boolean {
  const ua = a.infraFaults + a.drains;
  const ub = b.infraFaults + b.drains;
  return ua < ub || (ua === ub && a.attempts < b.attempts);
}

export class UnreadableReference extends Error {}

/**
 * The object keys a run's stored predictions reference (prediction.files[name].key). A files entry that names no key
 * throws: what it references cannot be known, so nothing of that run may be removed.
 */
export function referencedKeys(predictions: readonly Pick<RunPredictionEntity, 'caseId' | 'prediction'>[]): Set<string> {
  const keys = new Set<string>();
  for (const p of predictions) {
    const files = p.prediction['files'];
    if (files === undefined) continue;
    if (typeof files !== 'object' || files === null) throw new UnreadableReference(`case ${p.caseId}: the stored prediction's files are not a record`);
    for (const [name, file] of Object.entries(files as Record<string, unknown>)) {
      const key = (file as { key?: unknown } | null)?.key;
      if (typeof key !== 'string') throw new UnreadableReference(`case ${p.caseId}: the stored prediction's file ${name} names no key`);
      keys.add(key);
    }
  }
  return keys;
}

/**
 * What may go of the objects under `runs/<runId>/`, never one a stored prediction references. A finished run's
 * predictions can no longer change, so everything else goes. A run not finished keeps its current attempt's objects
 * and any it cannot place; those of attempts that started before the current one go: such an attempt can no longer
 * commit predictions (every step of an attempt commits only while the row still names it), and nothing reads them.
 */
export function removableArtifacts<T extends { key: string }>(run: Pick<RunEntity, 'id' | 'status' | 'attempts' | 'infraFaults' | 'drains'>, objects: readonly T[], referenced: ReadonlySet<string>): T[] {
  const prefix = `runs/${run.id}/`;
  const finished = TERMINAL_STATUSES.includes(run.status);
  return objects.filter((o) => {
    if (!o.key.startsWith(prefix) || referenced.has(o.key)) return false;
    if (finished) return true;
    const attempt = parseAttemptSegment(o.key.slice(prefix.length).split('/')[0] ?? '');
    return attempt !== null && startedBefore(attempt, run);
  });
}

export interface CollectedArtifacts {
  removed: number;
  bytes: number;
}

/**
 * Garbage collection of a run's artifact objects (bucket `artifacts`, prefix `runs/<runId>/` only; `reports/` is
 * never listed). Safe to repeat at any point: it judges from the row and the stored predictions each time, and the
 * store's delete of a key already gone is no error. A finished run is marked collected only after its objects went,
 * so a crash in between leaves it to the recovery sweep.
 */
@Injectable()
export class RunArtifactsGc {
  private readonly logger = new Logger('RunArtifactsGc');

  constructor(
    private readonly repository: EvaluationRepository,
    private readonly storage: StorageService,
    private readonly clock: Clock,
  ) {}

  async collect(runId: string): Promise<CollectedArtifacts> {
    // The row first: a finished run's predictions are final, and a later attempt's objects are never judged older.
    const run = await this.repository.findRun(runId);
    if (!run) return { removed: 0, bytes: 0 };
    const finished = TERMINAL_STATUSES.includes(run.status);
    let referenced: Set<string>;
    try {
      referenced = referencedKeys(await this.repository.findPredictions(run.id));
    } catch (error) {
      if (!(error instanceof UnreadableReference) || !finished) throw error;
      // Final, and it cannot be judged: nothing is removed, and the sweep does not ask again.
      this.logger.warn(`run ${run.id}: artifact objects kept, ${error.message}`);
      await this.repository.markArtifactsCollected(run.id, this.clock.now());
      return { removed: 0, bytes: 0 };
    }
    const objects = await this.storage.list('artifacts', `runs/${run.id}/`);
    const doomed = removableArtifacts(run, objects, referenced);
    await this.storage.removeMany('artifacts', doomed.map((o) => o.key));
    const bytes = doomed.reduce((sum, o) => sum + o.size, 0);
    if (doomed.length > 0) {
      this.logger.log(`run ${run.id} (${run.status}): removed ${doomed.length} artifact object(s), ${bytes} bytes, that no stored prediction references; ${objects.length - doomed.length} kept`);
    }
    if (finished) await this.repository.markArtifactsCollected(run.id, this.clock.now());
    return { removed: doomed.length, bytes };
  }

  /** For the recovery sweep: finished runs whose collection never completed (a crash, a store that was away). */
  async collectFinished(limit = ARTIFACT_RUNS_PER_SWEEP): Promise<CollectedArtifacts & { runs: number }> {
    const total = { runs: 0, removed: 0, bytes: 0 };
    for (const id of await this.repository.findUncollectedFinishedRuns(limit)) {
      const done = await this.collect(id);
      total.runs++;
      total.removed += done.removed;
      total.bytes += done.bytes;
    }
    return total;
  }
}
