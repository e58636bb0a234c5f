import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { AuditModule } from '../../src/audit/audit.module';
import { AuditService } from '../../src/audit/audit.service';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/config.schema';
import { Database, DatabaseModule } from '../../src/database/database.module';
import type { SignedEvidence } from '../../src/reports/evidence';
import { REPORT_SIGNER, ReportSigner } from '../../src/reports/report-ports';
import { generateReportKey } from '../../src/reports/signing/ed25519';
import { ReportKeyStore } from '../../src/reports/signing/report-keys';
import { ReportSigningModule } from '../../src/reports/signing/report-signing.module';
import { evidenceScript } from '../../src/reports/signing/seal';
import { evidenceFixture } from '../support/evidence-fixture';
import { createTestDatabase } from '../support/test-database';
import { startTestStack, TestStack } from '../support/test-stack';
import { QueueService } from '../../src/queue/queue.service';
import { QueueName } from '../../src/queue/queue.constants';
import { VERIFY_FILE_RATE } from '../../src/reports/signing/report-keys.controller';

jest.setTimeout(120_000);

/** One "process": its own Nest context, connection pool and key cache, on the shared database and key directory. */
async function keyContext(url: string, keyDir: string): Promise<INestApplicationContext> {
  const config = loadConfig({ ASSAY_MODE: 'test', DATABASE_URL: url, ASSAY_REPORT_KEY_DIR: keyDir, ASSAY_LOG_LEVEL: 'error' });
  return NestFactory.createApplicationContext({ module: class KeyTestModule {}, imports: [ConfigModule.forRoot(config), DatabaseModule, AuditModule, ReportSigningModule] }, { logger: ['error'] });
}

describe('report signing keys (real Postgres)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let dir: string;
  let keyDir: string;
  const contexts: INestApplicationContext[] = [];
  const open = async (): Promise<ReportKeyStore> => {
    const ctx = await keyContext(db.url, keyDir);
    contexts.push(ctx);
    return ctx.get(ReportKeyStore);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'assay-keys-'));
    keyDir = join(dir, 'private', 'report-keys');
  });

  afterAll(async () => {
    for (const ctx of contexts) await ctx.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates one key when processes ask for the first time at once, with its private file 0600 in a 0700 directory', async () => {
    const stores = await Promise.all([open(), open(), open()]);
    const keys = await Promise.all(stores.map((s) => s.current()));
    expect(new Set(keys.map((k) => k.keyId)).size).toBe(1);
    const published = await stores[0]!.publicKeys();
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ keyId: keys[0]!.keyId, alg: 'Ed25519', publicKey: keys[0]!.publicKey, retiredAt: null });
    expect(readdirSync(keyDir)).toEqual([`${keys[0]!.keyId}.pem`]);
    expect(statSync(join(keyDir, `${keys[0]!.keyId}.pem`)).mode & 0o777).toBe(0o600);
    expect(statSync(keyDir).mode & 0o777).toBe(0o700);
    // Asking again uses the same key.
    expect((await stores[1]!.current()).keyId).toBe(keys[0]!.keyId);
    expect(await stores[2]!.lookup(keys[0]!.keyId)).toEqual(published[0]);
    expect(await stores[2]!.lookup('ed25519-0000000000000000')).toBeUndefined();
    expect(await stores[2]!.lookup("x' OR 1=1 --")).toBeUndefined();
  });

  it('rotates: the new key signs everywhere, the old one stays published as retired, and both are audited', async () => {
    const [a, b] = [await open(), await open()];
    const before = await a.current();
    const { created, retired } = await a.rotate(null);
    expect(retired).toEqual([before.keyId]);
    expect(created.keyId).not.toBe(before.keyId);
    // Another process that cached the old key picks up the new one.
    expect((await b.current()).keyId).toBe(created.keyId);
    const published = await b.publicKeys();
    expect(published.map((k) => k.keyId)).toEqual([before.keyId, created.keyId]);
    expect(published[0]!.retiredAt).not.toBeNull();
    expect(published[1]!.retiredAt).toBeNull();
    const ctx = contexts[contexts.length - 1]!;
    const rows: { action: string; entity_id: string }[] = await ctx.get(Database).manager().query("SELECT action, entity_id FROM audit_log WHERE entity_type = 'report_signing_key' ORDER BY seq");
    expect(rows.map((r) => r.action)).toEqual(['report_key.created', 'report_key.rotated']);
    expect(rows[1]!.entity_id).toBe(created.keyId);
    expect((await ctx.get(AuditService).verify()).ok).toBe(true);

    // Old reports stay verifiable: a record signed before the rotation still checks against the published keys.
    const signer = ctx.get<ReportSigner>(REPORT_SIGNER);
    const signed = await signer.sign(evidenceFixture());
    expect(signed.signature.keyId).toBe(created.keyId);
  });

  it('ignores an orphan private file (a crash between file and row) and makes a new key when the signing key file is gone', async () => {
    const store = await open();
    const current = await store.current();
    const orphan = generateReportKey();
    writeFileSync(join(keyDir, `${orphan.keyId}.pem`), orphan.privateKeyPem, { mode: 0o600 });
    expect((await store.current()).keyId).toBe(current.keyId);
    expect((await store.publicKeys()).map((k) => k.keyId)).not.toContain(orphan.keyId);

    rmSync(join(keyDir, `${current.keyId}.pem`));
    const fresh = await open();
    const replacement = await fresh.current();
    expect(replacement.keyId).not.toBe(current.keyId);
    expect(existsSync(join(keyDir, `${replacement.keyId}.pem`))).toBe(true);
    expect((await fresh.publicKeys()).map((k) => k.keyId)).toContain(current.keyId);
  });
});

