import { SetMetadata } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { TextDecoder } from 'node:util';
import { DomainError, ErrorCode } from './domain-error';
import { parseUntrustedJson } from './input-guard';

export const BODY_LIMIT_KEY = 'assay:body-limit';

/**
 * JSON body limits, in bytes. Every JSON route gets the default; a route that needs more says so with @BodyLimit.
 * The shipped catalogue's largest definitions (checked by json-body.spec.ts): the wdbc cohort as a POST /api/cohorts
 * body is about 130 KB, a benchmark definition about 1.5 KB.
 */
export const BODY_LIMITS = {
  /** Names, labels, e-mail addresses, phase changes. */
  default: 16 * 1024,
  /** A benchmark definition: its largest free text (description, 10,000 characters) fully \u-escaped is 60 KB. */
  benchmarkDefinition: 128 * 1024,
  /** A tabular cohort (descriptor + CSV text): about 60× the largest shipped cohort. */
  cohort: 8 * 1024 * 1024,
} as const;

/** This route's JSON body may be up to `bytes` long (instead of BODY_LIMITS.default). */
export const BodyLimit = (bytes: number): MethodDecorator => SetMetadata(BODY_LIMIT_KEY, bytes);

/**
 * Where a guard that had to read the body itself (a node's signed request hashes the exact body bytes:
 * src/federation/node-signature.guard.ts) leaves those bytes, already bounded by the route's limit, for readJsonBody.
 */
export const PREREAD_BODY = Symbol('assay:preread-body');

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]*\+)?json\s*(?:;|$)/i;

const bad = (code: ErrorCode, message: string, field: string, problem: string): DomainError => new DomainError(code, message, [{ field, problem }]);

/**
 * Reads and parses a JSON body after the route's guards have run: refuses a declared or actual size over `limit`
 * without reading further, a non-JSON content type, bytes that are not UTF-8, and (through the input guard) NUL,
 * lone surrogates, forbidden keys and hostile nesting. The top level must be an object.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  const declared = req.headers['content-length'];
  const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return Promise.reject(bad(ErrorCode.ValidationFailed, 'body: missing (expected a JSON object)', 'body', 'missing'));
  if (!JSON_TYPE.test(type)) {
    return Promise.reject(bad(ErrorCode.UnsupportedMedia, `expected Content-Type application/json, got '${type || 'none'}'`, 'Content-Type', 'must be application/json'));
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    return Promise.reject(bad(ErrorCode.UnsupportedMedia, `Content-Encoding '${encoding}' is not accepted`, 'Content-Encoding', 'must be identity'));
  }
  const tooLarge = (): DomainError => bad(ErrorCode.PayloadTooLarge, `body is larger than the ${limit}-byte limit of this route`, 'body', `larger than ${limit} bytes`);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  const preread = (req as IncomingMessage & { [PREREAD_BODY]?: Buffer })[PREREAD_BODY];
  return (preread ? Promise.resolve(preread) : readBoundedBody(req, limit, tooLarge, 'body: the request broke off')).then((bytes) => {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw bad(ErrorCode.ValidationFailed, 'body: is not UTF-8', 'body', 'is not UTF-8');
    }
    const parsed = parseUntrustedJson(text);
    if ('problems' in parsed) throw new DomainError(ErrorCode.ValidationFailed, `body: ${parsed.problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, parsed.problems);
    const value = parsed.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(ErrorCode.ValidationFailed, 'body: must be a JSON object', 'body', 'must be a JSON object');
    return value as Record<string, unknown>;
  });
}

/**
 * Reads a request body of at most `limit` bytes (JSON bodies, forms, report files): past the limit it stops reading
 * (the answer goes out with Connection: close, see the exception filter) and rejects with `tooLarge()`; a request that
 * breaks off rejects with a 400 saying `brokeOff`. One reader for every bounded body, so the limits behave alike.
 */
export function readBoundedBody(req: IncomingMessage, limit: number, tooLarge: () => DomainError, brokeOff: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: DomainError | null): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
      if (error) {
        req.pause();
        reject(error);
      } else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(null);
    const onError = (): void => finish(bad(ErrorCode.ValidationFailed, brokeOff, 'body', 'incomplete'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}
