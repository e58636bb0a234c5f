import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import { chmodSync, openSync, closeSync, readFileSync, statSync, writeSync } from 'node:fs';
import { keyIdOf, rawPublicKey } from '../reports/signing/ed25519';

/**
 * The node's own key file (node side only): its Ed25519 private key, which never leaves the node, and the secret
 * behind case pseudonyms. JSON, written with mode 0600 and refused when others can read it.
 */
export interface NodeKeyFile {
  format: 'assay-node-key-v1';
  /** PKCS8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM: what the hub's admin registers (POST /api/nodes). */
  publicKeyPem: string;
  /** base64 of the raw 32-byte public key (the same key, the other accepted form). */
  publicKey: string;
  keyId: string;
  /** base64, 32 bytes: keys the HMAC that pseudonymises case ids in per-case egress. */
  pseudonymSecret: string;
  createdAt: string;
}

export interface NodeKeys {
  privateKey: KeyObject;
  publicKey: string;
  keyId: string;
  pseudonymSecret: Buffer;
}

export function generateNodeKeyFile(): NodeKeyFile {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return {
    format: 'assay-node-key-v1',
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKey: raw.toString('base64'),
    keyId: keyIdOf(raw),
    pseudonymSecret: randomBytes(32).toString('base64'),
    createdAt: new Date().toISOString(),
  };
}

/** Writes a new key file; refuses to overwrite one (a rotated key is a new file, registered before the old one goes). */
export function writeNodeKeyFile(path: string, file: NodeKeyFile): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
}

/** Reads the key file; throws when it is readable by group or others, or is not a node key file. */
export function readNodeKeyFile(path: string): NodeKeys {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new Error(`node key file ${path}: mode ${mode.toString(8)} lets others read the private key; chmod 600 it`);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as Partial<NodeKeyFile>;
  if (doc.format !== 'assay-node-key-v1' || typeof doc.privateKeyPem !== 'string' || typeof doc.pseudonymSecret !== 'string') {
    throw new Error(`node key file ${path}: not an assay-node-key-v1 file (make one with \`assay node keygen\`)`);
  }
  const privateKey = createPrivateKey({ key: doc.privateKeyPem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`node key file ${path}: not an Ed25519 key`);
  const raw = rawPublicKey(createPublicKey(privateKey));
  const pseudonymSecret = Buffer.from(doc.pseudonymSecret, 'base64');
  if (pseudonymSecret.length < 16) throw new Error(`node key file ${path}: pseudonymSecret must be at least 16 bytes`);
  return { privateKey, publicKey: raw.toString('base64'), keyId: keyIdOf(raw), pseudonymSecret };
}
