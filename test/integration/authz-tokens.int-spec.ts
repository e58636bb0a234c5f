import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../../src/cli/api-client';
import { Database } from '../../src/database/database.module';
import { QueueName } from '../../src/queue/queue.constants';
import { QueueService } from '../../src/queue/queue.service';
import { startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(120_000);

interface AuditRow {
  seq: number;
  action: string;
  entityType: string;
  entityId: string;
  actorUserId: string | null;
  payload: Record<string, unknown>;
}

describe('tokens, lockout, headers, health and file modes (API on the real stack)', () => {
  let stack: TestStack;
  const MAX_FAILURES = 10;

  const call = (path: string, token?: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${stack.baseUrl}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) } });

  const mint = async (userId: string, body: Record<string, unknown> = { label: 't' }): Promise<{ token: string; tokenId: string; expiresAt: string }> =>
    stack.admin.post(`/api/users/${userId}/tokens`, body);

  const auditSince = async (seq: number): Promise<AuditRow[]> => stack.admin.get<AuditRow[]>(`/api/audit?after=${seq}&limit=1000`);
  const head = async (): Promise<number> => (await stack.admin.get<{ entries: number }>('/api/audit/verify')).entries;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_AUTH_MAX_FAILURES: String(MAX_FAILURES), ASSAY_AUTH_FAILURE_WINDOW_S: '600', ASSAY_TOKEN_DEFAULT_DAYS: '7', ASSAY_TOKEN_MAX_DAYS: '30' } });
  });

  afterAll(async () => {
    await stack?.close();
  });

  // Every test starts with no failures counted against 127.0.0.1 (the window is shared through Redis).
  beforeEach(async () => {
    await clearLockouts(stack);
  });

  it('tokens expire: default lifetime, maximum enforced, an expired token is refused', async () => {
    const { userId } = await stack.vendor('Expiry Org');
    const t = await mint(userId);
    const days = (Date.parse(t.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7);
    const refused = await mint(userId, { label: 'x', expiresAt: new Date(Date.now() + 31 * 86_400_000).toISOString() }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 400, body: { problems: [{ field: 'expiresAt', problem: 'at most 30 days from now' }] } });
    const past = await mint(userId, { label: 'x', expiresAt: new Date(Date.now() - 1000).toISOString() }).catch((e: unknown) => e);
    expect(past).toMatchObject({ status: 400, body: { problems: [{ field: 'expiresAt', problem: 'must be in the future' }] } });
    const chosen = await mint(userId, { label: 'y', expiresAt: new Date(Date.now() + 2 * 86_400_000).toISOString() });
    expect(Math.round((Date.parse(chosen.expiresAt) - Date.now()) / 86_400_000)).toBe(2);
    expect((await call('/api/me', t.token)).status).toBe(200);
    await stack.api.get(Database).manager().query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [t.tokenId]);
    const expired = await call('/api/me', t.token);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toMatchObject({ message: 'unknown, expired or revoked API token' });
  });

  it('lists one’s own tokens without secrets or hashes, revokes them, and stamps last use at most once a minute', async () => {
    const { userId, client } = await stack.vendor('Listing Org');
    const second = await mint(userId, { label: 'second' });
    const mine = await client.get<Record<string, unknown>[]>('/api/tokens');
    expect(mine.map((t) => t.label)).toEqual(['test', 'second']);
    for (const t of mine) {
      expect(Object.keys(t).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'label', 'lastUsedAt', 'prefix', 'revokedAt']);
      expect(JSON.stringify(t)).not.toContain(second.token);
    }
    const db = stack.api.get(Database).manager();
    const lastUsed = async (): Promise<Date | null> => ((await db.query('SELECT last_used_at FROM api_tokens WHERE id = $1', [second.tokenId])) as { last_used_at: Date | null }[])[0]?.last_used_at ?? null;
    expect(await lastUsed()).toBeNull();
    expect((await call('/api/me', second.token)).status).toBe(200);
    const first = await eventuallyValue(lastUsed);
    for (let i = 0; i < 5; i++) expect((await call('/api/me', second.token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect((await lastUsed())?.getTime()).toBe(first.getTime());
    await db.query(`UPDATE api_tokens SET last_used_at = now() - interval '61 seconds' WHERE id = $1`, [second.tokenId]);
    const aged = (await lastUsed()) as Date;
    expect((await call('/api/me', second.token)).status).toBe(200);
    expect((await eventuallyValue(async () => ((await lastUsed())?.getTime() !== aged.getTime() ? lastUsed() : null))).getTime()).toBeGreaterThan(aged.getTime());

    // Someone else's token is absent; one's own is revoked (audited) and then refused.
    const other = await stack.vendor('Other Listing Org');
    expect((await call(`/api/tokens/${second.tokenId}`, undefined, { method: 'DELETE' })).status).toBe(401);
    const otherToken = (await mint(other.userId)).token;
    expect((await call(`/api/tokens/${second.tokenId}`, otherToken, { method: 'DELETE' })).status).toBe(404);
    const before = await head();
    expect(await client.json('DELETE', `/api/tokens/${second.tokenId}`)).toMatchObject({ id: second.tokenId, revokedAt: expect.any(String) });
    expect((await call('/api/me', second.token)).status).toBe(401);
    expect((await auditSince(before)).filter((a) => a.action === 'token.revoked').map((a) => a.entityId)).toEqual([second.tokenId]);
  });

  it('locks an address out after repeated bad tokens (429, Retry-After) and keeps the audit chain bounded', async () => {
    const { userId } = await stack.vendor('Lockout Org');
    const valid = (await mint(userId)).token;
    const before = await head();
    const statuses: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 300; i++) statuses.push((await call('/api/me', `assay_${'x'.repeat(43)}${i}`)).status);
    const elapsed = Date.now() - t0;
    expect(statuses.slice(0, MAX_FAILURES - 1).every((s) => s === 401)).toBe(true);
    expect(statuses[MAX_FAILURES - 1]).toBe(429);
    expect(statuses.slice(MAX_FAILURES).every((s) => s === 429)).toBe(true);
    const locked = await call('/api/me', 'assay_whatever');
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);
    // A valid token from the locked-out address is refused too, without a lookup.
    expect((await call('/api/me', valid)).status).toBe(429);
    expect(await clearLockouts(stack)).toBe(1);
    expect((await call('/api/me', valid)).status).toBe(200);
    const records = (await auditSince(before)).filter((a) => a.entityType === 'source_ip');
    expect(records.map((a) => a.action)).toEqual(['auth.failed', 'auth.locked_out']);
    expect(records[1]?.payload).toMatchObject({ failuresInWindow: MAX_FAILURES, windowSeconds: 600 });
    process.stdout.write(`300 bad tokens: ${elapsed} ms, ${statuses.filter((s) => s === 429).length} refused with 429\n`);
  });

  it('writes denials to the audit log (capped per user and minute)', async () => {
    const { userId } = await stack.vendor('Denied Org');
    const token = (await mint(userId)).token;
    const before = await head();
    for (let i = 0; i < 40; i++) expect((await call('/api/users', token)).status).toBe(403);
    const denials = (await auditSince(before)).filter((a) => a.action === 'access.denied');
    expect(denials.length).toBe(30);
    expect(denials[0]).toMatchObject({ entityType: 'route', entityId: 'GET /api/users', payload: { status: 403, role: 'vendor' } });
  });

  it('audits every sample-data download', async () => {
    const { client, userId } = await stack.vendor('Download Org');
    const before = await head();
    await client.get('/api/benchmarks/wdbc-malignancy/sample-data');
    await client.get('/api/benchmarks/wdbc-malignancy/sample-data');
    const downloads = (await auditSince(before)).filter((a) => a.action === 'download.sample_data');
    expect(downloads.map((d) => d.actorUserId)).toEqual([userId, userId]);
  });

  it('sends security headers', async () => {
    const res = await call('/api/health');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('health: up or down for anyone, detail for admins only', async () => {
    const anonymous = (await (await call('/api/health')).json()) as Record<string, unknown>;
    expect(Object.keys(anonymous).sort()).toEqual(['docker', 'objectStore', 'ok', 'postgres', 'redis']);
    expect(anonymous).toMatchObject({ postgres: 'up', redis: 'up', objectStore: 'up', docker: 'down' });
    expect(JSON.stringify(anonymous)).not.toMatch(/127\.0\.0\.1|latency|worker/);
    const { client } = await stack.vendor('Health Org');
    // Bad tokens on the public route count towards the lockout too, and get the anonymous view.
    const guessed = (await (await call('/api/health', 'assay_guess')).json()) as Record<string, unknown>;
    expect(guessed).toMatchObject({ postgres: 'up' });
    expect(await clearLockouts(stack)).toBe(1);
    expect(Object.keys(await client.get<Record<string, unknown>>('/api/health').catch((e: { body: Record<string, unknown> }) => e.body)).sort()).toEqual(['docker', 'objectStore', 'ok', 'postgres', 'redis']);
    const admin = await stack.admin.get<Record<string, unknown>>('/api/health').catch((e: { body: Record<string, unknown> }) => e.body);
    expect(admin).toMatchObject({ postgres: { ok: true, latencyMs: expect.any(Number) }, objectStore: { detail: { endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:/) } } });
  });

  it('keeps the data directory (object store, work dirs) closed to other users', () => {
    for (const dir of [stack.config.dataDir, join(stack.config.dataDir, 's3'), join(stack.config.dataDir, 'work')]) {
      expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
    }
  });
});

