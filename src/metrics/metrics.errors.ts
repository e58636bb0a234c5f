// Stable codes so callers (worker, CLI, API filter) can map them without parsing messages.
export type MetricInputErrorCode =
  | 'METRIC_EMPTY_INPUT'
  | 'METRIC_LENGTH_MISMATCH'
  | 'METRIC_BAD_LABEL'
  | 'METRIC_NON_FINITE_SCORE'
  | 'METRIC_ONE_CLASS'
  | 'METRIC_BAD_PROBABILITY'
  | 'METRIC_BAD_PARAMETER';

export class MetricInputError extends Error {
  readonly code: MetricInputErrorCode;

  constructor(code: MetricInputErrorCode, message: string) {
    super(message);
    this.name = 'MetricInputError';
    this.code = code;
  }
}
