import type { AssayClient } from '../../src/cli/api-client';
import { eventually } from './test-stack';

/** Uploads answer 202 `validating`; the worker's check decides. Follows a submission until it is accepted or rejected. */
export function verdictOf<T extends { status: string }>(client: AssayClient, submissionId: string, timeoutMs = 120_000): Promise<T> {
  return eventually(
    () => client.get<T>(`/api/submissions/${submissionId}`),
    (s) => s.status !== 'validating',
    timeoutMs,
  );
}