async function eventuallyValue<T>(read: () => Promise<T | null>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Clears this stack's lockout counters (its own Redis prefix); returns how many keys it removed. */
describe('lockout behind a reverse proxy (ASSAY_TRUST_PROXY=loopback)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { ASSAY_AUTH_MAX_FAILURES: '5', ASSAY_AUTH_FAILURE_WINDOW_S: '600', ASSAY_TRUST_PROXY: 'loopback' } });
  });
  afterAll(async () => {
    await clearLockouts(stack);
    await stack?.close();
  });

  it("locks out the client address the proxy forwards, not the proxy's own", async () => {
    const { userId } = await stack.vendor('Proxied Org');
    const valid = (await stack.admin.post<{ token: string }>(`/api/users/${userId}/tokens`, { label: 'p' })).token;
    const from = (ip: string, token: string): Promise<Response> => fetch(`${stack.baseUrl}/api/me`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': ip } });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await from('203.0.113.7', `assay_${'x'.repeat(43)}${i}`)).status);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    expect((await from('203.0.113.7', valid)).status).toBe(429);
    // Another client behind the same proxy is not locked out.
    expect((await from('198.51.100.9', valid)).status).toBe(200);
  });
});

async function clearLockouts(stack: TestStack): Promise<number> {
  const client = stack.api.get(QueueService).queue(QueueName.Scoring).client;
  const keys = await client.keys(`${stack.config.redis.queuePrefix}:authz:fail:*`);
  if (keys.length > 0) await client.del(...keys);
  return keys.length;
}
