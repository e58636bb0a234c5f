/**
 * Transient infrastructure faults: a component (PostgreSQL, Redis, the object store, the Docker engine) that is
 * restarting or unreachable. Such a fault is nobody's verdict on the run: the step is tried again with backoff and it
 * does not use up the run's attempt budget (it has its own, larger bound: MAX_INFRA_FAULTS).
 */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);
/** PostgreSQL SQLSTATEs of a server going away: class 08 (connection exception), admin/crash shutdown, cannot connect now. */
const PG_CODES = /^(08...|57P01|57P02|57P03|53300)$/;
const MESSAGES = [
  /Connection terminated/i,
  /terminating connection due to administrator command/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /timeout exceeded when trying to connect/i,
  /Connection is closed/i,
  /Stream isn't writeable/i,
  /Reached the max retries per request limit/i,
  /socket hang up/i,
  /Client network socket disconnected/i,
];
/** S3 answers that mean "try again" rather than "no". */
const S3_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'RequestTimeout']);

export function isTransientInfraFault(error: unknown, depth = 0): boolean {
  if (depth > 5 || error === null || typeof error !== 'object') return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown; driverError?: unknown; name?: unknown };
  if (typeof e.code === 'string' && (NET_CODES.has(e.code) || PG_CODES.test(e.code) || S3_CODES.has(e.code))) return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string' && MESSAGES.some((m) => m.test(e.message as string))) return true;
  // TypeORM wraps the driver's error, fetch and minio wrap the socket's, net.connect aggregates one per address.
  if (isTransientInfraFault(e.driverError, depth + 1) || isTransientInfraFault(e.cause, depth + 1)) return true;
  return Array.isArray(e.errors) && e.errors.some((x) => isTransientInfraFault(x, depth + 1));
}
