import { canonicalJson } from '../../common/canonical-json';
import { digestMessage, KEY_ID_PATTERN, keyIdOf, PublicKeyInfo, publicKeyFromBase64, REPORT_SIGNATURE_ALG, SHA256_HEX_PATTERN, sha256Hex, verifyEd25519 } from './ed25519';
import { DocumentSeal, EVIDENCE_SCRIPT_OPEN, extractHtmlEvidence, extractPdfEvidence, SEAL_MARKERS, SealFormat, sealJson, sealMessage, splitSeal } from './seal';

export type VerifyFormat = 'json' | SealFormat | 'unknown';

export type CheckName =
  | 'parse'
  | 'record-shape'
  | 'report-on-record'
  | 'embedded-evidence'
  | 'evidence-hash'
  | 'key-known'
  | 'evidence-signature'
  | 'digest-signature'
  | 'seal-present'
  | 'document-hash'
  | 'seal-signature'
  | 'seal-matches-evidence';

export interface VerifyCheck {
  name: CheckName;
  ok: boolean;
  detail: string;
}

export interface VerifyResult {
  /** Every check passed. */
  valid: boolean;
  format: VerifyFormat;
  reportId: string | null;
  /** The key that signed the evidence record. */
  keyId: string | null;
  /** The record's hash as recomputed here (null when there is no record to hash). */
  evidenceSha256: string | null;
  checks: VerifyCheck[];
}

export type KeyLookup = (keyId: string) => PublicKeyInfo | undefined;

