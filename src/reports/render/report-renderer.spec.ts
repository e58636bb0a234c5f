import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { chromium, type Browser } from 'playwright-core';
import { binaryEvidence, withPlaceholderSignature } from '../../../test/fixtures/reports/build-fixtures';
import { packageRoot } from '../../common/package-root';
import { ConfigModule } from '../../config/config.module';
import { loadConfig } from '../../config/config.schema';
import type { SignedEvidence } from '../evidence';
import { REPORT_RENDERER, type ReportRenderer } from '../report-ports';
import { CHROMIUM_ARGS, ChromiumMissingError, ChromiumPdfPrinter, DEFAULT_CHROMIUM } from './pdf';
import { ReportRenderModule } from './report-render.module';

/**
 * The renderer end to end with Debian's chromium: the provider as Nest builds it, real PDFs read back with pdf-lib,
 * axe-core in the browser on the HTML, a screenshot per task for a person to look at, and the timing of a 500-case report.
 */
const FIXTURES = join(packageRoot(), 'test', 'fixtures', 'reports');
const OUT = join(packageRoot(), '.assay', 'test');
const SCREENSHOTS = join(OUT, 'screenshots');
const load = (name: string): SignedEvidence => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as SignedEvidence;
const TASKS: [string, string][] = [
  ['binary-classification', 'binary-wdbc.json'],
  ['survival', 'survival-synthetic.json'],
  ['segmentation', 'segmentation-vendor.json'],
  ['detection', 'detection-synthetic.json'],
];

jest.setTimeout(180_000);

let renderer: ReportRenderer;
let close: () => Promise<void>;
let browser: Browser;
const htmlByTask = new Map<string, string>();

beforeAll(async () => {
  @Module({ imports: [ConfigModule.forRoot(loadConfig({})), ReportRenderModule] })
  class TestRootModule {}
  const app = await NestFactory.createApplicationContext(TestRootModule, { logger: false });
  renderer = app.get<ReportRenderer>(REPORT_RENDERER);
  close = () => app.close();
  for (const [task, file] of TASKS) htmlByTask.set(task, await renderer.html(load(file)));
  // A second, JavaScript-enabled browser for axe-core and screenshots (the PDF printer runs pages without scripts).
  browser = await chromium.launch({ executablePath: DEFAULT_CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await close?.();
});

describe('ReportRenderer (vega + nunjucks + chromium)', () => {
  it.each(TASKS)('prints a multi-page A4 PDF of the %s report that names the report', async (task, file) => {
    const signed = load(file);
    const pdf = await renderer.pdf(htmlByTask.get(task) as string);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const doc = await PDFDocument.load(pdf);
    expect(doc.getPageCount()).toBeGreaterThanOrEqual(2);
    const { width, height } = doc.getPage(0).getSize();
    expect(Math.abs(width - 595.28)).toBeLessThan(2);
    expect(Math.abs(height - 841.89)).toBeLessThan(2);
    // Chromium takes the PDF title from the document's <title>, which starts with the report id.
    expect(doc.getTitle()).toContain(signed.evidence.reportId);
  });

  it('runs the same renderer for every PDF: pages of one browser, not a browser per render', async () => {
    const html = htmlByTask.get('detection') as string;
    const [a, b] = await Promise.all([renderer.pdf(html), renderer.pdf(html)]);
    expect((await PDFDocument.load(a)).getPageCount()).toBe((await PDFDocument.load(b)).getPageCount());
  });

  it('lets a page fetch nothing, whatever its HTML asks for', async () => {
    const hits: string[] = [];
    const server: Server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const base = `http://127.0.0.1:${port}`;
      const html = `<!DOCTYPE html><html lang="en"><head><meta name="assay-report-id" content="net-test"><link rel="stylesheet" href="${base}/a.css"><style>@import url(${base}/b.css); body { background: url(${base}/c.png) }</style></head><body><h1>x</h1><p>y</p><img alt="" src="${base}/d.png"><iframe title="t" src="${base}/e"></iframe><script src="${base}/f.js"></script></body></html>`;
      const printer = new ChromiumPdfPrinter(DEFAULT_CHROMIUM);
      try {
        const pdf = await printer.pdf(html, { reportId: 'net-test' });
        expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      } finally {
        await printer.close();
      }
      // The control: the same server is reachable from this browser when nothing blocks it.
      expect(hits).toEqual([]);
      const page = await browser.newPage();
      await page.goto(`${base}/control`);
      await page.close();
      expect(hits).toContain('/control');
    } finally {
      server.close();
    }
  });

  it('names the missing binary and the install step when chromium is absent', async () => {
    const printer = new ChromiumPdfPrinter('/nonexistent/chromium');
    await expect(printer.pdf('<p>x</p>', { reportId: 'r' })).rejects.toThrow(ChromiumMissingError);
    await expect(printer.pdf('<p>x</p>', { reportId: 'r' })).rejects.toThrow(/\/nonexistent\/chromium.*apt-get install chromium/);
    await printer.close();
  });

  it('starts no browser once closed: a render still in flight at shutdown fails instead of leaving chromium behind', async () => {
    const printer = new ChromiumPdfPrinter(DEFAULT_CHROMIUM);
    await printer.close();
    await expect(printer.pdf('<p>x</p>', { reportId: 'r' })).rejects.toThrow(/closed/);
  });

  it.each(TASKS)('has no axe-core violations in chromium, and leaves a screenshot (%s)', async (task) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    try {
      await page.route('**/*', (route) => route.abort());
      await page.setContent(htmlByTask.get(task) as string, { waitUntil: 'load' });
      await page.addScriptTag({ path: join(packageRoot(), 'node_modules', 'axe-core', 'axe.min.js') });
      const result = await page.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
        const r = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
        return r.violations.map((v) => ({ id: v.id, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
      });
      expect(result).toEqual([]);
      await page.screenshot({ path: join(SCREENSHOTS, `report-${task}.png`) });
    } finally {
      await page.close();
    }
  });

  it('renders a 500-case binary report (HTML and PDF) and records the time', async () => {
    const signed = withPlaceholderSignature(binaryEvidence({ cases: 500, seed: 500 }));
    expect(signed.evidence.annexes.perCase?.rows).toHaveLength(500);
    const runs: { htmlMs: number; pdfMs: number; totalMs: number; pages: number; htmlBytes: number; pdfBytes: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const html = await renderer.html(signed);
      const t1 = performance.now();
      const pdf = await renderer.pdf(html);
      const t2 = performance.now();
      runs.push({ htmlMs: Math.round(t1 - t0), pdfMs: Math.round(t2 - t1), totalMs: Math.round(t2 - t0), pages: (await PDFDocument.load(pdf)).getPageCount(), htmlBytes: html.length, pdfBytes: pdf.length });
    }
    writeFileSync(join(OUT, 'report-render-timing.json'), `${JSON.stringify({ cases: 500, runs }, null, 2)}\n`);
    process.stdout.write(`500-case report render: ${JSON.stringify(runs)}\n`);
    // The target is 5 s on an idle machine (perf/); this shared test machine gets a margin.
    const best = Math.min(...runs.map((r) => r.totalMs));
    expect(best).toBeLessThan(15_000);
  });
});
