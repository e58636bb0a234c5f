import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Principal, PUBLIC_KEY, ROLES_KEY } from './auth.decorators';
import { Role } from './auth.entity';
import { AuthService } from './auth.service';
import { SecurityAudit } from './security-audit.service';

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
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const response = context.switchToHttp().getResponse<Response>();
    const header = request.headers['authorization'];
    const ip = request.ip ?? request.socket.remoteAddress ?? 'unknown';
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) {
      const bearer = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
      if (bearer && (await this.security.lockedFor(ip)) === 0) {
        const principal = await this.auth.authenticate(bearer);
        if (principal) request.principal = principal;
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
    if (!header) throw new DomainError(ErrorCode.Unauthenticated, 'missing Authorization header (expected: Bearer <token>)', [{ field: 'Authorization', problem: 'missing' }]);
    // A locked-out address is refused before any token lookup: the refusal itself must be cheap.
    const locked = await this.security.lockedFor(ip);
    if (locked > 0) throw tooMany(response, locked);
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
    return true;
  }
}
