import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evidenceFixture } from '../../test/support/evidence-fixture';
import { generateReportKey, parsePrivateKeyPem, PublicKeyInfo } from '../reports/signing/ed25519';
import { signEvidence } from '../reports/signing/report-signer';
import { evidenceScript, sealHtml } from '../reports/signing/seal';
import { AssayClient } from './api-client';
import { verifyFile } from './verify.command';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '..', '..');

/** The API as the CLI sees it, at the adapter boundary: GET /api/reports/keys answers these keys. */
class KeysClient extends AssayClient {
  readonly asked: string[] = [];
  constructor(private readonly keys: PublicKeyInfo[]) {
    super('http://127.0.0.1:1');
  }
  override async get<T>(path: string): Promise<T> {
    this.asked.push(path);
    return { keys: this.keys } as T;
  }
}

describe('assay verify', () => {
  const g = generateReportKey();
  const key = { keyId: g.keyId, publicKey: g.publicKey, privateKey: parsePrivateKeyPem(g.privateKeyPem).privateKey };
  const info: PublicKeyInfo = { keyId: g.keyId, alg: 'Ed25519', publicKey: g.publicKey, createdAt: '2026-12-01T00:00:00.000Z', retiredAt: null };
  const signed = signEvidence(evidenceFixture(), key);
  const html = sealHtml(`<!doctype html><html><body><p>AUROC 0.91</p>${evidenceScript(signed)}</body></html>`, signed, key);
  let dir: string;
  const path = (name: string): string => join(dir, name);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'assay-verify-'));
    writeFileSync(path('report.html'), html);
    writeFileSync(path('tampered.html'), html.replace('0.91', '0.97'));
    writeFileSync(path('evidence.json'), JSON.stringify(signed));
    writeFileSync(path('keys.json'), JSON.stringify({ keys: [info] }));
    writeFileSync(path('bad-keys.json'), JSON.stringify({ keys: [{ ...info, keyId: 'ed25519-0000000000000000' }] }));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints every check and says VALID with a keys file, offline', async () => {
    const lines: string[] = [];
    const result = await verifyFile({ file: path('report.html'), keysFile: path('keys.json') }, (l) => lines.push(l));
    expect(result.valid).toBe(true);
    expect(lines[0]).toContain(`html report ${signed.evidence.reportId}`);
    expect(lines.filter((l) => l.startsWith('  ok   '))).toHaveLength(result.checks.length);
    expect(lines[lines.length - 1]).toBe('VALID');
  });

  it('says which check fails for a tampered report, with keys from the API', async () => {
    const client = new KeysClient([info]);
    const lines: string[] = [];
    const result = await verifyFile({ file: path('tampered.html'), client }, (l) => lines.push(l));
    expect(client.asked).toEqual(['/api/reports/keys']);
    expect(result.valid).toBe(false);
    expect(lines.filter((l) => l.includes('FAIL'))).toEqual([expect.stringMatching(/^ {2}FAIL document-hash: the document hashes to [0-9a-f]{64}; the seal says "[0-9a-f]{64}"/)]);
    expect(lines[lines.length - 1]).toBe('INVALID');
  });

  it('refuses a keys file whose key id does not match its key', async () => {
    await expect(verifyFile({ file: path('evidence.json'), keysFile: path('bad-keys.json') }, () => undefined)).rejects.toThrow(/keyId does not match its public key/);
  });

  it('exits 0 for a valid report and 1 for an invalid one (the real command line)', async () => {
    const run = (file: string): Promise<{ code: number; out: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.js'), join(ROOT, 'src/cli/main.ts'), 'verify', file, '--keys', path('keys.json')], { cwd: ROOT }, (error, stdout) => {
          resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: stdout });
        });
      });
    const good = await run(path('evidence.json'));
    expect(good).toMatchObject({ code: 0, out: expect.stringContaining('VALID') });
    const bad = await run(path('tampered.html'));
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('FAIL document-hash');
  });
});
