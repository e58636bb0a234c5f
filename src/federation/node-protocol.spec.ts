import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateNodeKeyFile, readNodeKeyFile, writeNodeKeyFile } from './node-keys';
import { canonicalRequestString, NODE_HEADERS, parseNodePublicKey, signRequest, signResult, verifyRequestSignature, verifyResultSignature } from './node-protocol';

const NODE = '3f1c2b7e-9d4a-4c1e-8b2f-5a6d7e8f9a0b';

describe('node request signing', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const body = Buffer.from('{"waitMs":1000}');
  const sign = (): Record<string, string> => signRequest(privateKey, { method: 'POST', pathWithQuery: '/api/node/jobs/lease?x=1', nodeId: NODE, body, now: 1_764_950_000_000, nonce: 'nonce-nonce-nonce-1' });
  const parts = (h: Record<string, string>, over: Partial<Parameters<typeof canonicalRequestString>[0]> = {}) => ({
    method: 'POST',
    pathWithQuery: '/api/node/jobs/lease?x=1',
    timestamp: h[NODE_HEADERS.timestamp] as string,
    nonce: h[NODE_HEADERS.nonce] as string,
    nodeId: NODE,
    body,
    ...over,
  });

  it('writes the canonical string as method, path with query, timestamp, nonce, node id and the body hash', () => {
    expect(canonicalRequestString(parts(sign()))).toBe(
      // sha256('{"waitMs":1000}')
      `assay-node-request-v1\nPOST\n/api/node/jobs/lease?x=1\n1764950000000\nnonce-nonce-nonce-1\n${NODE}\n${createHash('sha256').update('{"waitMs":1000}').digest('hex')}`,
    );
    expect(canonicalRequestString({ ...parts(sign()), body: Buffer.alloc(0) }).endsWith('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')).toBe(true);
  });

  it('verifies the signature it made, with the signer’s key only', () => {
    const h = sign();
    expect(verifyRequestSignature(publicKey, parts(h), h[NODE_HEADERS.signature] as string)).toBe(true);
    expect(verifyRequestSignature(other.publicKey, parts(h), h[NODE_HEADERS.signature] as string)).toBe(false);
  });

  it.each([
    ['method', { method: 'GET' }],
    ['path', { pathWithQuery: '/api/node/jobs/lease' }],
    ['query', { pathWithQuery: '/api/node/jobs/lease?x=2' }],
    ['timestamp', { timestamp: '1764950000001' }],
    ['nonce', { nonce: 'nonce-nonce-nonce-2' }],
    ['node id', { nodeId: '3f1c2b7e-9d4a-4c1e-8b2f-5a6d7e8f9a0c' }],
    ['body (one byte)', { body: Buffer.from('{"waitMs":1001}') }],
    ['body (whitespace only)', { body: Buffer.from('{"waitMs": 1000}') }],
  ])('refuses the signature when the %s changes', (_what, over) => {
    const h = sign();
    expect(verifyRequestSignature(publicKey, parts(h, over), h[NODE_HEADERS.signature] as string)).toBe(false);
  });

  it('refuses a malformed or non-canonical signature without throwing', () => {
    const h = sign();
    const sig = h[NODE_HEADERS.signature] as string;
    expect(verifyRequestSignature(publicKey, parts(h), 'x')).toBe(false);
    expect(verifyRequestSignature(publicKey, parts(h), `${sig.slice(0, 85)}${sig[85] === 'A' ? 'B' : 'A'}`)).toBe(false);
  });
});

describe('node result signing', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const claim = { jobId: 'j1', attempt: 2, nodeId: NODE, result: { outcome: 'succeeded', output: { aggregates: { n: 3, auc: 0.75 } } } };

  it('signs the canonical JSON, so member order does not matter but every value does', () => {
    const sig = signResult(privateKey, claim);
    expect(verifyResultSignature(publicKey, { ...claim, result: { output: { aggregates: { auc: 0.75, n: 3 } }, outcome: 'succeeded' } }, sig)).toBe(true);
    expect(verifyResultSignature(publicKey, { ...claim, attempt: 3 }, sig)).toBe(false);
    expect(verifyResultSignature(publicKey, { ...claim, jobId: 'j2' }, sig)).toBe(false);
    expect(verifyResultSignature(publicKey, { ...claim, nodeId: '00000000-0000-0000-0000-000000000000' }, sig)).toBe(false);
    expect(verifyResultSignature(publicKey, { ...claim, result: { outcome: 'succeeded', output: { aggregates: { n: 3, auc: 0.76 } } } }, sig)).toBe(false);
  });

  it('is not a request signature: the domains differ', () => {
    const sig = signResult(privateKey, claim);
    const h = { timestamp: '1', nonce: 'n', method: 'POST', pathWithQuery: '/', nodeId: NODE, body: Buffer.alloc(0) };
    expect(verifyRequestSignature(publicKey, h, sig)).toBe(false);
  });
});

describe('node public keys', () => {
  it('reads an SPKI PEM and the base64 of the raw key as the same key', () => {
    const file = generateNodeKeyFile();
    const pem = parseNodePublicKey(file.publicKeyPem);
    const raw = parseNodePublicKey(file.publicKey);
    expect('raw' in pem && pem.raw).toBe(file.publicKey);
    expect('keyId' in raw && raw.keyId).toBe(file.keyId);
  });

  it('refuses another algorithm’s key and garbage', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(parseNodePublicKey(rsa)).toEqual({ problem: expect.stringMatching(/rsa key; expected Ed25519/) });
    expect(parseNodePublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----')).toEqual({ problem: expect.any(String) });
    expect(parseNodePublicKey('A'.repeat(44))).toEqual({ problem: expect.any(String) });
  });
});

describe('node key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'assay-node-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written with mode 0600, read back, and never overwritten', () => {
    const path = join(dir, 'key.json');
    const file = generateNodeKeyFile();
    writeNodeKeyFile(path, file);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readNodeKeyFile(path)).toMatchObject({ publicKey: file.publicKey, keyId: file.keyId });
    expect(() => writeNodeKeyFile(path, generateNodeKeyFile())).toThrow(/EEXIST/);
  });

  it('is refused when group or others can read it', () => {
    const path = join(dir, 'key.json');
    writeNodeKeyFile(path, generateNodeKeyFile());
    chmodSync(path, 0o644);
    expect(() => readNodeKeyFile(path)).toThrow(/lets others read the private key/);
  });
});