/** A lookup over a list of published keys (GET /api/reports/keys, or a keys file). */
export const keyLookupOf = (keys: PublicKeyInfo[]): KeyLookup => {
  const byId = new Map(keys.map((k) => [k.keyId, k]));
  return (keyId) => byId.get(keyId);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** Untrusted text into a detail line: bounded, one line. */
const shown = (v: unknown): string => JSON.stringify(typeof v === 'string' ? v.slice(0, 80) : v === undefined ? null : typeof v === 'object' ? '(object)' : v) ?? 'null';

/** By content: a seal at the end names its format (so a damaged start still gets its document hash checked), else the magic. */
function detect(bytes: Buffer): VerifyFormat {
  const end = bytes.subarray(Math.max(0, bytes.length - 4096)).toString('latin1');
  if (end.includes(SEAL_MARKERS.pdf.prefix)) return 'pdf';
  if (end.includes(SEAL_MARKERS.html.prefix)) return 'html';
  const head = bytes.subarray(0, 1024).toString('latin1');
  if (head.startsWith('%PDF-')) return 'pdf';
  const text = head.replace(/^\xef\xbb\xbf/, '').trimStart();
  if (text.startsWith('{')) return 'json';
  if (/^<(!doctype html|html|!--)/i.test(text) || bytes.includes(EVIDENCE_SCRIPT_OPEN)) return 'html';
  return 'unknown';
}

/** The public key for keyId as a KeyObject, after checking that the published key really has that id. */
function keyFor(keys: KeyLookup, keyId: string): { key: ReturnType<typeof publicKeyFromBase64>; problem: string | null } {
  if (!KEY_ID_PATTERN.test(keyId)) return { key: undefined, problem: `key id ${shown(keyId)} is not of the form ed25519-<16 hex>` };
  let info: PublicKeyInfo | undefined;
  try {
    info = keys(keyId);
  } catch (error) {
    return { key: undefined, problem: `looking up key ${keyId} failed (${(error as Error).message})` };
  }
  if (!info) return { key: undefined, problem: `unknown key id ${keyId}: not among the published keys` };
  const key = info.alg === REPORT_SIGNATURE_ALG ? publicKeyFromBase64(info.publicKey) : undefined;
  if (!key) return { key: undefined, problem: `the published key ${keyId} is not an Ed25519 public key` };
  if (keyIdOf(Buffer.from(info.publicKey, 'base64')) !== keyId) return { key: undefined, problem: `the published key ${keyId} does not hash to its id` };
  return { key, problem: null };
}

interface EvidenceOutcome {
  reportId: string | null;
  keyId: string | null;
  evidenceSha256: string | null;
  /** The seal's key, resolved when key-known was checked (undefined: not resolved here). */
  sealKey?: ReturnType<typeof keyFor> | null;
}

/** parse/embedded-evidence already passed: the record's shape, hash, key and signatures. */
function checkSignedEvidence(signed: unknown, keys: KeyLookup, checks: VerifyCheck[], seal: DocumentSeal | null): EvidenceOutcome {
  const out: EvidenceOutcome = { reportId: null, keyId: null, evidenceSha256: null };
  const sig = isObject(signed) && isObject(signed.signature) ? signed.signature : null;
  const evidence = isObject(signed) && isObject(signed.evidence) ? signed.evidence : null;
  if (!evidence || !sig) {
    checks.push({ name: 'evidence-hash', ok: false, detail: 'not a signed evidence record: expected { evidence: {...}, signature: {...} }' });
    return out;
  }
  // Nothing beside the record and its signature: a member outside `evidence` is not hashed or signed, yet a reader
  // of the file would see it ("note": "approved").
  const outside = [extraMembers(signed as Record<string, unknown>, RECORD_MEMBERS), extraMembers(sig, SIGNATURE_MEMBERS)].filter(Boolean);
  const missing = SIGNATURE_MEMBERS.filter((k) => sig[k] === undefined);
  if (outside.length > 0 || missing.length > 0) {
    checks.push({ name: 'record-shape', ok: false, detail: `the signed record holds ${[...outside, ...(missing.length ? [`no signature.${missing.join(', signature.')}`] : [])].join('; ')}: only { evidence, signature: { ${SIGNATURE_MEMBERS.join(', ')} } } is signed` });
  } else {
    checks.push({ name: 'record-shape', ok: true, detail: 'the record holds only the evidence and its signature' });
  }
  out.reportId = str(evidence.reportId) ?? null;
  const claimed = str(sig.evidenceSha256);
  let canonical: Buffer | null = null;
  try {
    canonical = Buffer.from(canonicalJson(evidence), 'utf8');
  } catch (error) {
    checks.push({ name: 'evidence-hash', ok: false, detail: `the evidence record has no canonical form (${(error as Error).message})` });
  }
  if (canonical) {
    const actual = sha256Hex(canonical);
    out.evidenceSha256 = actual;
    checks.push(
      actual === claimed
        ? { name: 'evidence-hash', ok: true, detail: `sha256 of the canonical evidence record is ${actual}, as claimed` }
        : { name: 'evidence-hash', ok: false, detail: `the evidence record hashes to ${actual}; the signature claims ${shown(claimed)}` },
    );
  }

  const keyId = str(sig.keyId) ?? '';
  out.keyId = keyId || null;
  const evidenceKey = keyFor(keys, keyId);
  const sealKeyId = seal?.keyId;
  const sealKey = sealKeyId === undefined ? null : sealKeyId === keyId ? evidenceKey : keyFor(keys, sealKeyId);
  const unknown = [evidenceKey.problem ? `evidence signature: ${evidenceKey.problem}` : null, sealKey?.problem ? `seal: ${sealKey.problem}` : null].filter((p): p is string => p !== null);
  checks.push(
    unknown.length > 0
      ? { name: 'key-known', ok: false, detail: unknown.join('; ') }
      : { name: 'key-known', ok: true, detail: sealKeyId && sealKeyId !== keyId ? `keys ${keyId} (evidence) and ${sealKeyId} (seal) are published` : `key ${keyId} is published` },
  );

  if (sig.alg !== REPORT_SIGNATURE_ALG) {
    checks.push({ name: 'evidence-signature', ok: false, detail: `signature algorithm ${shown(sig.alg)} is not Ed25519` });
  } else if (!evidenceKey.key || !canonical) {
    checks.push({ name: 'evidence-signature', ok: false, detail: !canonical ? 'no canonical bytes to check the signature over' : `cannot be checked: ${evidenceKey.problem ?? 'no key'}` });
  } else {
    const ok = verifyEd25519(evidenceKey.key, canonical, str(sig.value) ?? '');
    checks.push({ name: 'evidence-signature', ok, detail: ok ? `Ed25519 signature by ${keyId} over the canonical record verifies` : `the Ed25519 signature does not verify with key ${keyId} over the canonical record` });
  }
  {
    const ok = !!evidenceKey.key && typeof claimed === 'string' && verifyEd25519(evidenceKey.key, digestMessage(claimed), str(sig.digestValue) ?? '');
    checks.push({ name: 'digest-signature', ok, detail: ok ? `the signature over the evidence hash by ${keyId} verifies` : `the signature over the evidence hash does not verify with key ${keyId}` });
  }
  out.sealKey = sealKey;
  return out;
}

function parseSeal(text: string, format: SealFormat): DocumentSeal | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the seal is not JSON';
  }
  if (!isObject(value)) return 'the seal is not a JSON object';
  const problems: string[] = [];
  if (value.alg !== REPORT_SIGNATURE_ALG) problems.push(`alg ${shown(value.alg)} is not Ed25519`);
  if (value.format !== format) problems.push(`format ${shown(value.format)} where the document is ${format}`);
  for (const field of ['keyId', 'reportId', 'evidenceSha256', 'documentSha256', 'value'] as const) if (typeof value[field] !== 'string') problems.push(`${field} is missing`);
  if (typeof value.keyId === 'string' && !KEY_ID_PATTERN.test(value.keyId)) problems.push('keyId is not of the form ed25519-<16 hex>');
  if (typeof value.documentSha256 === 'string' && !SHA256_HEX_PATTERN.test(value.documentSha256)) problems.push('documentSha256 is not 64 hex digits');
  if (problems.length > 0) return `the seal is malformed: ${problems.join('; ')}`;
  // Only the exact text the signer writes: the seal line is not covered by the document hash, so anything more in it
  // (another member, a string holding "-->" and markup) would be unsigned content shown with a valid report.
  const exact = sealJson(value as unknown as DocumentSeal);
  if (text !== exact) return `the seal is not as Assay writes it (${extraMembers(value, SEAL_MEMBERS) || 'other spacing, order or escaping'}): bytes outside the signed document`;
  return value as unknown as DocumentSeal;
}

