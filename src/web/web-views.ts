import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import nunjucks from 'nunjucks';
import { join } from 'node:path';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import type { Principal } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { CsrfService } from '../auth/web-session';
import { packageRoot } from '../common/package-root';
import { FragmentSlots, HtmlPage } from './html-page';

/** Templates and static files sit in src/web (tsc does not copy them): found from the package root at run time. */
export const WEB_DIR = join(packageRoot(), 'src', 'web');

export interface NavItem {
  href: string;
  label: string;
}

/** What each role finds in the header: only pages it may open. */
export function navFor(principal: Principal | undefined): NavItem[] {
  if (!principal) return [];
  const items: NavItem[] = [{ href: '/', label: 'Benchmarks' }, { href: '/submissions', label: 'Submissions' }];
  if (principal.role === Role.Vendor) items.push({ href: '/submissions/new', label: 'Submit' });
  items.push({ href: '/reports', label: 'Reports' });
  if (principal.role === Role.Admin) items.push({ href: '/admin', label: 'Administration' });
  return items;
}

const number = (value: unknown, digits = 3): string => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');

/** Server-side rendering with nunjucks, autoescaping everything (a value is never markup unless a template says so). */
@Injectable()
export class WebViews {
  private readonly env: nunjucks.Environment;

  constructor(private readonly csrf: CsrfService) {
    this.env = new nunjucks.Environment(new nunjucks.FileSystemLoader(join(WEB_DIR, 'views'), { noCache: false }), { autoescape: true, throwOnUndefined: false });
    this.env.addFilter('num', number);
    this.env.addFilter('pct', (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '—'));
    this.env.addFilter('when', (v: unknown) => (typeof v === 'string' ? v.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—'));
    this.env.addFilter('duration', (ms: unknown) => (typeof ms === 'number' ? (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`) : '—'));
    this.env.addFilter('bytes', (n: unknown) => (typeof n === 'number' ? (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`) : '—'));
    // Values as the API returns them: the public view is already rounded by the held-out rules (shown as is, never
    // re-rounded or padded); full-precision values are shown to 4 decimals for legibility.
    this.env.addFilter('metric', (v: unknown, full = false) => (typeof v === 'number' && Number.isFinite(v) ? (full ? v.toFixed(4) : String(v)) : '—'));
    this.env.addFilter('short', (s: unknown, n = 12) => (typeof s === 'string' ? s.slice(0, n) : ''));
  }

  /**
   * Renders `view` inside the layout, with the caller, its navigation, (for a web session) its CSRF token, and the
   * notice of the form that redirected here when its MAC verifies for this session (noticeUrl).
   */
  async render(req: Request & AuthenticatedRequest, view: string, data: Record<string, unknown> = {}): Promise<string> {
    const principal = req.principal;
    const session = req.credentialSource === 'cookie' && req.sessionToken ? req.sessionToken : null;
    const csrfToken = session ? await this.csrf.forSession(session) : '';
    const text = typeof req.query?.['done'] === 'string' ? req.query['done'].slice(0, 500) : null;
    const notice = session && text && (await this.csrf.verifyNotice(session, text, req.query?.['n'])) ? text : null;
    return this.env.render(`${view}.njk`, { ...data, principal, csrfToken, nav: navFor(principal), path: req.path, notice });
  }

  /** As `render`, with kept fragments spliced in as bytes where `data` holds their slots (FragmentSlots). */
  async renderPage(req: Request & AuthenticatedRequest, view: string, data: Record<string, unknown>, slots: FragmentSlots): Promise<HtmlPage> {
    return slots.splice(await this.render(req, view, data));
  }

  /**
   * Where a form redirects with its notice: `path?done=<text>&n=<MAC for this session>` (no notice outside a web session).
   * The page at `path` declares both query parameters (the edge interceptor refuses unknown ones); render reads them.
   */
  async noticeUrl(req: Request & AuthenticatedRequest, path: string, text: string): Promise<string> {
    const bare = path.split('?')[0] as string;
    if (req.credentialSource !== 'cookie' || !req.sessionToken) return bare;
    return `${bare}?done=${encodeURIComponent(text)}&n=${encodeURIComponent(await this.csrf.forNotice(req.sessionToken, text))}`;
  }

  /** A piece of a page (no layout, no caller): what may be kept and served to every reader of the same data. */
  renderFragment(view: string, data: Record<string, unknown>): string {
    return this.env.render(`${view}.njk`, data);
  }

  /** A page outside any session (sign-in, errors before authentication). */
  renderPlain(view: string, data: Record<string, unknown>): string {
    return this.env.render(`${view}.njk`, { nav: [], csrfToken: '', ...data });
  }
}
