/**
 * A worker shutting down (SIGTERM, a deploy, `app.close()`): the sandbox kills what it runs and refuses new runs with
 * this error, and the step that met it hands its work back uncounted: not the vendor's fault, not a component that
 * failed, so it uses up neither the run's attempts nor its infrastructure-fault budget.
 */
export class WorkerDrainingError extends Error {
  override readonly name = 'WorkerDrainingError';
}

/** By name (and through `cause`), so an error wrapped by a library or crossing a realm is still recognised. */
export function isWorkerDraining(error: unknown, depth = 0): boolean {
  if (depth > 5 || error === null || typeof error !== 'object') return false;
  const e = error as { name?: unknown; cause?: unknown };
  return e.name === 'WorkerDrainingError' || isWorkerDraining(e.cause, depth + 1);
}
