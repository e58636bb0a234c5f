import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { DomainError, HTTP_STATUS_BY_CODE } from '../common/domain-error';
import { LoginForm } from './login-form';
import { WebViews } from './web-views';

const TITLES: Record<number, string> = {
  400: 'The request could not be used',
  401: 'Sign in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  415: 'Wrong kind of request',
  422: 'Not accepted',
  429: 'Too many attempts',
  503: 'Temporarily unavailable',
};

/**
 * Errors on pages: the same statuses as the API (a hidden resource is a 404), shown as a page with a clear message
 * and the fields at fault; a 401 shows the sign-in form. Unknown errors: a 500 with a logged error id, never the stack.
 */
@Catch()
export class WebExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('WebExceptionFilter');

  constructor(
    private readonly views: WebViews,
    private readonly login: LoginForm,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request & AuthenticatedRequest>();
    void this.respond(exception, req, res).catch((error: unknown) => {
      this.logger.error(`error page failed: ${(error as Error).message}`);
      if (!res.headersSent) res.status(500).type('text').send('Internal error');
    });
  }

  private async respond(exception: unknown, req: Request & AuthenticatedRequest, res: Response): Promise<void> {
    if (res.headersSent) {
      res.end();
      return;
    }
    let status = 500;
    let message = 'Something went wrong on our side. Quote the error id below to an administrator.';
    let problems: { field: string; problem: string }[] = [];
    let errorId: string | null = null;
    if (exception instanceof DomainError) {
      status = HTTP_STATUS_BY_CODE[exception.code];
      message = exception.message;
      problems = exception.problems;
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      const raw = exception.getResponse();
      const m = typeof raw === 'object' && raw !== null && 'message' in raw ? (raw as { message: unknown }).message : raw;
      message = Array.isArray(m) ? m.map(String).join('; ') : String(m);
    } else {
      errorId = randomUUID();
      this.logger.error(`error ${errorId}: ${exception instanceof Error ? exception.stack : String(exception)}`);
    }
    if (!req.complete) res.setHeader('Connection', 'close');
    const retry = res.getHeader('Retry-After');
    // A session that has ended is forgotten, so that the stale cookie is not presented (and counted) again.
    if (status === 401) this.login.endSession(req, res);
    let html: string;
    try {
      html =
        status === 401
          ? this.views.renderPlain('login', { title: 'Sign in', message: req.path === '/' ? null : message, next: safeNext(req.originalUrl), loginCsrf: await this.login.issue(req, res) })
          : req.principal
            ? await this.views.render(req, 'error', { title: TITLES[status] ?? 'Error', status, message, problems, errorId, retry })
            : this.views.renderPlain('error', { title: TITLES[status] ?? 'Error', status, message, problems, errorId, retry });
    } catch (error) {
      this.logger.error(`rendering the error page failed: ${(error as Error).message}`);
      html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error ${status}</title></head><body><main><h1>Error ${status}</h1></main></body></html>`;
    }
    res.status(status).type('html').setHeader('Cache-Control', 'no-store');
    res.send(html);
  }
}

/** Where to go after signing in: a path on this site only (never //host or a scheme). */
export function safeNext(url: unknown): string {
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//') || url.startsWith('/\\') || url.length > 500) return '/';
  if (/[\u0000-\u001f\u007f]/.test(url) || url.startsWith('/login') || url.startsWith('/logout') || url.startsWith('/api/')) return '/';
  return url;
}