const SEAL_MEMBERS = ['alg', 'keyId', 'format', 'reportId', 'evidenceSha256', 'documentSha256', 'value'];
const RECORD_MEMBERS = ['evidence', 'signature'];
const SIGNATURE_MEMBERS = ['alg', 'keyId', 'evidenceSha256', 'value', 'digestValue'];

/** Members of `value` beyond `allowed`, said in words (empty when none). */
function extraMembers(value: Record<string, unknown>, allowed: readonly string[]): string {
  const extra = Object.keys(value).filter((k) => !allowed.includes(k));
  return extra.length === 0 ? '' : `unsigned member${extra.length > 1 ? 's' : ''} ${extra.slice(0, 5).map((k) => shown(k)).join(', ')}`;
}

/**
 * Verifies an evidence.json, a sealed HTML report or a sealed PDF report, told apart by content. Says valid only when
 * every check passes; each failed check says what does not match (which hash, which key). Never throws: hostile
 * bytes give an invalid result.
 */
export async function verifyReport(bytes: Buffer, keys: KeyLookup): Promise<VerifyResult> {
  const checks: VerifyCheck[] = [];
  let format: VerifyFormat = 'unknown';
  let outcome: EvidenceOutcome = { reportId: null, keyId: null, evidenceSha256: null };
  try {
    format = detect(bytes);
    if (format === 'unknown') {
      checks.push({ name: 'parse', ok: false, detail: 'neither JSON (evidence.json), HTML nor PDF' });
    } else if (format === 'json') {
      let parsed: unknown;
      try {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        parsed = JSON.parse(text);
        // The bytes must be a form Assay writes (canonical JSON as downloaded; JSON.stringify as attached to the PDF, or
        // with every '<' as \u003c as embedded in the HTML), up to a final newline: a repeated member ("endpoint"
        // twice) is dropped by JSON.parse here but may be the one another reader shows, so a file that re-serializes
        // differently is refused rather than read one way.
        const body = text.replace(/\r?\n$/, '');
        let written = false;
        try {
          const stringified = JSON.stringify(parsed);
          written = body === canonicalJson(parsed) || body === stringified || body === stringified.replace(/</g, '\\u003c');
        } catch {
          written = false;
        }
        checks.push(
          written
            ? { name: 'parse', ok: true, detail: 'JSON evidence record' }
            : { name: 'parse', ok: false, detail: 'the JSON is not as Assay writes it (a repeated member, or other spacing or order): download evidence.json again, unchanged' },
        );
      } catch (error) {
        checks.push({ name: 'parse', ok: false, detail: `not UTF-8 JSON (${(error as Error).message.slice(0, 120)})` });
      }
      if (checks[0]?.ok) outcome = checkSignedEvidence(parsed, keys, checks, null);
    } else {
      outcome = await verifySealed(bytes, format, keys, checks);
    }
  } catch (error) {
    checks.push({ name: 'parse', ok: false, detail: `unreadable (${String((error as Error)?.message ?? error).slice(0, 120)})` });
  }
  return { valid: checks.length > 0 && checks.every((c) => c.ok), format, reportId: outcome.reportId, keyId: outcome.keyId, evidenceSha256: outcome.evidenceSha256, checks };
}

