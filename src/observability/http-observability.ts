import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { Logger } from 'pino';
import { type AssayMetrics, UNMATCHED_ROUTE } from './metrics';

/** What Express leaves on a request once a route matched it (the template as registered, e.g. /api/runs/:id). */
interface RoutedRequest extends IncomingMessage {
  baseUrl?: string;
  originalUrl?: string;
  route?: { path?: unknown };
}

/** The route template of a request, or null when none matched: never the raw URL, which carries ids. */
export function routeTemplateOf(req: IncomingMessage): string | null {
  const r = req as RoutedRequest;
  const path = r.route?.path;
  // A wildcard is the catch-all under which Nest mounts middleware (the request log's): left on requests no
  // controller route matched. Assay's own routes have no wildcard.
  if (typeof path !== 'string' || path.includes('*')) return null;
  return `${r.baseUrl ?? ''}${path}` || '/';
}

/** The path without its query string (which may carry a one-time token), for the log line. */
export function pathOf(req: IncomingMessage): string {
  const r = req as RoutedRequest;
  return (r.originalUrl ?? req.url ?? '').split('?')[0] ?? '';
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A proxy's X-Request-Id when it is a plain token (a client cannot smuggle text into the log through it), else a fresh one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * nestjs-pino for the API: one line per request with its id, method, path (no query), route template, status and
 * latency (responseTime, ms); the request's own log lines carry reqId. The serializers keep no header at all (no
 * Authorization, Cookie or Set-Cookie to leak); the root logger's redaction is the second line (logger.ts).
 */
export function httpLoggingParams(logger: Logger): Params {
  return {
    pinoHttp: {
      logger,
      genReqId: (req, res) => {
        const id = requestIdOf(req);
        res.setHeader('X-Request-Id', id);
        return id;
      },
      quietReqLogger: true,
      customAttributeKeys: { reqId: 'reqId', responseTime: 'responseTimeMs' },
      serializers: {
        req: (req: { id?: unknown; method?: unknown; raw?: IncomingMessage }) => ({ id: req.id, method: req.method, path: req.raw ? pathOf(req.raw) : undefined }),
        res: (res: { statusCode?: unknown }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      customSuccessMessage: (req, res) => `${req.method ?? ''} ${routeTemplateOf(req) ?? UNMATCHED_ROUTE} ${res.statusCode}`,
      customErrorMessage: (req, res) => `${req.method ?? ''} ${routeTemplateOf(req) ?? UNMATCHED_ROUTE} ${res.statusCode}`,
      customSuccessObject: (req, _res, value: object) => ({ ...value, route: routeTemplateOf(req) ?? UNMATCHED_ROUTE }),
      customErrorObject: (req, _res, _error, value: object) => ({ ...value, route: routeTemplateOf(req) ?? UNMATCHED_ROUTE }),
    },
  };
}

/** Express middleware: each request's duration in assay_http_request_duration_seconds, labelled by its route template. */
export function httpMetricsMiddleware(metrics: AssayMetrics): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const t0 = process.hrtime.bigint();
    let done = false;
    const record = (): void => {
      if (done) return;
      done = true;
      metrics.observeHttpRequest({ method: req.method ?? '', route: routeTemplateOf(req), status: res.statusCode, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    };
    res.once('finish', record);
    // A client that hangs up mid-answer: counted with the status set so far.
    res.once('close', record);
    next();
  };
}
