import { applyDecorators, CallHandler, createParamDecorator, ExecutionContext, Injectable, NestInterceptor, SetMetadata, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import type { IncomingMessage } from 'node:http';
import { TextDecoder } from 'node:util';
import type { Observable } from 'rxjs';
import { AuthenticatedRequest, CSRF_IN_FORM_KEY } from '../auth/auth.guard';
import { CSRF_FIELD, CSRF_HEADER, CsrfService, LOGIN_COOKIE, readCookie } from '../auth/web-session';
import { DomainError, ErrorCode, FieldProblem } from '../common/domain-error';
import { textProblem } from '../common/input-guard';
import { readBoundedBody } from '../common/json-body';

/** A form is names, e-mail addresses, labels and a token: 16 KiB is ample. */
export const FORM_BODY_LIMIT = 16 * 1024;
const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;

export type FormFields = Record<string, string>;
type FormRequest = Request & AuthenticatedRequest & { form?: FormFields };

const bad = (code: ErrorCode, message: string, problems: FieldProblem[]): DomainError => new DomainError(code, message, problems);

function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): DomainError => bad(ErrorCode.PayloadTooLarge, `the form is larger than ${limit} bytes`, [{ field: 'body', problem: `larger than ${limit} bytes` }]);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return readBoundedBody(req, limit, tooLarge, 'the form broke off');
}

/** Parses an application/x-www-form-urlencoded body: UTF-8, each field once, clean text (no NUL, no lone surrogates). */
export async function readForm(req: IncomingMessage, limit = FORM_BODY_LIMIT): Promise<FormFields> {
  const declared = req.headers['content-length'];
  const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return {};
  const type = req.headers['content-type'] ?? '';
  if (!FORM_TYPE.test(type)) {
    throw bad(ErrorCode.UnsupportedMedia, `expected a form (application/x-www-form-urlencoded), got '${type || 'none'}'`, [{ field: 'Content-Type', problem: 'must be application/x-www-form-urlencoded' }]);
  }
  const raw = await readRaw(req, limit);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw bad(ErrorCode.ValidationFailed, 'the form is not UTF-8', [{ field: 'body', problem: 'is not UTF-8' }]);
  }
  const fields: FormFields = Object.create(null) as FormFields;
  const problems: FieldProblem[] = [];
  for (const [name, value] of new URLSearchParams(text)) {
    const problem = textProblem(name) ?? textProblem(value);
    if (name.length > 100 || problem) problems.push({ field: name.slice(0, 100), problem: problem ?? 'field name too long' });
    else if (name in fields) problems.push({ field: name, problem: 'given more than once' });
    else fields[name] = value;
  }
  if (problems.length > 0) throw bad(ErrorCode.ValidationFailed, `form: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
  return fields;
}

/**
 * Reads a web form's body after the guards and checks its CSRF token before the handler runs: the session's token
 * for a request made with the session cookie, the sign-in nonce's for the sign-in form; a bearer-token caller (the
 * CLI, the tests' API client) sends no cookie and needs none. A missing or wrong token is a 403 that says so.
 */
@Injectable()
export class FormInterceptor implements NestInterceptor {
  constructor(private readonly csrf: CsrfService) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const req = context.switchToHttp().getRequest<FormRequest>();
    const fields = await readForm(req);
    const presented = fields[CSRF_FIELD];
    delete fields[CSRF_FIELD];
    const login = Reflect.getMetadata(LOGIN_FORM_KEY, context.getHandler()) === true;
    const refuse = (): never => {
      throw new DomainError(
        ErrorCode.Forbidden,
        presented === undefined ? 'missing CSRF token: this form must be sent from an Assay page (reload it and try again)' : 'wrong CSRF token: the form is stale or was not made by Assay; reload the page and try again',
        [{ field: CSRF_FIELD, problem: presented === undefined ? 'missing' : 'does not match this session' }],
      );
    };
    if (login) {
      if (!(await this.csrf.verifyLogin(readCookie(req, LOGIN_COOKIE), presented))) refuse();
    } else if (req.credentialSource === 'cookie' && req.headers[CSRF_HEADER] === undefined) {
      // (A header, when sent, was already checked by the guard.)
      if (!req.sessionToken || !(await this.csrf.verifySession(req.sessionToken, presented))) refuse();
    }
    req.form = fields;
    return next.handle();
  }
}

const LOGIN_FORM_KEY = 'assay:login-form';

/** A web form route: its body is a form, its CSRF token the `_csrf` field. */
export const FormRoute = (opts: { login?: boolean } = {}): MethodDecorator =>
  applyDecorators(SetMetadata(CSRF_IN_FORM_KEY, true), SetMetadata(LOGIN_FORM_KEY, opts.login === true), UseInterceptors(FormInterceptor));

/** The form's fields (without `_csrf`), read by FormInterceptor. */
export const Form = createParamDecorator((_data: unknown, ctx: ExecutionContext): FormFields => {
  const req = ctx.switchToHttp().getRequest<FormRequest>();
  if (!req.form) throw new Error('@Form() used on a route without @FormRoute()');
  return req.form;
});
