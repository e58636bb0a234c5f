import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Principal, PUBLIC_KEY, ROLES_KEY } from './auth.decorators';
import { Role } from './auth.entity';
import { AuthService } from './auth.service';

/** Global guard: every route is either @Public or names the roles that may call it. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles || roles.length === 0) {
      // A route that forgot to declare its roles is closed, not open.
      throw new DomainError(ErrorCode.Forbidden, 'this endpoint declares no roles');
    }
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; principal?: Principal }>();
    const header = request.headers['authorization'];
    if (!header) throw new DomainError(ErrorCode.Unauthenticated, 'missing Authorization header (expected: Bearer <token>)', [{ field: 'Authorization', problem: 'missing' }]);
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new DomainError(ErrorCode.Unauthenticated, 'Authorization header must be "Bearer <token>"', [{ field: 'Authorization', problem: 'malformed' }]);
    const principal = await this.auth.authenticate(match[1]);
    if (!principal) throw new DomainError(ErrorCode.Unauthenticated, 'unknown or revoked API token', [{ field: 'Authorization', problem: 'unknown or revoked token' }]);
    if (!roles.includes(principal.role)) {
      throw new DomainError(ErrorCode.Forbidden, `role '${principal.role}' may not do this; allowed: ${roles.join(', ')}`);
    }
    request.principal = principal;
    return true;
  }
}
