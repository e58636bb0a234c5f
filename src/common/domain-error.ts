/** Stable error codes: clients may switch on them. The global filter maps each to an HTTP status. */
export enum ErrorCode {
  ValidationFailed = 'validation_failed',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  NotFound = 'not_found',
  Conflict = 'conflict',
  PayloadTooLarge = 'payload_too_large',
  UnsupportedMedia = 'unsupported_media_type',
  InvalidModel = 'invalid_model',
  InvalidCohort = 'invalid_cohort',
  InvalidBenchmark = 'invalid_benchmark',
  InvalidTransition = 'invalid_transition',
  TooManyRequests = 'too_many_requests',
  Unavailable = 'service_unavailable',
}

export const HTTP_STATUS_BY_CODE: Record<ErrorCode, number> = {
  [ErrorCode.ValidationFailed]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.UnsupportedMedia]: 415,
  [ErrorCode.InvalidModel]: 422,
  [ErrorCode.InvalidCohort]: 422,
  [ErrorCode.InvalidBenchmark]: 422,
  [ErrorCode.InvalidTransition]: 409,
  [ErrorCode.TooManyRequests]: 429,
  [ErrorCode.Unavailable]: 503,
};

export interface FieldProblem {
  field: string;
  problem: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly problems: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string, id: string): DomainError =>
  new DomainError(ErrorCode.NotFound, `${what} '${id}' was not found`);
