import type { EvidenceRecord, SignedEvidence } from './evidence';

/**
 * The report pipeline's two adapters (issue 10): the pipeline (src/reports/report-pipeline.ts) builds the evidence
 * record, signs it, renders it and seals each rendering. The signer lives in src/reports/signing/, the renderer in
 * src/reports/render/; both are Nest providers under these tokens.
 */
export const REPORT_SIGNER = Symbol('REPORT_SIGNER');
export const REPORT_RENDERER = Symbol('REPORT_RENDERER');

export interface ReportSigner {
  /** Ed25519 over canonicalJson(evidence) with the current key. */
  sign(evidence: EvidenceRecord): Promise<SignedEvidence>;
  /** Appends the document seal (see signing/seal.ts) to an HTML rendering that embeds `signed`. */
  sealHtml(html: string, signed: SignedEvidence): Promise<string>;
  /** Attaches `signed` as assay-evidence.json and appends the document seal to a PDF rendering. */
  sealPdf(pdf: Uint8Array, signed: SignedEvidence): Promise<Buffer>;
}

export interface ReportRenderer {
  /**
   * A self-contained HTML document (inline CSS and SVG, no external reference) that embeds `signed`. Deterministic.
   * Async: the charts are drawn by vega, whose SVG rendering is asynchronous.
   */
  html(signed: SignedEvidence): Promise<string>;
  /** The PDF of that HTML (Debian's chromium through playwright-core). */
  pdf(html: string): Promise<Buffer>;
}
