import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { type MaskPairJob, type MaskPairOutcome, scoreMaskPair } from './mask-pair';

/**
 * Scores a split's cases on worker threads. Decoding both masks and the surface and lesion-wise scores are CPU work
 * of a few hundred ms a case (issue 9's 100-case perf run spent 38 s in them after inference, on one core of two);
 * cases are independent, so they spread over threads while the calling thread fetches the next cases' bytes. Results
 * come back in the order of `caseIds`, whatever order the threads finish in, and every thread runs the same
 * scoreMaskPair as the single-thread path.
 */
export interface MaskPairPoolOptions {
  /** Threads to score on; 1 scores on the calling thread. Default: min(4, available cores). */
  readonly threads?: number;
  /** The worker script. Default: mask-pair-worker.js beside this module when running compiled JavaScript; under a
   * TypeScript transpiler (jest) there is none and scoring stays on the calling thread unless a script is given. */
  readonly script?: string | null;
  /** Node options for the threads (the specs pass a TypeScript require hook). */
  readonly execArgv?: readonly string[];
}

export function defaultScoringThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

function compiledWorkerScript(): string | null {
  if (!__filename.endsWith('.js')) return null;
  return __filename.replace(/mask-pair-pool\.js$/, 'mask-pair-worker.js');
}

export async function scoreMaskPairs(
  caseIds: readonly string[],
  load: (caseId: string) => Promise<MaskPairJob>,
  options: MaskPairPoolOptions = {},
): Promise<MaskPairOutcome[]> {
  const script = options.script === undefined ? compiledWorkerScript() : options.script;
  const threads = Math.min(options.threads ?? defaultScoringThreads(), caseIds.length);
  if (script === null || threads <= 1) {
    const out: MaskPairOutcome[] = [];
    for (const caseId of caseIds) out.push(await scoreMaskPair(await load(caseId)));
    return out;
  }
  const { Worker } = await import('node:worker_threads');
  const threadsOf: ScoringThread[] = [];
  try {
    for (let i = 0; i < threads; i++) threadsOf.push(new ScoringThread(new Worker(script, { execArgv: [...(options.execArgv ?? [])] })));
    const results: MaskPairOutcome[] = new Array(caseIds.length);
    let next = 0;
    let failed = false;
    // Each thread pulls the next case when it is free: one case loaded ahead per thread, so memory stays bounded by
    // the thread count (two decoded masks each), not by the split.
    const drive = async (thread: ScoringThread): Promise<void> => {
      let pending: Promise<MaskPairJob> | null = null;
      let pendingIndex = -1;
      const take = (): void => {
        pendingIndex = !failed && next < caseIds.length ? next++ : -1;
        pending = pendingIndex >= 0 ? load(caseIds[pendingIndex] as string) : null;
        // Awaited below; marked handled now so a load that fails while this thread is stopped is not an unhandled
        // rejection (which would end the worker process).
        pending?.catch(() => undefined);
      };
      take();
      while (pending !== null) {
        const index = pendingIndex;
        const job: MaskPairJob = await pending;
        take(); // fetch the next case's bytes while this thread scores
        results[index] = await thread.score(index, job);
      }
    };
    await Promise.all(
      threadsOf.map((t) =>
        drive(t).catch((e: unknown) => {
          failed = true;
          throw e;
        }),
      ),
    );
    return results;
  } finally {
    await Promise.all(threadsOf.map((t) => t.close()));
  }
}

/**
 * One scoring thread with its error and exit handlers attached for its whole life: a thread that fails while idle
 * (at start, say) is recorded instead of raising an unhandled 'error' in the worker process, and the case in flight,
 * or the next one sent, fails with it instead of waiting for ever.
 */
class ScoringThread {
  private dead: Error | null = null;
  private waiting: { id: number; caseId: string; resolve: (o: MaskPairOutcome) => void; reject: (e: Error) => void } | null = null;
  private closing = false;

  constructor(private readonly worker: Worker) {
    worker.on('error', (e: Error) => this.fail(e));
    worker.on('exit', (code: number) => this.fail(new Error(`the scoring thread exited (code ${code})`)));
    worker.on('message', (m: { id: number; outcome?: MaskPairOutcome; error?: string }) => {
      const w = this.waiting;
      if (!w || m.id !== w.id) return;
      this.waiting = null;
      if (m.error !== undefined) w.reject(new Error(`scoring case ${w.caseId}: ${m.error}`));
      else w.resolve(m.outcome as MaskPairOutcome);
    });
  }

  private fail(e: Error): void {
    if (this.closing) return;
    this.dead ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(new Error(`scoring case ${w.caseId}: ${e.message}`));
  }

  score(id: number, job: MaskPairJob): Promise<MaskPairOutcome> {
    if (this.dead) return Promise.reject(new Error(`scoring case ${job.caseId}: ${this.dead.message}`));
    return new Promise((resolve, reject) => {
      this.waiting = { id, caseId: job.caseId, resolve, reject };
      this.worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}
