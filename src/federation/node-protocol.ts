import { createPublicKey, KeyObject, randomBytes } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json';
import { sha256Hex } from '../common/hashing';
import { keyIdOf, publicKeyFromBase64, rawPublicKey, signEd25519, verifyEd25519 } from '../reports/signing/ed25519';

/**
 * The hub <-> node wire protocol, shared by the hub's guard and the node's agent (pure: no Nest, no I/O).
 *
 * Every node request carries four headers and an Ed25519 signature over one canonical string, so the hub can tell
 * that this node sent exactly this method, path, query and body, recently, once:
 *
 *   assay-node-request-v1 \n METHOD \n /path?query (as sent) \n timestamp (ms) \n nonce \n nodeId \n sha256(body) hex
 *
 * The body hash is over the exact bytes on the wire (an empty body hashes as the empty string), so no JSON
 * re-serialisation on either side can make a signed body mean something else.
 */
export const NODE_HEADERS = {
  node: 'x-assay-node',
  timestamp: 'x-assay-timestamp',
  nonce: 'x-assay-nonce',
  signature: 'x-assay-signature',
} as const;

/** The node job kind of an evaluation: the hub's run fan-out enqueues it, the node's evaluation handler answers it. */
export const EVALUATE_JOB_KIND = 'evaluate';

export const NODE_REQUEST_DOMAIN = 'assay-node-request-v1';
export const NODE_RESULT_DOMAIN = 'assay-node-result-v1';
/** 16-64 characters of base64url: at least 96 bits from randomBytes on the node. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
/** Milliseconds since the epoch, decimal digits only. */
export const TIMESTAMP_PATTERN = /^[1-9][0-9]{11,14}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface SignedRequestParts {
  method: string;
  /** Path and query string exactly as sent (Express's req.originalUrl). */
  pathWithQuery: string;
  timestamp: string;
  nonce: string;
  nodeId: string;
  body: Uint8Array;
}

export function canonicalRequestString(parts: SignedRequestParts): string {
  return [NODE_REQUEST_DOMAIN, parts.method.toUpperCase(), parts.pathWithQuery, parts.timestamp, parts.nonce, parts.nodeId, sha256Hex(Buffer.from(parts.body))].join('\n');
}

/** The four headers of one signed request (a fresh nonce each call). */
export function signRequest(
  key: KeyObject,
  req: { method: string; pathWithQuery: string; nodeId: string; body: Uint8Array; now?: number; nonce?: string },
): Record<string, string> {
  const timestamp = String(req.now ?? Date.now());
  const nonce = req.nonce ?? randomBytes(18).toString('base64url');
  const message = canonicalRequestString({ method: req.method, pathWithQuery: req.pathWithQuery, timestamp, nonce, nodeId: req.nodeId, body: req.body });
  return {
    [NODE_HEADERS.node]: req.nodeId,
    [NODE_HEADERS.timestamp]: timestamp,
    [NODE_HEADERS.nonce]: nonce,
    [NODE_HEADERS.signature]: signEd25519(key, Buffer.from(message, 'utf8')),
  };
}

export const verifyRequestSignature = (key: KeyObject, parts: SignedRequestParts, signature: string): boolean =>
  verifyEd25519(key, Buffer.from(canonicalRequestString(parts), 'utf8'), signature);

/** What a node signs when it returns a job's result; the hub stores the signature so anyone can re-verify it later. */
export interface ResultClaim {
  jobId: string;
  attempt: number;
  nodeId: string;
  result: unknown;
}

/** The signed bytes: a domain tag, then the canonical JSON (RFC 8785) of the claim. */
export const resultMessage = (claim: ResultClaim): Buffer =>
  Buffer.from(`${NODE_RESULT_DOMAIN}\n${canonicalJson({ jobId: claim.jobId, attempt: claim.attempt, nodeId: claim.nodeId, result: claim.result })}`, 'utf8');

export const signResult = (key: KeyObject, claim: ResultClaim): string => signEd25519(key, resultMessage(claim));

/** False (never a throw) for a malformed signature or a result that is not JSON data. */
export function verifyResultSignature(key: KeyObject, claim: ResultClaim, signature: string): boolean {
  let message: Buffer;
  try {
    message = resultMessage(claim);
  } catch {
    return false;
  }
  return verifyEd25519(key, message, signature);
}

/**
 * A node's public key as an admin pastes it: an SPKI PEM ("-----BEGIN PUBLIC KEY-----") or the base64 of the raw
 * 32-byte key. Returns the key and its raw base64 form (how the hub stores it), or a problem to show.
 */
export function parseNodePublicKey(text: string): { key: KeyObject; raw: string; keyId: string } | { problem: string } {
  const trimmed = text.trim();
  let key: KeyObject | undefined;
  if (trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
    try {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } catch {
      return { problem: 'not a readable SPKI PEM public key' };
    }
    if (key.asymmetricKeyType !== 'ed25519') return { problem: `an ${key.asymmetricKeyType ?? 'unknown'} key; expected Ed25519` };
  } else {
    key = publicKeyFromBase64(trimmed);
    if (!key) return { problem: 'expected an SPKI PEM or the base64 (44 characters) of the raw 32-byte Ed25519 key' };
  }
  const raw = rawPublicKey(key);
  return { key, raw: raw.toString('base64'), keyId: keyIdOf(raw) };
}
