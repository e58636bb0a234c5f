import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CsrfService, LOGIN_COOKIE, SESSION_COOKIE } from '../auth/web-session';

export const SESSION_MAX_AGE_MS = 12 * 60 * 60 * 1000;

/** Cookie attributes: never readable by scripts, never sent cross-site, Secure whenever the page came over https. */
export const cookieOptions = (req: Request, maxAgeMs?: number): { httpOnly: true; sameSite: 'strict'; secure: boolean; path: string; maxAge?: number } => ({
  httpOnly: true,
  sameSite: 'strict',
  secure: req.secure,
  path: '/',
  ...(maxAgeMs === undefined ? {} : { maxAge: maxAgeMs }),
});

/** The sign-in form's login-CSRF pair: a random nonce in a cookie, its HMAC in the form. */
@Injectable()
export class LoginForm {
  constructor(private readonly csrf: CsrfService) {}

  async issue(req: Request, res: Response): Promise<string> {
    const nonce = this.csrf.newLoginNonce();
    res.cookie(LOGIN_COOKIE, nonce, cookieOptions(req, 60 * 60 * 1000));
    return this.csrf.forLogin(nonce);
  }

  /** Signs in: the API token becomes the session cookie for a working day (the token's own expiry still applies). */
  startSession(req: Request, res: Response, token: string): void {
    res.clearCookie(LOGIN_COOKIE, cookieOptions(req));
    res.cookie(SESSION_COOKIE, token, cookieOptions(req, SESSION_MAX_AGE_MS));
  }

  endSession(req: Request, res: Response): void {
    res.clearCookie(SESSION_COOKIE, cookieOptions(req));
  }
}
