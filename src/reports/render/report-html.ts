import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as nunjucks from 'nunjucks';
import { packageRoot } from '../../common/package-root';
import type { Curve, Estimate, EvidenceRecord, SignedEvidence } from '../evidence';
import { evidenceScript, extractHtmlEvidence } from '../signing/seal';
import { formatCi, formatDuration, formatNumber, formatP, formatPercent, formatValue } from './format';

/** The 16 sections of ../shared/METRICS.md §9, in order: the headings and the table of contents. */
export const REPORT_SECTIONS: readonly { number: number; title: string }[] = [
  'Report identity and provenance',
  'Intended use and claims under test',
  'Pre-specified evaluation protocol',
  'Reference standard',
  'Test cohort description',
  'Device execution and technical performance',
  'Primary results',
  'Calibration and clinical utility',
  'Subgroup and fairness analysis',
  'Robustness analyses',
  'Failure analysis',
  'Comparators',
  'Benchmark context (non-regulatory)',
  'Limitations and generalisability',
  'Change control and monitoring',
  'Annexes',
].map((title, i) => ({ number: i + 1, title }));

// The embedded evidence block is the signer's (src/reports/signing/seal.ts): one definition of the exact bytes.
export { EVIDENCE_SCRIPT_CLOSE, EVIDENCE_SCRIPT_OPEN, evidenceScript } from '../signing/seal';

/** The SignedEvidence embedded in a rendered report, or null when the document has no (single, well-formed) block. */
export function extractEmbeddedEvidence(html: string): SignedEvidence | null {
  const found = extractHtmlEvidence(html);
  return 'value' in found ? (found.value as SignedEvidence) : null;
}

export const templatesDir = (): string => join(packageRoot(), 'src', 'reports', 'render', 'templates');


const CURVE_CAPTIONS: Record<Curve['kind'], (c: Curve) => string> = {
  roc: () => 'ROC curve with its confidence band; dashed diagonal: chance.',
  pr: (c) => `Precision–recall curve; dashed line: prevalence ${formatNumber((c as Extract<Curve, { kind: 'pr' }>).prevalence)}.`,
  reliability: () => 'Reliability diagram with per-bin confidence intervals.',
  decision: () => 'Decision curve: net benefit against treat-all and treat-none.',
  froc: () => 'FROC curve with its bootstrap band.',
  distribution: (c) => `Per-case distribution of ${(c as Extract<Curve, { kind: 'distribution' }>).metric}: box plot over every case.`,
  'survival-calibration': (c) => `Calibration at the horizon t = ${formatValue((c as Extract<Curve, { kind: 'survival-calibration' }>).horizon)}.`,
};

/** ISO 8601 instant as "2026-11-30 14:22:31 UTC": fixed, locale-free. */
function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

function stableParams(params: Record<string, unknown> | undefined): string {
  if (!params || Object.keys(params).length === 0) return '—';
  return Object.keys(params)
    .sort()
    .map((k) => `${k} = ${typeof params[k] === 'string' ? (params[k] as string) : JSON.stringify(params[k])}`)
    .join('; ');
}

const BOUND_WORDS = { ci_lower: 'lower CI bound', ci_upper: 'upper CI bound', estimate: 'estimate' } as const;

function makeEnvironment(): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(templatesDir()), { autoescape: true, throwOnUndefined: false, trimBlocks: false });
  env.addFilter('num', (v: number | null | undefined) => formatNumber(v));
  env.addFilter('ci', (ci: [number, number] | null) => formatCi(ci));
  env.addFilter('ciRange', (ci: [number, number] | null) => (ci ? `${formatNumber(ci[0])} to ${formatNumber(ci[1])}` : 'not estimable'));
  env.addFilter('p', (p: number | null) => formatP(p));
  env.addFilter('pct', (k: number, n: number) => formatPercent(k, n));
  env.addFilter('duration', (ms: number | null) => formatDuration(ms));
  env.addFilter('date', (iso: string | null) => formatDate(iso));
  env.addFilter('cell', formatValue);
  env.addFilter('present', (v: unknown) => v !== undefined && v !== null && v !== '');
  env.addFilter('params', stableParams);
  env.addFilter('items', (o: Record<string, unknown> | null | undefined) => Object.entries(o ?? {}));
  env.addFilter('countsOrN', (e: Estimate) => (e.counts ? `${e.counts.numerator}/${e.counts.denominator}` : e.n !== undefined ? `n = ${e.n}` : ''));
  env.addFilter('criterion', (a: EvidenceRecord['protocol']['acceptanceCriteria'][number]) => `${BOUND_WORDS[a.bound]} ${a.op === '>=' ? '≥' : '≤'} ${formatNumber(a.value)}`);
  env.addFilter('decision', (met: boolean | null) =>
    met === true ? '<span class="met">Met</span>' : met === false ? '<span class="not-met">Not met</span>' : '<span class="na">Not assessable</span>',
  );
  env.addFilter('determinism', (d: EvidenceRecord['execution']['determinism']) =>
    d.checked ? `${d.identical} of ${d.cases} re-run cases identical${d.identical === d.cases ? '' : ' — outputs differ'}` : 'not checked',
  );
  env.addFilter('curveCaption', (c: Curve) => CURVE_CAPTIONS[c.kind](c));
  env.addFilter('hasCurve', (curves: Curve[], kind: string) => curves.some((c) => c.kind === kind));
  env.addFilter('sectionAnchor', (s: string) => String(s).split('.')[0] ?? '');
  return env;
}

let environment: nunjucks.Environment | null = null;
let stylesheet: string | null = null;

/**
 * The report as one self-contained HTML document (inline CSS and SVG, no script but the evidence block), from the
 * signed record and its prerendered charts (renderCharts). Pure and synchronous: the same input gives the same bytes.
 */
export function renderReportHtml(signed: SignedEvidence, charts: Record<string, string>): string {
  environment ??= makeEnvironment();
  stylesheet ??= readFileSync(join(templatesDir(), 'report.css'), 'utf8');
  return environment.render('report.njk', {
    signed,
    charts,
    sections: REPORT_SECTIONS,
    css: stylesheet,
    evidenceBlock: evidenceScript(signed),
  });
}
