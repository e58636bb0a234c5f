import { Controller, Get, Header, HttpCode, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access, AccessTable, EVERY_ROLE } from '../auth/access.decorator';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Public, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { AuthService } from '../auth/auth.service';
import { SecurityAudit } from '../auth/security-audit.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Form, FormFields, FormRoute } from './form-body';
import { LoginForm } from './login-form';
import { safeNext, WebExceptionFilter } from './web-exception.filter';
import { WebViews } from './web-views';

/** Public pages: every caller gets them. */
export const PUBLIC_PAGE: AccessTable = { anonymous: '2xx', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' };

const ALL_ROLES = [Role.Vendor, Role.Evaluator, Role.Regulator, Role.Admin];

/** Sign-in with an API token (kept in an HttpOnly, SameSite=Strict cookie) and sign-out. */
@ApiExcludeController()
@UseFilters(WebExceptionFilter)
@Controller()
export class SessionController {
  constructor(
    private readonly views: WebViews,
    private readonly login: LoginForm,
    private readonly auth: AuthService,
    private readonly security: SecurityAudit,
  ) {}

  @Get('login')
  @Public()
  @Access(PUBLIC_PAGE)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async form(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string> {
    return this.views.renderPlain('login', { title: 'Sign in', next: '/', loginCsrf: await this.login.issue(req, res) });
  }

  /**
   * Checks the token with the same AuthService as bearer authentication, counting failures towards the same lockout;
   * on success the token becomes the session cookie and the browser goes where it was headed.
   */
  @Post('login')
  @Public()
  @FormRoute({ login: true })
  // Everyone may post the form; in the matrix 'anonymous' has no valid token to sign in with.
  @Access({ ...PUBLIC_PAGE, anonymous: '401' })
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async signIn(@Req() req: Request, @Res() res: Response, @Form() form: FormFields): Promise<void> {
    const token = (form['token'] ?? '').trim();
    const next = safeNext(form['next']);
    const again = async (status: number, message: string): Promise<void> => {
      res.status(status).type('html').send(this.views.renderPlain('login', { title: 'Sign in', message, next, loginCsrf: await this.login.issue(req, res) }));
    };
    if (!token) return again(400, 'Enter your API token.');
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const locked = await this.security.lockedFor(ip);
    if (locked > 0) {
      res.setHeader('Retry-After', String(locked));
      return again(429, `Too many failed sign-in attempts from this address; try again in ${locked} s.`);
    }
    const principal = await this.auth.authenticate(token);
    if (!principal) {
      await this.security.failedAuthentication(ip, 'unknown, expired or revoked token (sign-in form)', token);
      return again(401, 'That token is unknown, expired or revoked.');
    }
    this.login.startSession(req, res, token);
    res.redirect(303, next);
  }

  @Post('logout')
  @Roles(...ALL_ROLES)
  @FormRoute()
  @Access(EVERY_ROLE)
  async signOut(@Req() req: Request & AuthenticatedRequest, @Res() res: Response): Promise<void> {
    if (!req.principal) throw new DomainError(ErrorCode.Unauthenticated, 'not signed in');
    this.login.endSession(req, res);
    res.redirect(303, '/login');
  }
}
