import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AppConfig } from '../config/config.schema';
import { DomainError } from '../common/domain-error';
import { AuthGuard, CSRF_IN_FORM_KEY } from './auth.guard';
import { ROLES_KEY, type Principal } from './auth.decorators';
import { Role } from './auth.entity';
import type { AuthService } from './auth.service';
import type { SecurityAudit } from './security-audit.service';
import { CsrfService } from './web-session';

const VENDOR: Principal = { userId: 'u1', role: Role.Vendor, organisationId: 'o1', email: 'v@x.test' };
const TOKEN = 'assay_good';

function handler(opts: { form?: boolean } = {}): () => void {
  const h = (): void => undefined;
  Reflect.defineMetadata(ROLES_KEY, [Role.Vendor], h);
  if (opts.form) Reflect.defineMetadata(CSRF_IN_FORM_KEY, true, h);
  return h;
}

function context(h: () => void, req: Record<string, unknown>): ExecutionContext {
  const res = { setHeader: jest.fn() };
  return { getHandler: () => h, getClass: () => class {}, switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }) } as unknown as ExecutionContext;
}

describe('AuthGuard with the web session cookie', () => {
  const csrf = new CsrfService({ redis: { queuePrefix: 't' } } as AppConfig);
  const auth = { authenticate: async (t: string) => (t === TOKEN ? VENDOR : null) } as unknown as AuthService;
  const security = { lockedFor: async () => 0, failedAuthentication: jest.fn(async () => 0), denied: jest.fn(async () => undefined) } as unknown as SecurityAudit;
  const guard = new AuthGuard(new Reflector(), auth, security, csrf);
  const req = (method: string, headers: Record<string, string>): Record<string, unknown> => ({ method, path: '/x', headers, ip: '127.0.0.1', socket: {} });

  it('authenticates a GET by the cookie and remembers how', async () => {
    const r = req('GET', { cookie: `assay_session=${TOKEN}` });
    await expect(guard.canActivate(context(handler(), r))).resolves.toBe(true);
    expect(r).toMatchObject({ principal: VENDOR, credentialSource: 'cookie', sessionToken: TOKEN });
  });

  it('refuses a cookie-authenticated write without the X-CSRF-Token header, or with a wrong one (403)', async () => {
    await expect(guard.canActivate(context(handler(), req('POST', { cookie: `assay_session=${TOKEN}` })))).rejects.toThrow(/missing CSRF token/);
    await expect(guard.canActivate(context(handler(), req('DELETE', { cookie: `assay_session=${TOKEN}`, 'x-csrf-token': 'forged' })))).rejects.toThrow(/wrong CSRF token/);
    const ok = req('POST', { cookie: `assay_session=${TOKEN}`, 'x-csrf-token': await csrf.forSession(TOKEN) });
    await expect(guard.canActivate(context(handler(), ok))).resolves.toBe(true);
  });

  it('leaves a form route’s check to the form reader, unless a header is sent', async () => {
    await expect(guard.canActivate(context(handler({ form: true }), req('POST', { cookie: `assay_session=${TOKEN}` })))).resolves.toBe(true);
    await expect(guard.canActivate(context(handler({ form: true }), req('POST', { cookie: `assay_session=${TOKEN}`, 'x-csrf-token': 'forged' })))).rejects.toBeInstanceOf(DomainError);
  });

  it('ignores the cookie when a bearer token comes, and needs no CSRF token then', async () => {
    const r = req('POST', { cookie: 'assay_session=assay_other', authorization: `Bearer ${TOKEN}` });
    await expect(guard.canActivate(context(handler(), r))).resolves.toBe(true);
    expect(r).toMatchObject({ credentialSource: 'bearer' });
  });

  it('refuses an unknown session cookie as unauthenticated and counts the failure', async () => {
    await expect(guard.canActivate(context(handler(), req('GET', { cookie: 'assay_session=assay_bad' })))).rejects.toThrow(/session has ended/);
    expect(security.failedAuthentication).toHaveBeenCalled();
  });
});
