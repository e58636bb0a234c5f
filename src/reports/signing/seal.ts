import { decodePDFRawStream, PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFRawStream, PDFString } from 'pdf-lib';
import { canonicalJson } from '../../common/canonical-json';
import type { SignedEvidence } from '../evidence';
import { REPORT_SIGNATURE_ALG, sha256Hex, signEd25519 } from './ed25519';
import type { SigningKey } from './report-keys';

/**
 * Document seals: how an HTML or PDF rendering carries its signed evidence record and a signature over its own bytes.
 * These byte formats are the contract between the renderer (src/reports/render/), the signer and the verifier:
 *
 * HTML: the document embeds `evidenceScript(signed)` (a <script type="application/json" id="assay-evidence"> whose
 *   text is JSON.stringify(signed) with every '<' written as \u003c), and sealHtml appends, as its very last bytes,
 *   "\n<!--assay-seal:" + JSON.stringify(seal) + "-->\n".
 * PDF: sealPdf attaches JSON.stringify(signed) as the embedded file 'assay-evidence.json' (application/json; its
 *   dates and the PDF's CreationDate/ModDate are evidence.date, so the bytes depend on the content only) and appends
 *   "\n%assay-seal:" + JSON.stringify(seal) + "\n" after the final %%EOF (a PDF comment: readers ignore it).
 * Seal: { alg, keyId, format, reportId, evidenceSha256, documentSha256, value }; documentSha256 = sha256 hex of every
 *   byte before the seal's leading "\n"; value = base64url Ed25519 over
 *   canonicalJson({ documentSha256, evidenceSha256, format, keyId, reportId }).
 */
export type SealFormat = 'html' | 'pdf';

export interface DocumentSeal {
  alg: typeof REPORT_SIGNATURE_ALG;
  keyId: string;
  format: SealFormat;
  reportId: string;
  evidenceSha256: string;
  documentSha256: string;
  value: string;
}

export const EVIDENCE_SCRIPT_OPEN = '<script type="application/json" id="assay-evidence">';
export const EVIDENCE_SCRIPT_CLOSE = '</script>';
export const EVIDENCE_ATTACHMENT = 'assay-evidence.json';
export const SEAL_MARKERS: Record<SealFormat, { prefix: string; suffix: string }> = {
  html: { prefix: '\n<!--assay-seal:', suffix: '-->\n' },
  pdf: { prefix: '\n%assay-seal:', suffix: '\n' },
};

/** The element the HTML renderer puts in the document (anywhere before the seal; once). */
export const evidenceScript = (signed: SignedEvidence): string => `${EVIDENCE_SCRIPT_OPEN}${JSON.stringify(signed).replace(/</g, '\\u003c')}${EVIDENCE_SCRIPT_CLOSE}`;

/** The bytes the seal's value signs. */
export const sealMessage = (seal: Omit<DocumentSeal, 'alg' | 'value'>): Buffer =>
  Buffer.from(canonicalJson({ documentSha256: seal.documentSha256, evidenceSha256: seal.evidenceSha256, format: seal.format, keyId: seal.keyId, reportId: seal.reportId }), 'utf8');

/** The evidence hash of a signed record, checked against its claim (a mismatch is a bug upstream: refuse to seal). */
function evidenceHashOf(signed: SignedEvidence): string {
  const hash = sha256Hex(canonicalJson(signed.evidence));
  if (hash !== signed.signature.evidenceSha256) throw new Error(`seal: the record's evidenceSha256 ${signed.signature.evidenceSha256} is not its hash ${hash}`);
  return hash;
}

/**
 * The seal's JSON text, exactly as the signer writes it: these members in this order, nothing else. The verifier
 * accepts only this text (verify.ts parseSeal), since the seal line is outside the document hash: a seal that
 * parsed to the same members but carried more (a string holding "-->" and markup, in HTML) would otherwise verify.
 */
export const sealJson = (seal: DocumentSeal): string =>
  JSON.stringify({ alg: seal.alg, keyId: seal.keyId, format: seal.format, reportId: seal.reportId, evidenceSha256: seal.evidenceSha256, documentSha256: seal.documentSha256, value: seal.value });

function seal(document: Uint8Array, format: SealFormat, signed: SignedEvidence, key: SigningKey): string {
  const fields = { keyId: key.keyId, format, reportId: signed.evidence.reportId, evidenceSha256: evidenceHashOf(signed), documentSha256: sha256Hex(document) };
  const full: DocumentSeal = { alg: REPORT_SIGNATURE_ALG, ...fields, value: signEd25519(key.privateKey, sealMessage(fields)) };
  return `${SEAL_MARKERS[format].prefix}${sealJson(full)}${SEAL_MARKERS[format].suffix}`;
}

/** Appends the seal to an HTML rendering that embeds exactly this `signed` record. */
export function sealHtml(html: string, signed: SignedEvidence, key: SigningKey): string {
  const embedded = extractHtmlEvidence(html);
  if ('problem' in embedded) throw new Error(`sealHtml: ${embedded.problem}`);
  if (canonicalJson(embedded.value) !== canonicalJson(signed)) throw new Error('sealHtml: the document embeds another evidence record than the one being sealed');
  return html + seal(Buffer.from(html, 'utf8'), 'html', signed, key);
}

const pdfDate = (iso: string): Date => {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new Error(`sealPdf: evidence.date '${iso}' is not a date`);
  return date;
};

