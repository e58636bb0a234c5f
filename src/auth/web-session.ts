import { Injectable, Optional } from '@nestjs/common';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { APP_CONFIG } from '../config/config.module';
import { Inject } from '@nestjs/common';
import type { AppConfig } from '../config/config.schema';
import { sha256Hex } from '../common/hashing';
import { QueueName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';

/**
 * The browser's session (issue 10, web interface): the API token a person signed in with, kept in an HttpOnly,
 * SameSite=Strict cookie (Secure over https) that no script can read. Requests that carry the cookie instead of an
 * Authorization header are authenticated exactly like bearer tokens (AuthService.authenticate); every state-changing
 * request made with the cookie must also carry the session's CSRF token (synchronizer token: HMAC of the token's id
 * with a server secret), in the X-CSRF-Token header (fetch/XHR) or the `_csrf` form field (forms).
 */
export const SESSION_COOKIE = 'assay_session';
/** The sign-in form's pre-session nonce (login CSRF): a random value bound to the form's `_csrf` field. */
export const LOGIN_COOKIE = 'assay_login';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

/** How the request proved who it is. */
export type CredentialSource = 'bearer' | 'cookie';

export const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'];

/** One cookie's value from the Cookie header (first occurrence); undefined when absent or malformed. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    // Tokens and nonces are URL-safe ASCII: anything else is not ours.
    return /^[A-Za-z0-9_-]{1,200}$/.test(raw) ? raw : undefined;
  }
  return undefined;
}

/** The session token from the cookie, for a request without an Authorization header. */
export function sessionTokenOf(req: IncomingMessage): string | undefined {
  return req.headers.authorization === undefined ? readCookie(req, SESSION_COOKIE) : undefined;
}

/** The credential a request presents, whichever way: bearer header first, else the session cookie. */
export function credentialOf(req: IncomingMessage): { token: string; source: CredentialSource } | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    return bearer ? { token: bearer, source: 'bearer' } : undefined;
  }
  const cookie = readCookie(req, SESSION_COOKIE);
  return cookie ? { token: cookie, source: 'cookie' } : undefined;
}

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * CSRF tokens. The server secret lives in Redis, which every API process shares (SET NX on first use), so a form
 * rendered by one process is accepted by another; it never leaves the server. A session's token is
 * HMAC-SHA256(secret, "session:" + sha256(API token)): the token's stored id, so it is bound to that one session and
 * changes when the person signs in with another token.
 */
@Injectable()
export class CsrfService {
  private secret: Buffer | null = null;
  private readonly fallback = randomBytes(32);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    // Absent in processes without queues (the CLI's admin context): a per-process secret is enough there.
    @Optional() private readonly queues?: QueueService,
  ) {}

  private async key(): Promise<Buffer> {
    if (this.secret) return this.secret;
    if (!this.queues) return this.fallback;
    const redis = this.queues.queue(QueueName.Scoring).client;
    const name = `${this.config.redis.queuePrefix}:web:csrf-secret`;
    await redis.set(name, randomBytes(32).toString('hex'), 'NX');
    const stored = await redis.get(name);
    if (!stored || !/^[0-9a-f]{64}$/.test(stored)) throw new Error('the CSRF secret in Redis is missing or malformed');
    this.secret = Buffer.from(stored, 'hex');
    return this.secret;
  }

  private async mac(purpose: string, value: string): Promise<string> {
    return createHmac('sha256', await this.key()).update(`${purpose}:${value}`).digest('base64url');
  }

  /** The CSRF token of the session signed in with `sessionToken`. */
  forSession(sessionToken: string): Promise<string> {
    return this.mac('session', sha256Hex(sessionToken));
  }

  async verifySession(sessionToken: string, presented: unknown): Promise<boolean> {
    return typeof presented === 'string' && presented.length > 0 && presented.length <= 200 && equal(await this.forSession(sessionToken), presented);
  }

  /**
   * The MAC of a notice shown after a form's redirect ("Grant revoked."), bound to the session: a page shows a
   * `?done=` text only with it, so nobody can put their own words in another person's status banner by a link.
   */
  forNotice(sessionToken: string, text: string): Promise<string> {
    return this.mac('notice', `${sha256Hex(sessionToken)}:${text}`);
  }

  async verifyNotice(sessionToken: string, text: string, presented: unknown): Promise<boolean> {
    return typeof presented === 'string' && presented.length > 0 && presented.length <= 200 && equal(await this.forNotice(sessionToken, text), presented);
  }

  /** A fresh nonce for the sign-in form's cookie. */
  newLoginNonce(): string {
    return randomBytes(24).toString('base64url');
  }

  forLogin(nonce: string): Promise<string> {
    return this.mac('login', nonce);
  }

  async verifyLogin(nonce: string | undefined, presented: unknown): Promise<boolean> {
    return nonce !== undefined && typeof presented === 'string' && presented.length <= 200 && equal(await this.forLogin(nonce), presented);
  }
}
