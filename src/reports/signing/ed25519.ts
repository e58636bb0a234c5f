import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign, verify } from 'node:crypto';

/**
 * Ed25519 through node's crypto, and the key-id and encodings the reports use. Pure: no files, no database (the
 * verifier and the CLI use this without Nest).
 */
export const REPORT_SIGNATURE_ALG = 'Ed25519' as const;

/** A published public key, as GET /api/reports/keys serves it and `assay verify --keys` reads it. */
export interface PublicKeyInfo {
  keyId: string;
  alg: typeof REPORT_SIGNATURE_ALG;
  /** base64 (standard alphabet, padded) of the raw 32-byte Ed25519 public key. */
  publicKey: string;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601 when a newer key took over signing; null while it signs. Retired keys still verify old reports. */
  retiredAt: string | null;
}

export const KEY_ID_PATTERN = /^ed25519-[0-9a-f]{16}$/;
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;
/** An Ed25519 signature (64 bytes) in base64url without padding. */
export const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{86}$/;

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** 'ed25519-' + the first 16 hex digits of sha256(raw public key). */
export const keyIdOf = (rawPublicKey: Buffer): string => `ed25519-${sha256Hex(rawPublicKey).slice(0, 16)}`;

export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

export interface GeneratedKey {
  keyId: string;
  /** base64 of the raw public key. */
  publicKey: string;
  privateKeyPem: string;
}

export function generateReportKey(): GeneratedKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return { keyId: keyIdOf(raw), publicKey: raw.toString('base64'), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** The private key of a PKCS8 PEM, and the raw public key it implies (base64). Throws on anything else. */
export function parsePrivateKeyPem(pem: string): { privateKey: KeyObject; publicKey: string } {
  const privateKey = createPrivateKey({ key: pem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 private key (${privateKey.asymmetricKeyType ?? 'unknown type'})`);
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)).toString('base64') };
}

/** The public key from its published form; undefined when it is not 32 bytes of base64. */
export function publicKeyFromBase64(base64: string): KeyObject | undefined {
  if (typeof base64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(base64)) return undefined;
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

export const signEd25519 = (privateKey: KeyObject, message: Uint8Array): string => sign(null, message, privateKey).toString('base64url');

/** False (never a throw) for a malformed signature or key. */
export function verifyEd25519(publicKey: KeyObject, message: Uint8Array, signature: string): boolean {
  if (typeof signature !== 'string' || !SIGNATURE_PATTERN.test(signature)) return false;
  const bytes = Buffer.from(signature, 'base64url');
  // Only the canonical text of the 64 bytes: base64url's last character carries 4 unused bits, and a decoder that
  // ignores them would take 16 spellings of one signature (a changed character that still verifies).
  if (bytes.length !== 64 || bytes.toString('base64url') !== signature) return false;
  try {
    return verify(null, message, publicKey, bytes);
  } catch {
    return false;
  }
}

/**
 * The message of the digest signature (EvidenceSignature.digestValue): what GET /api/reports/verify checks when all
 * the caller holds is the evidence hash (a printed report), since Ed25519 signs whole messages, not digests.
 */
export const digestMessage = (evidenceSha256: string): Buffer => Buffer.from(`assay.evidence-sha256:${evidenceSha256}`, 'utf8');

/**
 * A keys file as GET /api/reports/keys serves it (`{ keys: [...] }`), or a bare array of keys; throws naming what is
 * wrong. Used by `assay verify --keys`.
 */
export function parseKeysDocument(text: string): PublicKeyInfo[] {
  const doc = JSON.parse(text) as unknown;
  const list = Array.isArray(doc) ? doc : typeof doc === 'object' && doc !== null && Array.isArray((doc as { keys?: unknown }).keys) ? (doc as { keys: unknown[] }).keys : null;
  if (!list) throw new Error('keys file: expected { "keys": [...] } as GET /api/reports/keys serves it');
  return list.map((k: unknown, i) => {
    const key = k as Partial<PublicKeyInfo> | null;
    if (!key || typeof key.keyId !== 'string' || !KEY_ID_PATTERN.test(key.keyId)) throw new Error(`keys file: keys[${i}].keyId must look like ed25519-<16 hex>`);
    if (key.alg !== REPORT_SIGNATURE_ALG) throw new Error(`keys file: keys[${i}].alg must be Ed25519`);
    if (typeof key.publicKey !== 'string' || !publicKeyFromBase64(key.publicKey)) throw new Error(`keys file: keys[${i}].publicKey must be the base64 of 32 bytes`);
    if (keyIdOf(Buffer.from(key.publicKey, 'base64')) !== key.keyId) throw new Error(`keys file: keys[${i}].keyId does not match its public key`);
    return { keyId: key.keyId, alg: REPORT_SIGNATURE_ALG, publicKey: key.publicKey, createdAt: String(key.createdAt ?? ''), retiredAt: key.retiredAt == null ? null : String(key.retiredAt) };
  });
}
