import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { SignedEvidence } from '../evidence';
import type { ReportRenderer } from '../report-ports';
import { renderCharts } from './charts';
import { ChromiumPdfPrinter } from './pdf';
import { renderReportHtml } from './report-html';

const metaContent = (html: string, name: string): string | null =>
  new RegExp(`<meta name="${name}" content="([^"]*)">`).exec(html)?.[1] ?? null;

/**
 * The pipeline's renderer (REPORT_RENDERER): charts drawn by vega on the server, the HTML by nunjucks, the PDF by
 * chromium. html() is async because vega draws asynchronously; renderReportHtml(signed, charts) is the pure,
 * synchronous step for callers that prerender the charts themselves.
 */
@Injectable()
export class VegaChromiumReportRenderer implements ReportRenderer, OnModuleDestroy {
  constructor(private readonly printer: ChromiumPdfPrinter) {}

  async html(signed: SignedEvidence): Promise<string> {
    return renderReportHtml(signed, await renderCharts(signed.evidence));
  }

  /** The report id and evidence hash for the running header and footer come from the document's own meta tags. */
  pdf(html: string): Promise<Buffer> {
    const reportId = metaContent(html, 'assay-report-id') ?? 'unknown';
    const evidenceSha256 = metaContent(html, 'assay-evidence-sha256') ?? undefined;
    return this.printer.pdf(html, { reportId, evidenceSha256 });
  }

  onModuleDestroy(): Promise<void> {
    return this.printer.close();
  }
}
