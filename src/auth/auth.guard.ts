import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { DomainError, ErrorCode } from '../common/domain-error';
import { NODE_SIGNED_KEY, Principal, PUBLIC_KEY, ROLES_KEY } from './auth.decorators';
import { Role } from './auth.entity';
import { AuthService } from './auth.service';
import { SecurityAudit } from './security-audit.service';
import { CredentialSource, CSRF_HEADER, CsrfService, SAFE_METHODS, sessionTokenOf } from './web-session';

/** Set on web form routes (src/web): their CSRF token comes in the form body, which the form reader checks. */
export const CSRF_IN_FORM_KEY = 'assay:csrf-in-form';

/** What the guard leaves on the request besides the principal. */
export interface AuthenticatedRequest {
  principal?: Principal;
  /** How the caller authenticated; 'cookie': the web session (src/auth/web-session.ts). */
  credentialSource?: CredentialSource;
  /** The web session's token (only when credentialSource is 'cookie'), for the form reader's CSRF check. */
  sessionToken?: string;
}

const tooMany = (res: Response, seconds: number): DomainError => {
  res.setHeader('Retry-After', String(seconds));
  return new DomainError(ErrorCode.TooManyRequests, `too many failed authentication attempts from this address; retry after ${seconds} s`);
};

/**
 * Global guard: every route is either @Public or names the roles that may call it. A public route still learns who
 * calls when a valid token comes with the request (health shows admins more), but a bad token there is not refused.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly security: SecurityAudit,
    private readonly csrf: CsrfService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<Request & AuthenticatedRequest>();
    const response = context.switchToHttp().getResponse<Response>();
    const header = request.headers['authorization'];
    const ip = request.ip ?? request.socket.remoteAddress ?? 'unknown';
    // The web session: the same token in an HttpOnly cookie, used only when no Authorization header comes.
    const cookieToken = sessionTokenOf(request);
    // A node's route: its own guard (NodeSignatureGuard) verifies the node's signature and refuses user credentials.
    if (this.reflector.getAllAndOverride<boolean>(NODE_SIGNED_KEY, targets)) return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) {
      // The session cookie is not looked at here: a stale cookie on every stylesheet request would lock its owner out.
      const bearer = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
      if (bearer && (await this.security.lockedFor(ip)) === 0) {
        const principal = await this.auth.authenticate(bearer);
        if (principal) {
          request.principal = principal;
          request.credentialSource = 'bearer';
        }
        // Counted like anywhere else: health's admin view must not become an oracle for guessing tokens.
        else await this.security.failedAuthentication(ip, 'unknown, expired or revoked token (public route)', bearer);
      }
      return true;
    }
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles || roles.length === 0) {
      // A route that forgot to declare its roles is closed, not open.
      throw new DomainError(ErrorCode.Forbidden, 'this endpoint declares no roles');
    }
    if (!header && !cookieToken) throw new DomainError(ErrorCode.Unauthenticated, 'missing Authorization header (expected: Bearer <token>)', [{ field: 'Authorization', problem: 'missing' }]);
    // A locked-out address is refused before any token lookup: the refusal itself must be cheap.
    const locked = await this.security.lockedFor(ip);
    if (locked > 0) throw tooMany(response, locked);
    if (header === undefined) return this.fromCookie(context, request, response, { roles, ip, token: cookieToken as string });
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      const lock = await this.security.failedAuthentication(ip, 'malformed Authorization header', null);
      if (lock > 0) throw tooMany(response, lock);
      throw new DomainError(ErrorCode.Unauthenticated, 'Authorization header must be "Bearer <token>"', [{ field: 'Authorization', problem: 'malformed' }]);
    }
    const principal = await this.auth.authenticate(match[1]);
    if (!principal) {
      const lock = await this.security.failedAuthentication(ip, 'unknown, expired or revoked token', match[1]);
      if (lock > 0) throw tooMany(response, lock);
      throw new DomainError(ErrorCode.Unauthenticated, 'unknown, expired or revoked API token', [{ field: 'Authorization', problem: 'unknown, expired or revoked token' }]);
    }
    if (!roles.includes(principal.role)) {
      await this.security.denied(principal, 403, { entityType: 'route', entityId: `${request.method} ${request.path}`, route: `${request.method} ${request.path}` });
      throw new DomainError(ErrorCode.Forbidden, `role '${principal.role}' may not do this; allowed: ${roles.join(', ')}`);
    }
    request.principal = principal;
    request.credentialSource = 'bearer';
    return true;
  }

  /**
   * The web session's cookie: authenticated like a bearer token; a state-changing request must also prove it comes
   * from Assay's own pages (CSRF), by the X-CSRF-Token header or, on web form routes, the form's `_csrf` field.
   */
  private async fromCookie(
    context: ExecutionContext,
    request: Request & AuthenticatedRequest,
    response: Response,
    opts: { roles: Role[]; ip: string; token: string },
  ): Promise<boolean> {
    const principal = await this.auth.authenticate(opts.token);
    if (!principal) {
      const lock = await this.security.failedAuthentication(opts.ip, 'unknown, expired or revoked session cookie', opts.token);
      if (lock > 0) throw tooMany(response, lock);
      throw new DomainError(ErrorCode.Unauthenticated, 'your session has ended (the token is unknown, expired or revoked): sign in again', [{ field: 'Cookie', problem: 'unknown, expired or revoked token' }]);
    }
    if (!opts.roles.includes(principal.role)) {
      await this.security.denied(principal, 403, { entityType: 'route', entityId: `${request.method} ${request.path}`, route: `${request.method} ${request.path}` });
      throw new DomainError(ErrorCode.Forbidden, `role '${principal.role}' may not do this; allowed: ${opts.roles.join(', ')}`);
    }
    if (!SAFE_METHODS.includes(request.method)) {
      const inForm = this.reflector.get<boolean | undefined>(CSRF_IN_FORM_KEY, context.getHandler()) === true;
      const presented = request.headers[CSRF_HEADER];
      // A form route checks its `_csrf` field once its body is read (src/web/form-body.ts); a header, when sent, must be right.
      if (presented !== undefined || !inForm) {
        if (!(await this.csrf.verifySession(opts.token, presented))) {
          await this.security.denied(principal, 403, { entityType: 'csrf', entityId: `${request.method} ${request.path}`, route: `${request.method} ${request.path}` });
          throw new DomainError(
            ErrorCode.Forbidden,
            presented === undefined ? 'missing CSRF token: a request made with the session cookie must send the X-CSRF-Token header' : 'wrong CSRF token: reload the page and try again',
            [{ field: CSRF_HEADER, problem: presented === undefined ? 'missing' : 'does not match this session' }],
          );
        }
      }
    }
    request.principal = principal;
    request.credentialSource = 'cookie';
    request.sessionToken = opts.token;
    return true;
  }
}
