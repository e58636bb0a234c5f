import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** Flags for a headless, offline, quiet chromium: no GPU, no background traffic, no first-run, no updates. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class ChromiumMissingError extends Error {
  constructor(readonly executablePath: string) {
    super(
      `Chromium was not found at ${executablePath}: PDF reports need it. Install it with \`apt-get install chromium\` ` +
        '(scripts/test.sh and scripts/demo.sh do), or point ASSAY_CHROMIUM at a chromium binary.',
    );
    this.name = 'ChromiumMissingError';
  }
}

export interface PdfOptions {
  /** Printed in every page's header. */
  reportId: string;
  /** Printed in every page's footer (shortened), beside the page numbers. */
  evidenceSha256?: string;
}

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Chromium's header and footer templates: their own tiny documents, styled inline (they inherit nothing). */
export function pageTemplates(options: PdfOptions): { headerTemplate: string; footerTemplate: string } {
  const style = 'font-family: system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif; font-size: 8px; color: #4a5361; width: 100%; padding: 0 14mm;';
  const id = escapeHtml(options.reportId);
  const sha = options.evidenceSha256 ? ` · evidence sha256 ${escapeHtml(options.evidenceSha256.slice(0, 16))}…` : '';
  return {
    headerTemplate: `<div style="${style} display: flex; justify-content: space-between;"><span>Assay validation report</span><span>Report ${id}</span></div>`,
    footerTemplate: `<div style="${style} display: flex; justify-content: space-between;"><span>Report ${id}${sha}</span><span>Page <span class="pageNumber"></span> of <span class="totalPages"></span></span></div>`,
  };
}

/**
 * HTML → PDF through Debian's chromium (playwright-core). One browser per process, launched on first use with a fresh
 * temporary profile and reused (a page per render); closed by close(). The page runs without JavaScript and every
 * request it makes is aborted, so a report can never fetch anything, whatever its HTML says.
 */
export class ChromiumPdfPrinter {
  private context: Promise<BrowserContext> | null = null;
  private userDataDir: string | null = null;
  /** After close(), no browser is started again: a render still in flight at shutdown fails instead of leaving one behind. */
  private closed = false;

  constructor(private readonly executablePath: string = DEFAULT_CHROMIUM) {}

  private launch(): Promise<BrowserContext> {
    if (this.closed) return Promise.reject(new Error('the PDF printer is closed (the process is shutting down)'));
    this.context ??= (async () => {
      if (!existsSync(this.executablePath)) throw new ChromiumMissingError(this.executablePath);
      const dir = await mkdtemp(join(tmpdir(), 'assay-chromium-'));
      this.userDataDir = dir;
      try {
        const context = await chromium.launchPersistentContext(dir, {
          executablePath: this.executablePath,
          args: CHROMIUM_ARGS,
          headless: true,
          javaScriptEnabled: false,
          offline: true,
          acceptDownloads: false,
          serviceWorkers: 'block',
        });
        // Anything the page asks for (image, font, stylesheet, iframe, prefetch) is refused; setContent needs no request.
        await context.route('**/*', (route) => route.abort('blockedbyclient'));
        return context;
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        this.userDataDir = null;
        throw err;
      }
    })();
    this.context.catch(() => {
      this.context = null;
    });
    return this.context;
  }

  async pdf(html: string, options: PdfOptions): Promise<Buffer> {
    const context = await this.launch();
    const page = await context.newPage();
    try {
      await page.route('**/*', (route) => route.abort('blockedbyclient'));
      await page.setContent(html, { waitUntil: 'load' });
      const { headerTemplate, footerTemplate } = pageTemplates(options);
      return await page.pdf({
        format: 'A4',
        printBackground: true,
        displayHeaderFooter: true,
        headerTemplate,
        footerTemplate,
        margin: { top: '18mm', bottom: '18mm', left: '14mm', right: '14mm' },
      });
    } finally {
      await page.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const context = this.context;
    this.context = null;
    if (context) await context.then((c) => c.close()).catch(() => undefined);
    if (this.userDataDir) {
      await rm(this.userDataDir, { recursive: true, force: true });
      this.userDataDir = null;
    }
  }
}
