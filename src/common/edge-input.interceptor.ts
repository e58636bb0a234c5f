import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import type { FieldProblem } from './domain-error';
import { inputProblems, invalidInput } from './input-guard';
import { BODY_LIMIT_KEY, BODY_LIMITS, readJsonBody } from './json-body';

/** What a handler reads from the request, from the metadata Nest's own @Body/@Query/@Param decorators leave. */
interface RouteInputs {
  body: boolean;
  /** Named @Query('x') parameters; null when the handler takes the whole query object (a query DTO checks it). */
  queryNames: string[] | null;
}

const routeInputs = new WeakMap<object, RouteInputs>();

function inputsOf(context: ExecutionContext): RouteInputs {
  const handler = context.getHandler();
  const known = routeInputs.get(handler);
  if (known) return known;
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, context.getClass(), handler.name) ?? {}) as Record<string, { data?: unknown }>;
  let body = false;
  let queryNames: string[] | null = [];
  for (const [key, meta] of Object.entries(args)) {
    const type = Number(key.split(':')[0]);
    if (type === RouteParamtypes.BODY) body = true;
    if (type === RouteParamtypes.QUERY) {
      if (typeof meta.data === 'string' && queryNames) queryNames.push(meta.data);
      else queryNames = null;
    }
  }
  const inputs = { body, queryNames };
  routeInputs.set(handler, inputs);
  return inputs;
}

/**
 * The edge of every route, after its guards (so an anonymous or unauthorised caller never gets its body read):
 * path parameters and query strings go through the input guard, unknown or repeated query parameters are refused
 * (a filter must never be dropped silently), and a JSON body is read with the route's own limit.
 */
@Injectable()
export class EdgeInputInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    const inputs = inputsOf(context);
    const problems: FieldProblem[] = [];
    for (const [name, value] of Object.entries(req.params ?? {})) problems.push(...inputProblems(value, name));
    if (problems.length > 0) throw invalidInput('path', problems);
    const query = (req.query ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      const named = inputs.queryNames;
      if (named && !named.includes(name)) {
        problems.push({ field: name, problem: named.length > 0 ? `unknown query parameter; known: ${named.join(', ')}` : 'this endpoint takes no query parameters' });
      } else if (named && Array.isArray(value)) {
        problems.push({ field: name, problem: 'given more than once' });
      } else {
        problems.push(...inputProblems(value, name));
      }
    }
    if (problems.length > 0) throw invalidInput('query', problems);
    if (inputs.body) {
      const limit = this.reflector.get<number | undefined>(BODY_LIMIT_KEY, context.getHandler()) ?? BODY_LIMITS.default;
      req.body = await readJsonBody(req, limit);
    }
    return next.handle();
  }
}
