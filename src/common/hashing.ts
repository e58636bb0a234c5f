import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical-json';

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
export const sha256OfCanonical = (value: unknown): string => sha256Hex(canonicalJson(value));
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
