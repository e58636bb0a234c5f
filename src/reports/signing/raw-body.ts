import type { IncomingMessage } from 'node:http';
import { DomainError, ErrorCode } from '../../common/domain-error';
import { readBoundedBody } from '../../common/json-body';

/** What POST /api/reports/verify reads: a report file of up to 32 MB (a 500-case PDF report is a few MB). */
export const VERIFY_BODY_LIMIT = 32 * 1024 * 1024;
export const VERIFY_CONTENT_TYPES = ['application/octet-stream', 'application/pdf', 'text/html', 'application/json'];

const bad = (code: ErrorCode, message: string, field: string, problem: string): DomainError => new DomainError(code, message, [{ field, problem }]);

/**
 * Reads a raw request body in the handler, so after the guards (as EdgeInputInterceptor does for JSON): refuses a
 * missing body, another content type, a content encoding, and a declared or actual size over `limit` without reading
 * further.
 */
export function readRawBody(req: IncomingMessage, limit: number, types: string[]): Promise<Buffer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const declared = req.headers['content-length'];
  const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return Promise.reject(bad(ErrorCode.ValidationFailed, 'body: missing (expected the report file)', 'body', 'missing'));
  if (!types.includes(type)) return Promise.reject(bad(ErrorCode.UnsupportedMedia, `expected Content-Type ${types.join(', ')}; got '${type || 'none'}'`, 'Content-Type', `must be one of ${types.join(', ')}`));
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') return Promise.reject(bad(ErrorCode.UnsupportedMedia, `Content-Encoding '${encoding}' is not accepted`, 'Content-Encoding', 'must be identity'));
  const tooLarge = (): DomainError => bad(ErrorCode.PayloadTooLarge, `body is larger than the ${limit}-byte limit of this route`, 'body', `larger than ${limit} bytes`);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return readBoundedBody(req, limit, tooLarge, 'body: the request broke off').then((bytes) => {
    if (bytes.length === 0) throw bad(ErrorCode.ValidationFailed, 'body: empty (expected the report file)', 'body', 'empty');
    return bytes;
  });
}