describe('report key and verify routes (the HTTP API on the real stack)', () => {
  let stack: TestStack;
  let signed: SignedEvidence;
  let html: string;
  let pdf: Buffer;

  const post = (body: Buffer | string, type: string): Promise<Response> => fetch(`${stack.baseUrl}/api/reports/verify`, { method: 'POST', headers: { 'content-type': type }, body });

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    const signer = stack.api.get<ReportSigner>(REPORT_SIGNER);
    signed = await signer.sign(evidenceFixture());
    html = await signer.sealHtml(`<!doctype html><html lang="en"><body><h1>Report</h1>${evidenceScript(signed)}</body></html>`, signed);
    const doc = await PDFDocument.create();
    doc.addPage().drawText('Validation report', { x: 50, y: 700, font: await doc.embedFont(StandardFonts.Helvetica) });
    pdf = await signer.sealPdf(await doc.save(), signed);
    // The stack loads the catalogue (and generates its phantoms once per checkout): slow on a busy machine.
  }, 600_000);

  afterAll(async () => {
    await stack?.close();
  });

  it('publishes the keys to anyone, signed in or not', async () => {
    const res = await fetch(`${stack.baseUrl}/api/reports/keys`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { keys: { keyId: string; alg: string; publicKey: string; createdAt: string; retiredAt: string | null }[] };
    expect(body.keys).toEqual([{ keyId: signed.signature.keyId, alg: 'Ed25519', publicKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/), createdAt: expect.any(String), retiredAt: null }]);
  });

  it('verifies uploaded JSON, HTML and PDF reports, and says what does not match in a tampered one', async () => {
    for (const [body, type, format] of [
      [JSON.stringify(signed), 'application/json', 'json'],
      [html, 'text/html; charset=utf-8', 'html'],
      [pdf, 'application/pdf', 'pdf'],
      [pdf, 'application/octet-stream', 'pdf'],
    ] as const) {
      const res = await post(body, type);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ valid: true, format, reportId: signed.evidence.reportId, keyId: signed.signature.keyId, evidenceSha256: signed.signature.evidenceSha256 });
    }
    const tampered = (await (await post(html.replace('<h1>Report</h1>', '<h1>Rep0rt</h1>'), 'text/html')).json()) as { valid: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    expect(tampered.valid).toBe(false);
    expect(tampered.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['document-hash']);
    const garbage = await post(Buffer.from([1, 2, 3]), 'application/octet-stream');
    expect(garbage.status).toBe(200);
    expect(await garbage.json()).toMatchObject({ valid: false, format: 'unknown', checks: [{ name: 'parse', ok: false }] });
  });

  it('refuses a missing body, another content type, a query parameter and a body over 32 MB', async () => {
    expect((await fetch(`${stack.baseUrl}/api/reports/verify`, { method: 'POST' })).status).toBe(400);
    const plain = await post('x', 'text/plain');
    expect(plain.status).toBe(415);
    expect(await plain.json()).toMatchObject({ problems: [{ field: 'Content-Type' }] });
    expect((await fetch(`${stack.baseUrl}/api/reports/verify?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(400);
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${stack.baseUrl}/api/reports/verify`);
      const req = request({ method: 'POST', hostname: url.hostname, port: url.port, path: url.pathname, headers: { 'content-type': 'application/pdf', 'content-length': String(33 * 1024 * 1024) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    expect(status).toBe(413);
  });

  it('checks a signature over a claimed hash, and answers 400 naming the malformed field', async () => {
    const q = (params: Record<string, string>): Promise<Response> => fetch(`${stack.baseUrl}/api/reports/verify?${new URLSearchParams(params).toString()}`);
    const good = { evidenceSha256: signed.signature.evidenceSha256, keyId: signed.signature.keyId, signature: signed.signature.digestValue as string };
    const ok = await q(good);
    expect(ok.status).toBe(200);
    // Signed by the facility's key, but no report holds it (this record was never stored): the signature verifies and the
    // answer says there is no report to compare with, so it is not valid.
    expect(await ok.json()).toMatchObject({ valid: false, checks: [{ name: 'key-known', ok: true }, { name: 'digest-signature', ok: true }, { name: 'report-on-record', ok: false, detail: expect.stringContaining('holds no report') }], report: null });
    const other = (await (await q({ ...good, evidenceSha256: '0'.repeat(64) })).json()) as { valid: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    expect(other.valid).toBe(false);
    expect(other.checks[1]).toMatchObject({ name: 'digest-signature', ok: false });
    const unknown = (await (await q({ ...good, keyId: 'ed25519-0123456789abcdef' })).json()) as { checks: { name: string; ok: boolean; detail: string }[] };
    expect(unknown.checks[0]).toMatchObject({ name: 'key-known', ok: false, detail: expect.stringContaining('ed25519-0123456789abcdef') });
    for (const [field, value] of [['evidenceSha256', 'XYZ'], ['keyId', 'rsa-1'], ['signature', 'not base64url!']] as const) {
      const res = await q({ ...good, [field]: value });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ problems: [{ field }] });
    }
    const missing = await q({ keyId: good.keyId });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { problems: { field: string }[] }).problems.map((p) => p.field)).toEqual(['evidenceSha256', 'signature']);
  });

  it(`answers 429 with Retry-After past ${VERIFY_FILE_RATE.max} file verifications a minute from one address, counted before the body is read; the hash check stays open`, async () => {
    const redis = stack.api.get(QueueService).queue(QueueName.Scoring).client;
    // This file's stack has its own key prefix; the earlier tests' verifications are forgotten so the count starts at 0.
    for (const key of await redis.keys(`${stack.config.redis.queuePrefix}:authz:rate:verify-file:*`)) await redis.del(key);
    const post = (): Promise<Response> => fetch(`${stack.baseUrl}/api/reports/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed) });
    const statuses: number[] = [];
    for (let i = 0; i < VERIFY_FILE_RATE.max; i++) statuses.push((await post()).status);
    expect(new Set(statuses)).toEqual(new Set([200]));
    const refused = await post();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(VERIFY_FILE_RATE.windowS);
    expect(await refused.json()).toMatchObject({ message: expect.stringMatching(/too many report verifications/) });
    const keys = await redis.keys(`${stack.config.redis.queuePrefix}:authz:rate:verify-file:*`);
    expect(keys).toHaveLength(1);
    // Every counter expires (set with its window before it is counted).
    expect(await redis.ttl(keys[0] as string)).toBeGreaterThan(0);
    const digest = new URLSearchParams({ evidenceSha256: signed.signature.evidenceSha256, keyId: signed.signature.keyId, signature: signed.signature.digestValue as string });
    expect((await fetch(`${stack.baseUrl}/api/reports/verify?${digest.toString()}`)).status).toBe(200);
  });
});