async function verifySealed(bytes: Buffer, format: SealFormat, keys: KeyLookup, checks: VerifyCheck[]): Promise<EvidenceOutcome> {
  const split = splitSeal(bytes, format);
  const document = 'problem' in split ? bytes : split.document;
  const seal = 'problem' in split ? split.problem : parseSeal(split.sealText, format);
  let embedded: { value: unknown } | { problem: string };
  if (format === 'html') {
    let html: string | null = null;
    try {
      html = new TextDecoder('utf-8', { fatal: true }).decode(document);
    } catch {
      checks.push({ name: 'parse', ok: false, detail: 'the HTML is not UTF-8' });
    }
    if (html !== null) checks.push({ name: 'parse', ok: true, detail: 'HTML report' });
    embedded = html === null ? { problem: 'the HTML is not UTF-8' } : extractHtmlEvidence(html);
  } else {
    embedded = await extractPdfEvidence(document);
    checks.push({ name: 'parse', ok: !('problem' in embedded && embedded.problem.startsWith('not a readable PDF')), detail: 'problem' in embedded && embedded.problem.startsWith('not a readable PDF') ? embedded.problem : 'PDF report' });
  }
  checks.push('problem' in embedded ? { name: 'embedded-evidence', ok: false, detail: embedded.problem } : { name: 'embedded-evidence', ok: true, detail: format === 'html' ? 'the document embeds a signed evidence record' : 'the PDF carries assay-evidence.json' });
  const sealObject = typeof seal === 'string' ? null : seal;
  const outcome = 'problem' in embedded ? { reportId: null, keyId: null, evidenceSha256: null } : checkSignedEvidence(embedded.value, keys, checks, sealObject);

  checks.push(typeof seal === 'string' ? { name: 'seal-present', ok: false, detail: seal } : { name: 'seal-present', ok: true, detail: `${format} seal by ${shown(seal.keyId)}` });
  if (!sealObject) return outcome;
  const actual = sha256Hex(document);
  checks.push(
    actual === sealObject.documentSha256
      ? { name: 'document-hash', ok: true, detail: `sha256 of the document before its seal is ${actual}, as sealed` }
      : { name: 'document-hash', ok: false, detail: `the document hashes to ${actual}; the seal says ${shown(sealObject.documentSha256)} (the document was changed after sealing)` },
  );
  const resolved = outcome.sealKey ?? keyFor(keys, sealObject.keyId);
  if (!resolved?.key) {
    checks.push({ name: 'seal-signature', ok: false, detail: `cannot be checked: ${resolved?.problem ?? 'no key'}` });
    if ('problem' in embedded) checks.push({ name: 'key-known', ok: false, detail: `seal: ${resolved?.problem ?? 'no key'}` });
  } else {
    const ok = verifyEd25519(resolved.key, sealMessage(sealObject), sealObject.value);
    checks.push({ name: 'seal-signature', ok, detail: ok ? `Ed25519 seal signature by ${sealObject.keyId} verifies` : `the seal signature does not verify with key ${sealObject.keyId}` });
  }
  const mismatches: string[] = [];
  if (outcome.evidenceSha256 === null) mismatches.push('there is no readable evidence record to compare with');
  else if (sealObject.evidenceSha256 !== outcome.evidenceSha256) mismatches.push(`the seal is for evidence ${shown(sealObject.evidenceSha256)}, the document carries ${outcome.evidenceSha256}`);
  if (outcome.evidenceSha256 !== null && sealObject.reportId !== outcome.reportId) mismatches.push(`the seal is for report ${shown(sealObject.reportId)}, the record is report ${shown(outcome.reportId)}`);
  checks.push(mismatches.length > 0 ? { name: 'seal-matches-evidence', ok: false, detail: mismatches.join('; ') } : { name: 'seal-matches-evidence', ok: true, detail: `the seal covers evidence ${outcome.evidenceSha256} of report ${outcome.reportId}` });
  return outcome;
}

/**
 * GET /api/reports/verify: is `signature` Assay's signature (EvidenceSignature.digestValue) over this evidence hash
 * with this key? For a reader who holds only the printed hash and signature; the file itself goes to verifyReport.
 * The inputs are well-formed (the route refuses others with 400).
 */
export function verifyDigestSignature(input: { evidenceSha256: string; keyId: string; signature: string }, keys: KeyLookup): { valid: boolean; checks: VerifyCheck[] } {
  const checks: VerifyCheck[] = [];
  const resolved = keyFor(keys, input.keyId);
  checks.push(resolved.problem ? { name: 'key-known', ok: false, detail: resolved.problem } : { name: 'key-known', ok: true, detail: `key ${input.keyId} is published` });
  const ok = !!resolved.key && verifyEd25519(resolved.key, digestMessage(input.evidenceSha256), input.signature);
  checks.push({
    name: 'digest-signature',
    ok,
    detail: ok ? `the signature by ${input.keyId} over evidence ${input.evidenceSha256} verifies` : resolved.key ? `the signature does not verify with key ${input.keyId} over evidence ${input.evidenceSha256}` : `cannot be checked: ${resolved.problem ?? 'no key'}`,
  });
  return { valid: checks.every((c) => c.ok), checks };
}
