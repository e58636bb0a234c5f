import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { DomainError, HTTP_STATUS_BY_CODE } from './domain-error';

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  problems?: { field: string; problem: string }[];
  errorId?: string;
}

/** Domain errors become their mapped 4xx; unknown errors a 500 with a logged error id, never the stack. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const request = host.switchToHttp().getRequest<Request>();
    const body = this.toBody(exception);
    if (response.headersSent) {
      response.end();
      return;
    }
    // A refused request whose body was not read (anonymous, too large): close instead of draining it.
    if (!request.complete) response.setHeader('Connection', 'close');
    response.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof DomainError) {
      const body: ErrorBody = {
        statusCode: HTTP_STATUS_BY_CODE[exception.code],
        code: exception.code,
        message: exception.message,
      };
      if (exception.problems.length > 0) body.problems = exception.problems;
      return body;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const raw = exception.getResponse();
      const messages = typeof raw === 'object' && raw !== null && 'message' in raw ? (raw as { message: unknown }).message : raw;
      const list = Array.isArray(messages) ? messages.map(String) : [String(messages)];
      return {
        statusCode: status,
        code: status === 404 ? 'not_found' : status === 400 ? 'validation_failed' : `http_${status}`,
        message: list.join('; '),
      };
    }
    const errorId = randomUUID();
    this.logger.error(`error ${errorId}: ${exception instanceof Error ? exception.stack : String(exception)}`);
    return { statusCode: 500, code: 'internal_error', message: 'Internal error; quote this id to an administrator', errorId };
  }
}
