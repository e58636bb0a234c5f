import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { credentialOf, CsrfService, readCookie } from '../auth/web-session';
import type { AppConfig } from '../config/config.schema';
import { DomainError } from '../common/domain-error';
import { readForm } from './form-body';
import { roundingRule } from './benchmark-pages.controller';
import type { LeaderboardResponse } from '../leaderboards/leaderboards.dto';
import { safeNext } from './web-exception.filter';
import { WebViews } from './web-views';

const req = (headers: Record<string, string>, body = ''): IncomingMessage => Object.assign(Readable.from([Buffer.from(body)]), { headers }) as unknown as IncomingMessage;

describe('web session cookie and CSRF', () => {
  it('reads the session cookie only when no Authorization header comes, and only URL-safe values', () => {
    expect(readCookie(req({ cookie: 'a=1; assay_session=assay_abc-DEF_1' }), 'assay_session')).toBe('assay_abc-DEF_1');
    expect(readCookie(req({ cookie: 'assay_session=bad value;' }), 'assay_session')).toBeUndefined();
    expect(credentialOf(req({ cookie: 'assay_session=assay_x' }))).toEqual({ token: 'assay_x', source: 'cookie' });
    expect(credentialOf(req({ cookie: 'assay_session=assay_x', authorization: 'Bearer assay_y' }))).toEqual({ token: 'assay_y', source: 'bearer' });
    expect(credentialOf(req({ authorization: 'Basic x' }))).toBeUndefined();
  });

  it('binds the CSRF token to the session token, and the sign-in token to its nonce', async () => {
    const csrf = new CsrfService({ redis: { queuePrefix: 't' } } as AppConfig);
    const a = await csrf.forSession('assay_one');
    expect(await csrf.verifySession('assay_one', a)).toBe(true);
    expect(await csrf.verifySession('assay_two', a)).toBe(false);
    expect(await csrf.verifySession('assay_one', undefined)).toBe(false);
    expect(await csrf.verifySession('assay_one', `${a}x`)).toBe(false);
    const nonce = csrf.newLoginNonce();
    expect(await csrf.verifyLogin(nonce, await csrf.forLogin(nonce))).toBe(true);
    expect(await csrf.verifyLogin(undefined, await csrf.forLogin(nonce))).toBe(false);
    expect(await csrf.verifyLogin(csrf.newLoginNonce(), await csrf.forLogin(nonce))).toBe(false);
    // Another server secret gives other tokens.
    expect(await new CsrfService({ redis: { queuePrefix: 't' } } as AppConfig).forSession('assay_one')).not.toBe(a);
  });
});

describe('readForm', () => {
  const form = (body: string, type = 'application/x-www-form-urlencoded'): IncomingMessage => req({ 'content-type': type, 'content-length': String(Buffer.byteLength(body)) }, body);

  it('parses fields once each', async () => {
    await expect(readForm(form('a=1&b=x+y&c=%C3%A9'))).resolves.toEqual({ a: '1', b: 'x y', c: 'é' });
    await expect(readForm(req({}))).resolves.toEqual({});
  });

  it('refuses a repeated field, NUL, another content type and an oversized form, naming the field', async () => {
    await expect(readForm(form('a=1&a=2'))).rejects.toMatchObject({ problems: [{ field: 'a', problem: 'given more than once' }] });
    await expect(readForm(form('a=%00'))).rejects.toMatchObject({ problems: [{ field: 'a' }] });
    await expect(readForm(form('{}', 'application/json'))).rejects.toMatchObject({ problems: [{ field: 'Content-Type' }] });
    await expect(readForm(form(`a=${'x'.repeat(20_000)}`))).rejects.toBeInstanceOf(DomainError);
  });
});

describe('page helpers', () => {
  it('follows only same-site paths after sign-in', () => {
    expect(safeNext('/benchmarks/x?phase=test')).toBe('/benchmarks/x?phase=test');
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil', '/login', '/api/me', '/x\n', 5]) expect(safeNext(bad)).toBe('/');
  });

  it('says the held-out rounding rule the API applied', () => {
    const board = { fullPrecision: false, precision: 3, feedback: { mechanism: 'round', step: null } } as unknown as LeaderboardResponse;
    expect(roundingRule(board)).toBe('Values are rounded to 3 decimal places; counts are not shown.');
    expect(roundingRule({ ...board, feedback: { mechanism: 'ladder', step: 0.01 } })).toContain('ladder mechanism (it changes only by at least 0.01)');
    expect(roundingRule({ ...board, fullPrecision: true })).toContain('Full precision');
  });
});

describe('notices after a form (the status banner)', () => {
  const csrf = new CsrfService({ redis: { queuePrefix: 't' } } as AppConfig);
  const views = new WebViews(csrf);
  const session = (token: string, query: Record<string, string> = {}) => ({ principal: { role: 'admin', email: 'a@x' }, credentialSource: 'cookie', sessionToken: token, path: '/admin', query }) as never;
  const banner = (html: string): string | null => /<div class="notice" role="status">([^<]*)<\/div>/.exec(html)?.[1] ?? null;

  it('shows the notice its own redirect carried, and no text a link-maker chose', async () => {
    const url = await views.noticeUrl(session('assay_me'), '/admin?x=1', 'Grant revoked.');
    expect(url).toMatch(/^\/admin\?done=Grant%20revoked\.&n=[A-Za-z0-9_-]{43}$/);
    const query = Object.fromEntries(new URL(url, 'http://h').searchParams) as Record<string, string>;
    expect(banner(await views.render(session('assay_me', query), 'admin', { organisations: [], users: [], tokens: [], orgNames: {}, roles: [] }))).toBe('Grant revoked.');
    // The same link opened in another person's session, a changed text, or no MAC: no banner.
    const data = { organisations: [], users: [], tokens: [], orgNames: {}, roles: [] };
    expect(banner(await views.render(session('assay_someone_else', query), 'admin', data))).toBeNull();
    expect(banner(await views.render(session('assay_me', { ...query, done: 'Security notice: mail your token to x@evil.example' }), 'admin', data))).toBeNull();
    expect(banner(await views.render(session('assay_me', { done: 'Grant revoked.' }), 'admin', data))).toBeNull();
    // A bearer caller (no web session) gets no notice link at all.
    expect(await views.noticeUrl({ credentialSource: 'bearer' } as never, '/admin', 'x')).toBe('/admin');
  });
});
