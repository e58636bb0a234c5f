import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SignedEvidence } from '../evidence';
import { renderCharts } from './charts';
import { EVIDENCE_SCRIPT_OPEN, evidenceScript, extractEmbeddedEvidence, REPORT_SECTIONS, renderReportHtml } from './report-html';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'reports');
const FIXTURE_FILES = ['binary-wdbc.json', 'survival-synthetic.json', 'segmentation-vendor.json', 'detection-synthetic.json'];
const load = (name: string): SignedEvidence => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as SignedEvidence;

async function render(signed: SignedEvidence): Promise<string> {
  return renderReportHtml(signed, await renderCharts(signed.evidence));
}

const rendered = new Map<string, string>();
beforeAll(async () => {
  for (const f of FIXTURE_FILES) rendered.set(f, await render(load(f)));
}, 120_000);
const html = (f: string): string => rendered.get(f) as string;

/** Only the markup: the embedded record may repeat any text. */
const markup = (doc: string): string => doc.slice(0, doc.indexOf(EVIDENCE_SCRIPT_OPEN));

describe('the HTML validation report', () => {
  it.each(FIXTURE_FILES)('has the 16 numbered sections in order, each in the table of contents (%s)', (f) => {
    const doc = html(f);
    let at = 0;
    for (const s of REPORT_SECTIONS) {
      const heading = `<h2 id="section-${s.number}"><span class="secno">${s.number}.</span> ${s.title.replace(/&/g, '&amp;')}</h2>`;
      const found = doc.indexOf(heading, at);
      expect({ section: s.number, found: found >= 0 }).toEqual({ section: s.number, found: true });
      at = found;
      expect(doc).toContain(`<li><a href="#section-${s.number}">${s.number}. ${s.title}</a></li>`);
    }
    expect(REPORT_SECTIONS).toHaveLength(16);
  });

  it.each(FIXTURE_FILES)('carries report id, date, submission, benchmark, evidence sha256, key id and signature in its header (%s)', (f) => {
    const signed = load(f);
    const header = html(f).slice(0, html(f).indexOf('<nav'));
    for (const text of [signed.evidence.reportId, signed.signature.evidenceSha256, signed.signature.keyId, signed.signature.value, signed.evidence.identity.submission.id, signed.evidence.identity.benchmark.title])
      expect(header).toContain(text);
    expect(header).toContain('2026-11-30 14:22:31 UTC');
  });

  it.each(FIXTURE_FILES)('prints every estimate with its CI and its method (%s)', (f) => {
    const { evidence } = load(f);
    const doc = markup(html(f));
    const all = [evidence.primary.endpoint, ...evidence.primary.secondary, ...(evidence.calibration?.estimates ?? []), ...evidence.subgroups.rows.map((r) => r.estimate)];
    for (const e of all) {
      expect(doc).toContain(e.method.replace(/&/g, '&amp;').replace(/'/g, '&#39;').replace(/</g, '&lt;'));
    }
    const ep = evidence.primary.endpoint;
    expect(ep.ci).not.toBeNull();
    const [lo, hi] = ep.ci as [number, number];
    expect(doc).toContain(`(CI ${lo.toFixed(3)} to ${hi.toFixed(3)})`);
  });

  it('flags SYNTHETIC cohorts prominently, and only those', () => {
    expect(markup(html('survival-synthetic.json'))).toContain('<p class="banner synthetic" role="note"><strong>SYNTHETIC COHORT.</strong>');
    expect(markup(html('detection-synthetic.json'))).toContain('SYNTHETIC COHORT.');
    expect(markup(html('binary-wdbc.json'))).not.toContain('SYNTHETIC COHORT');
  });

  it('labels the benchmark context as non-regulatory', () => {
    for (const f of FIXTURE_FILES) expect(markup(html(f))).toContain('<strong>Non-regulatory.</strong>');
  });

  it('says why the per-case annex is withheld in the vendor form, and prints it in the full form', () => {
    const vendor = load('segmentation-vendor.json');
    const doc = markup(html('segmentation-vendor.json'));
    expect(vendor.evidence.annexes.perCase).toBeNull();
    expect(doc).toContain(`<strong>Per-case annex withheld.</strong> ${vendor.evidence.annexes.perCaseWithheld as string}`);
    expect(doc).not.toContain('class="data percase"');
    const full = markup(html('binary-wdbc.json'));
    expect(full).toContain('Per-case results (569 cases');
    expect(full.match(/<tr><th scope="row">case-\d{4}<\/th>/g)).toHaveLength(569);
  });

  it('says so when the vendor declared no intended use and the task outputs no probabilities', async () => {
    const signed = load('detection-synthetic.json');
    const doc = await render({ ...signed, evidence: { ...signed.evidence, intendedUse: null } });
    expect(doc).toContain('The vendor did not declare an intended use at submission.');
    expect(doc).toContain('Not applicable: the task does not output probabilities');
  });

  it('escapes vendor text, and the embedded record still parses back equal to the input', async () => {
    const base = load('binary-wdbc.json');
    const hostile = '<script>alert(1)</script> & </script><!-- "quoted" \'single\'';
    const signed: SignedEvidence = {
      ...base,
      evidence: {
        ...base.evidence,
        identity: { ...base.evidence.identity, submission: { ...base.evidence.identity.submission, organisation: hostile, name: `Evil</script>${hostile}` } },
        intendedUse: { ...(base.evidence.intendedUse as NonNullable<typeof base.evidence.intendedUse>), purpose: hostile },
        subgroups: { ...base.evidence.subgroups, rows: base.evidence.subgroups.rows.map((r, i) => (i === 0 ? { ...r, level: hostile } : r)) },
      },
    };
    const doc = await render(signed);
    // Exactly one script element, the evidence block, and it is the last thing before </body>.
    expect(doc.match(/<script/gi)).toHaveLength(1);
    expect(doc.match(/<\/script>/gi)).toHaveLength(1);
    expect(doc).toContain(`${evidenceScript(signed)}\n</body>`);
    expect(doc).not.toContain('<!-- "quoted"');
    expect(markup(doc)).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;/script&gt;&lt;!-- &quot;quoted&quot; &#39;single&#39;');
    expect(extractEmbeddedEvidence(doc)).toEqual(signed);
    const block = doc.slice(doc.indexOf(EVIDENCE_SCRIPT_OPEN) + EVIDENCE_SCRIPT_OPEN.length, doc.lastIndexOf('</script>'));
    expect(block).not.toContain('<');
    expect(JSON.parse(block)).toEqual(signed);
  });

  it('renders the same bytes twice for the same record', async () => {
    const signed = load('binary-wdbc.json');
    const again = await render(JSON.parse(JSON.stringify(signed)) as SignedEvidence);
    expect(again === html('binary-wdbc.json')).toBe(true);
  });

  it.each(FIXTURE_FILES)('references nothing outside itself (%s)', (f) => {
    const doc = html(f);
    expect(doc).not.toMatch(/\b(?:src|href|xlink:href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(doc).not.toMatch(/url\(\s*["']?(?!#)/i);
    expect(doc).not.toMatch(/@import|<link\b|<iframe\b|<img\b|<object\b|<embed\b/i);
    // In-page links only.
    for (const m of doc.matchAll(/\bhref="([^"]*)"/g)) expect(m[1]).toMatch(/^#/);
  });

  it('is a document with a language, landmarks and captioned tables with header scopes', () => {
    const doc = html('binary-wdbc.json');
    expect(doc.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    for (const landmark of ['<header class="report-header">', '<nav class="toc" aria-labelledby="toc-h">', '<main id="main">', '<footer class="report-footer">']) expect(doc).toContain(landmark);
    const tables = doc.match(/<table[^>]*>/g) ?? [];
    const captions = doc.match(/<caption>/g) ?? [];
    expect(tables.length).toBeGreaterThan(10);
    expect(captions).toHaveLength(tables.length);
    expect(doc).not.toMatch(/<th>/);
  });

  it('finds no embedded record in a document without exactly one block', () => {
    const one = evidenceScript(load('binary-wdbc.json'));
    expect(extractEmbeddedEvidence('<html></html>')).toBeNull();
    expect(extractEmbeddedEvidence(`${one}${one}`)).toBeNull();
    expect(extractEmbeddedEvidence(`${EVIDENCE_SCRIPT_OPEN}{not json</script>`)).toBeNull();
  });
});
