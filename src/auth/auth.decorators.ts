import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { Role } from './auth.entity';

export const ROLES_KEY = 'assay:roles';
export const PUBLIC_KEY = 'assay:public';
/**
 * Set on the routes federated nodes call (src/federation): they authenticate by a node's Ed25519 signature, in their
 * own guard, and never by a user's token; the global AuthGuard leaves them to it and takes no node signature itself.
 */
export const NODE_SIGNED_KEY = 'assay:node-signed';

/** Only these roles may call the endpoint (every endpoint declares its roles or is @Public). */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES_KEY, roles);
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

export interface Principal {
  userId: string;
  role: Role;
  organisationId: string | null;
  email: string;
}

export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  const request = ctx.switchToHttp().getRequest<{ principal?: Principal }>();
  if (!request.principal) throw new Error('CurrentPrincipal used on a public route');
  return request.principal;
});