/** Attaches `signed` as assay-evidence.json, fixes the PDF's dates to evidence.date, and appends the seal. */
export async function sealPdf(pdf: Uint8Array, signed: SignedEvidence, key: SigningKey): Promise<Buffer> {
  const date = pdfDate(signed.evidence.date);
  const doc = await PDFDocument.load(pdf, { updateMetadata: false });
  await doc.attach(Buffer.from(JSON.stringify(signed), 'utf8'), EVIDENCE_ATTACHMENT, {
    mimeType: 'application/json',
    description: 'Assay evidence record with its Ed25519 signature (verify with `assay verify`)',
    creationDate: date,
    modificationDate: date,
  });
  doc.setCreationDate(date);
  doc.setModificationDate(date);
  const body = Buffer.from(await doc.save({ useObjectStreams: false }));
  return Buffer.concat([body, Buffer.from(seal(body, 'pdf', signed, key), 'utf8')]);
}

type Extracted = { value: unknown } | { problem: string };

const parseJson = (text: string, what: string): Extracted => {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { problem: `${what} is not JSON (${(error as Error).message.slice(0, 120)})` };
  }
};

/** The record embedded in an HTML document: exactly one evidence script. */
export function extractHtmlEvidence(html: string): Extracted {
  const start = html.indexOf(EVIDENCE_SCRIPT_OPEN);
  if (start < 0) return { problem: `no ${EVIDENCE_SCRIPT_OPEN} element` };
  if (html.indexOf(EVIDENCE_SCRIPT_OPEN, start + 1) >= 0) return { problem: 'more than one embedded evidence element' };
  const from = start + EVIDENCE_SCRIPT_OPEN.length;
  const end = html.indexOf(EVIDENCE_SCRIPT_CLOSE, from);
  if (end < 0) return { problem: 'the embedded evidence element is not closed' };
  return parseJson(html.slice(from, end), 'the embedded evidence');
}

/** Splits a sealed document into the sealed bytes and the seal's JSON text; a problem when it ends otherwise. */
export function splitSeal(bytes: Buffer, format: SealFormat): { document: Buffer; sealText: string } | { problem: string } {
  const { prefix, suffix } = SEAL_MARKERS[format];
  const at = bytes.lastIndexOf(Buffer.from(prefix, 'utf8'));
  if (at < 0) return { problem: `no seal (${JSON.stringify(prefix.trim())} …) at the end of the document` };
  const tail = bytes.subarray(at + Buffer.byteLength(prefix));
  const suffixBytes = Buffer.from(suffix, 'utf8');
  if (tail.length < suffixBytes.length || !tail.subarray(tail.length - suffixBytes.length).equals(suffixBytes)) return { problem: 'the document does not end with its seal' };
  const sealText = tail.subarray(0, tail.length - suffixBytes.length).toString('utf8');
  if (sealText.includes('\n')) return { problem: 'the seal is not the last line of the document' };
  return { document: bytes.subarray(0, at), sealText };
}

const textOf = (value: unknown): string | undefined => (value instanceof PDFString || value instanceof PDFHexString ? value.decodeText() : undefined);

/** The embedded file named `name` in a PDF's EmbeddedFiles name tree (flat Names, or Kids up to a small depth). */
function findEmbeddedFile(tree: PDFDict, name: string, depth: number): PDFRawStream | undefined {
  if (depth > 8) return undefined;
  const names = tree.lookup(PDFName.of('Names'));
  if (names instanceof PDFArray) {
    for (let i = 0; i + 1 < names.size(); i += 2) {
      if (textOf(names.lookup(i)) !== name) continue;
      const spec = names.lookup(i + 1);
      const ef = spec instanceof PDFDict ? spec.lookup(PDFName.of('EF')) : undefined;
      const file = ef instanceof PDFDict ? ef.lookup(PDFName.of('F')) : undefined;
      if (file instanceof PDFRawStream) return file;
    }
  }
  const kids = tree.lookup(PDFName.of('Kids'));
  if (kids instanceof PDFArray) {
    for (let i = 0; i < kids.size(); i++) {
      const kid = kids.lookup(i);
      const found = kid instanceof PDFDict ? findEmbeddedFile(kid, name, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** The record attached to a PDF as assay-evidence.json. Never throws. */
export async function extractPdfEvidence(pdf: Uint8Array): Promise<Extracted> {
  let doc: PDFDocument;
  try {
    doc = await PDFDocument.load(pdf, { updateMetadata: false, ignoreEncryption: true, throwOnInvalidObject: true, parseSpeed: Number.POSITIVE_INFINITY });
  } catch (error) {
    return { problem: `not a readable PDF (${String((error as Error)?.message ?? error).slice(0, 120)})` };
  }
  try {
    const names = doc.catalog.lookup(PDFName.of('Names'));
    const embedded = names instanceof PDFDict ? names.lookup(PDFName.of('EmbeddedFiles')) : undefined;
    const stream = embedded instanceof PDFDict ? findEmbeddedFile(embedded, EVIDENCE_ATTACHMENT, 0) : undefined;
    if (!stream) return { problem: `no embedded file ${EVIDENCE_ATTACHMENT}` };
    const bytes = decodePDFRawStream(stream).decode();
    return parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes), `the embedded ${EVIDENCE_ATTACHMENT}`);
  } catch (error) {
    return { problem: `the embedded ${EVIDENCE_ATTACHMENT} is unreadable (${String((error as Error)?.message ?? error).slice(0, 120)})` };
  }
}
