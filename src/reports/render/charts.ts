import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { Curve, Estimate, EvidenceRecord } from '../evidence';
import { formatCi, formatNumber, formatValue } from './format';

/**
 * The report's plots: vega-lite specs compiled and drawn to SVG on the server by vega (no canvas, no network, no
 * browser). One function per plot. The output is deterministic: the config is pinned here, text is measured by
 * vega's estimator (never a canvas that may or may not be installed), ARIA is ours (role="img" with <title>/<desc>),
 * and any id vega generates (clip paths, gradients) is renamed after the chart so two charts in one page never clash.
 */

export interface ChartSvg {
  /** Unique within a report; also the prefix of every id inside the SVG. */
  id: string;
  title: string;
  /** A text alternative: what the plot shows, with its key numbers. */
  description: string;
  svg: string;
}

const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif';
const INK = '#1a1d21';
const MUTED = '#4a5361';
const ACCENT = '#0b5cad';
const ACCENT_FILL = '#9cc3ea';
const WARN = '#a33b00';

/** Okabe–Ito (colour-blind safe), darkened where text would sit on it. */
const CATEGORY = ['#0b5cad', '#a33b00', '#2f6f3e', '#6b3fa0', '#8a6d00', '#1a1d21'];

const CONFIG = {
  aria: false,
  background: '#ffffff',
  font: FONT,
  padding: 8,
  view: { stroke: '#c8ccd2', continuousWidth: 360, continuousHeight: 260 },
  axis: {
    labelColor: INK,
    titleColor: INK,
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 600,
    gridColor: '#e3e6ea',
    domainColor: MUTED,
    tickColor: MUTED,
  },
  legend: { labelColor: INK, titleColor: INK, labelFontSize: 11, titleFontSize: 11, orient: 'bottom', direction: 'horizontal' },
  title: { color: INK, subtitleColor: MUTED, fontSize: 14, subtitleFontSize: 11, fontWeight: 600, anchor: 'start', offset: 10 },
  range: { category: CATEGORY },
  line: { strokeWidth: 2 },
  point: { filled: true },
} as const;

let textMetricsPinned = false;
function pinTextMetrics(): void {
  if (textMetricsPinned) return;
  // Character-width estimation instead of a canvas: the same bytes whether or not node-canvas is installed.
  (vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false);
  textMetricsPinned = true;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Renames vega's generated ids (clip1, gradient_0, p_gradient_0) in order of first appearance: stable and unique. */
function renameGeneratedIds(svg: string, prefix: string): string {
  const map = new Map<string, string>();
  const rename = (m: string): string => {
    let name = map.get(m);
    if (!name) {
      name = `${prefix}-def${map.size}`;
      map.set(m, name);
    }
    return name;
  };
  // Only ids and references to them: a label that reads "clip1" stays as it is.
  return svg.replace(/(\bid="|url\(#|href="#)((?:p_)?(?:clip\d+|gradient_\d+))(?=[")])/g, (_m, lead: string, old: string) => `${lead}${rename(old)}`);
}

/** Compiles and draws one vega-lite spec. */
export async function renderSpec(input: { id: string; title: string; description: string; spec: TopLevelSpec }): Promise<ChartSvg> {
  pinTextMetrics();
  const { id, title, description } = input;
  const spec = { ...input.spec, config: CONFIG } as TopLevelSpec;
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  let raw: string;
  try {
    raw = await view.toSVG();
  } finally {
    view.finalize();
  }
  // vega's own ARIA (graphics-object/graphics-symbol roles on inner groups) is dropped: the whole plot is one image
  // with our <title>/<desc>, and the numbers are in the report's tables.
  const flat = raw.replace(/ (?:role|aria-roledescription|aria-label)="[^"]*"/g, '');
  const svg = renameGeneratedIds(flat, id).replace(
    /^<svg ([^>]*)>/,
    (_m, attrs: string) =>
      `<svg ${attrs} id="${id}" role="img" aria-labelledby="${id}-title ${id}-desc" focusable="false">` +
      `<title id="${id}-title">${escapeXml(title)}</title><desc id="${id}-desc">${escapeXml(description)}</desc>`,
  );
  if (!svg.startsWith(`<svg `) || !svg.includes(`id="${id}-title"`)) throw new Error(`chart ${id}: unexpected SVG from vega`);
  return { id, title, description, svg };
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));
const estimateText = (label: string, e: Estimate | undefined): string | undefined =>
  e ? `${label} ${formatNumber(e.value)} (${formatCi(e.ci)}; ${e.method})` : undefined;

const unitAxis = (title: string) => ({ title, scale: { domain: [0, 1] }, axis: { format: '.1f', tickCount: 5 } });

type RocCurve = Extract<Curve, { kind: 'roc' }>;
type PrCurve = Extract<Curve, { kind: 'pr' }>;
type ReliabilityCurve = Extract<Curve, { kind: 'reliability' }>;
type DecisionCurve = Extract<Curve, { kind: 'decision' }>;
type FrocCurve = Extract<Curve, { kind: 'froc' }>;
type DistributionCurve = Extract<Curve, { kind: 'distribution' }>;
type SurvivalCalibrationCurve = Extract<Curve, { kind: 'survival-calibration' }>;

/** ROC curve with its CI band (pointwise, as the record gives it) and the chance diagonal. */
export function rocChart(id: string, curve: RocCurve): Promise<ChartSvg> {
  const sub = estimateText('AUROC', curve.auc);
  const series = (name: string, pts: { x: number; y: number }[]) => pts.map((p, i) => ({ series: name, i, x: p.x, y: p.y }));
  const lines = [
    ...series('Model', curve.points.map((p) => ({ x: p.fpr, y: p.tpr }))),
    ...series('Chance', [{ x: 0, y: 0 }, { x: 1, y: 1 }]),
  ];
  const layers: unknown[] = [];
  if (curve.band?.length) {
    layers.push({
      data: { values: curve.band.map((b) => ({ x: b.fpr, lo: clamp01(b.lo), hi: clamp01(b.hi) })) },
      mark: { type: 'area', color: ACCENT_FILL, opacity: 0.55 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
    });
  }
  layers.push({
    data: { values: lines },
    mark: { type: 'line', interpolate: 'linear' },
    encoding: {
      x: { field: 'x', type: 'quantitative' },
      y: { field: 'y', type: 'quantitative' },
      order: { field: 'i', type: 'quantitative' },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['Model', 'Chance'], range: [ACCENT, MUTED] } },
      strokeDash: { field: 'series', type: 'nominal', legend: null, scale: { domain: ['Model', 'Chance'], range: [[1, 0], [4, 4]] } },
    },
  });
  const title = 'ROC curve';
  return renderSpec({
    id,
    title,
    description:
      `Receiver operating characteristic: true-positive rate against false-positive rate over ${curve.points.length} operating points` +
      `${curve.band?.length ? ', with its confidence band shaded' : ''}; the dashed diagonal is chance. ${sub ?? ''}`.trim(),
    spec: {
      title: { text: title, subtitle: sub ? [sub, ...(curve.band?.length ? ['Shaded: confidence band'] : [])] : undefined },
      width: 320,
      height: 300,
      encoding: { x: unitAxis('False-positive rate (1 − specificity)'), y: unitAxis('True-positive rate (sensitivity)') },
      layer: layers,
    } as unknown as TopLevelSpec,
  });
}

/** Precision–recall curve with the prevalence line (the precision of a no-skill classifier). */
export function prChart(id: string, curve: PrCurve): Promise<ChartSvg> {
  const title = 'Precision–recall curve';
  const sub = `Dashed line: prevalence ${formatNumber(curve.prevalence)} (no-skill precision)`;
  return renderSpec({
    id,
    title,
    description: `Precision against recall over ${curve.points.length} thresholds; the dashed horizontal line is the prevalence, ${formatNumber(curve.prevalence)}.`,
    spec: {
      title: { text: title, subtitle: sub },
      width: 320,
      height: 300,
      layer: [
        {
          data: { values: curve.points.map((p, i) => ({ i, recall: p.recall, precision: p.precision })) },
          mark: { type: 'line', color: ACCENT },
          encoding: {
            x: { field: 'recall', type: 'quantitative', ...unitAxis('Recall (sensitivity)') },
            y: { field: 'precision', type: 'quantitative', ...unitAxis('Precision (PPV)') },
            order: { field: 'i', type: 'quantitative' },
          },
        },
        {
          data: { values: [{ p: curve.prevalence }] },
          mark: { type: 'rule', color: WARN, strokeDash: [5, 4], strokeWidth: 1.5 },
          encoding: { y: { field: 'p', type: 'quantitative' } },
        },
      ],
    } as unknown as TopLevelSpec,
  });
}

/** Reliability diagram: observed frequency against mean predicted probability per bin, with CIs; the diagonal is perfect calibration. */
export function reliabilityChart(id: string, curve: ReliabilityCurve | SurvivalCalibrationCurve): Promise<ChartSvg> {
  const survival = curve.kind === 'survival-calibration';
  const title = survival ? `Calibration at t = ${formatValue(curve.horizon)}` : 'Reliability diagram';
  const bins = curve.bins.map((b, i) => ({
    i,
    predicted: b.predicted,
    observed: b.observed,
    n: b.n,
    lo: 'lo' in b && b.lo !== undefined ? b.lo : null,
    hi: 'hi' in b && b.hi !== undefined ? b.hi : null,
  }));
  const withCi = bins.filter((b) => b.lo !== null && b.hi !== null);
  const layers: unknown[] = [
    {
      data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
      mark: { type: 'line', color: MUTED, strokeDash: [4, 4], strokeWidth: 1.5 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
    },
  ];
  if (withCi.length) {
    layers.push({
      data: { values: withCi },
      mark: { type: 'rule', color: ACCENT, strokeWidth: 1.5 },
      encoding: { x: { field: 'predicted', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
    });
  }
  layers.push(
    {
      data: { values: bins },
      mark: { type: 'line', color: ACCENT, strokeWidth: 1.5 },
      encoding: { x: { field: 'predicted', type: 'quantitative' }, y: { field: 'observed', type: 'quantitative' }, order: { field: 'i', type: 'quantitative' } },
    },
    {
      data: { values: bins },
      mark: { type: 'point', color: ACCENT, filled: true, stroke: '#ffffff', strokeWidth: 1 },
      encoding: {
        x: { field: 'predicted', type: 'quantitative' },
        y: { field: 'observed', type: 'quantitative' },
        size: { field: 'n', type: 'quantitative', title: 'Cases in bin', scale: { range: [30, 260] }, legend: { format: 'd', tickCount: 4 } },
      },
    },
  );
  const sub = [`${bins.length} bins; dot area: cases in bin${withCi.length ? '; bars: confidence intervals' : ''}`, 'Dashed diagonal: perfect calibration'];
  return renderSpec({
    id,
    title,
    description: `${title}: observed against predicted ${survival ? 'event probability at the horizon' : 'probability'} in ${bins.length} bins (${bins
      .map((b) => `${formatNumber(b.predicted)} → ${formatNumber(b.observed)}, n=${b.n}`)
      .join('; ')}).`,
    spec: {
      title: { text: title, subtitle: sub },
      width: 300,
      height: 300,
      encoding: { x: unitAxis('Mean predicted probability'), y: unitAxis('Observed frequency') },
      layer: layers,
    } as unknown as TopLevelSpec,
  });
}

/** Decision curve: net benefit of the model against treat-all and treat-none over threshold probabilities. */
export function decisionCurveChart(id: string, curve: DecisionCurve): Promise<ChartSvg> {
  const maxNb = Math.max(0.01, ...curve.points.flatMap((p) => [p.model, p.treatAll, p.treatNone]));
  // Treat-all falls steeply at high thresholds; the axis keeps the useful range and drops points below it (no clipping ids).
  const floor = -Math.max(0.05, maxNb * 0.15);
  const series = ['Model', 'Treat all', 'Treat none'];
  const values = curve.points.flatMap((p, i) =>
    [
      { series: 'Model', nb: p.model },
      { series: 'Treat all', nb: p.treatAll },
      { series: 'Treat none', nb: p.treatNone },
    ]
      .filter((s) => s.nb >= floor)
      .map((s) => ({ ...s, i, threshold: p.threshold })),
  );
  const title = 'Decision curve';
  const first = curve.points[0];
  const last = curve.points[curve.points.length - 1];
  return renderSpec({
    id,
    title,
    description: `Net benefit of the model, of treating all and of treating none, over threshold probabilities ${formatNumber(first?.threshold ?? null)} to ${formatNumber(last?.threshold ?? null)} (${curve.points.length} thresholds).`,
    spec: {
      title: { text: title, subtitle: 'Net benefit against treat-all and treat-none' },
      width: 340,
      height: 260,
      data: { values },
      mark: { type: 'line' },
      encoding: {
        x: { field: 'threshold', type: 'quantitative', title: 'Threshold probability', axis: { format: '.2f' } },
        y: { field: 'nb', type: 'quantitative', title: 'Net benefit', scale: { domain: [floor, maxNb * 1.05], nice: false }, axis: { format: '.2f' } },
        order: { field: 'i', type: 'quantitative' },
        color: { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: [ACCENT, WARN, MUTED] } },
        strokeDash: { field: 'series', type: 'nominal', legend: null, scale: { domain: series, range: [[1, 0], [6, 3], [2, 2]] } },
      },
    } as unknown as TopLevelSpec,
  });
}

/** FROC: lesion sensitivity against false positives per case (log2 axis when all are positive), with its band. */
export function frocChart(id: string, curve: FrocCurve): Promise<ChartSvg> {
  const log = curve.points.every((p) => p.fpPerCase > 0) && (curve.band ?? []).every((b) => b.fpPerCase > 0);
  const xScale = log ? { type: 'log', base: 2 } : { type: 'linear', zero: true };
  const layers: unknown[] = [];
  if (curve.band?.length) {
    layers.push({
      data: { values: curve.band.map((b) => ({ x: b.fpPerCase, lo: clamp01(b.lo), hi: clamp01(b.hi) })) },
      mark: { type: 'area', color: ACCENT_FILL, opacity: 0.55 },
      encoding: { x: { field: 'x', type: 'quantitative', scale: xScale }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
    });
  }
  layers.push({
    data: { values: curve.points.map((p, i) => ({ i, x: p.fpPerCase, y: p.sensitivity })) },
    mark: { type: 'line', color: ACCENT, point: { filled: true, size: 28, color: ACCENT } },
    encoding: { x: { field: 'x', type: 'quantitative', scale: xScale }, y: { field: 'y', type: 'quantitative' }, order: { field: 'i', type: 'quantitative' } },
  });
  const title = 'FROC curve';
  return renderSpec({
    id,
    title,
    description: `Free-response ROC: lesion sensitivity against mean false positives per case over ${curve.points.length} operating points${curve.band?.length ? ', with its bootstrap band shaded' : ''}.`,
    spec: {
      title: { text: title, subtitle: curve.band?.length ? 'Shaded: bootstrap confidence band' : 'Operating points' },
      width: 340,
      height: 280,
      encoding: {
        x: { title: `False positives per case${log ? ' (log₂ scale)' : ''}`, axis: { format: log ? '~g' : '.1f' } },
        y: unitAxis('Lesion sensitivity'),
      },
      layer: layers,
    } as unknown as TopLevelSpec,
  });
}

/** Quantile by linear interpolation between order statistics (R type 7, numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (h - lo) * (b - a);
}

/** Per-case distribution of one metric: a box plot (quartiles, whiskers at 1.5 IQR) over every case as a point. */
export function distributionChart(id: string, curve: DistributionCurve): Promise<ChartSvg> {
  const sorted = curve.values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const q1 = quantile(sorted, 0.25);
  const med = quantile(sorted, 0.5);
  const q3 = quantile(sorted, 0.75);
  const iqr = q3 - q1;
  const inFence = sorted.filter((v) => v >= q1 - 1.5 * iqr && v <= q3 + 1.5 * iqr);
  const lowW = inFence[0] ?? q1;
  const highW = inFence[inFence.length - 1] ?? q3;
  // Deterministic vertical spread of the points (golden-ratio sequence), never a random jitter.
  const points = curve.values.map((v, i) => ({ v, j: 0.12 + 0.36 * ((i * 0.6180339887498949) % 1) }));
  const title = `${curve.metric}: per-case distribution`;
  const sub = `n = ${sorted.length}; median ${formatNumber(med)}, IQR ${formatNumber(q1)}–${formatNumber(q3)}; whiskers at 1.5 × IQR`;
  const y = { field: 'y', type: 'quantitative', scale: { domain: [0, 1] }, axis: null };
  return renderSpec({
    id,
    title,
    description: `Distribution of ${curve.metric} over ${sorted.length} cases: median ${formatNumber(med)}, quartiles ${formatNumber(q1)} and ${formatNumber(q3)}, whiskers ${formatNumber(lowW)} to ${formatNumber(highW)}, minimum ${formatNumber(sorted[0] ?? null)}, maximum ${formatNumber(sorted[sorted.length - 1] ?? null)}. Each case is a dot below the box.`,
    spec: {
      title: { text: title, subtitle: sub },
      width: 360,
      height: 150,
      encoding: { x: { title: curve.metric, type: 'quantitative', scale: { zero: false, nice: true } } },
      layer: [
        {
          data: { values: points.map((p) => ({ x: p.v, y: p.j })) },
          mark: { type: 'circle', color: ACCENT, opacity: 0.45, size: 16 },
          encoding: { x: { field: 'x', type: 'quantitative' }, y },
        },
        {
          data: { values: [{ x: lowW, x2: highW, y: 0.78 }] },
          mark: { type: 'rule', color: INK, strokeWidth: 1.5 },
          encoding: { x: { field: 'x', type: 'quantitative' }, x2: { field: 'x2' }, y },
        },
        {
          data: { values: [{ x: lowW }, { x: highW }] },
          mark: { type: 'rule', color: INK, strokeWidth: 1.5 },
          encoding: { x: { field: 'x', type: 'quantitative' }, y: { datum: 0.7, type: 'quantitative', scale: { domain: [0, 1] }, axis: null }, y2: { datum: 0.86 } },
        },
        {
          data: { values: [{ x: q1, x2: q3 }] },
          mark: { type: 'rect', fill: ACCENT_FILL, stroke: INK, strokeWidth: 1.5 },
          encoding: { x: { field: 'x', type: 'quantitative' }, x2: { field: 'x2' }, y: { datum: 0.62, type: 'quantitative', scale: { domain: [0, 1] }, axis: null }, y2: { datum: 0.94 } },
        },
        {
          data: { values: [{ x: med }] },
          mark: { type: 'rule', color: INK, strokeWidth: 2.5 },
          encoding: { x: { field: 'x', type: 'quantitative' }, y: { datum: 0.62, type: 'quantitative', scale: { domain: [0, 1] }, axis: null }, y2: { datum: 0.94 } },
        },
      ],
    } as unknown as TopLevelSpec,
  });
}

export interface ForestRow {
  label: string;
  n: number;
  estimate: Estimate;
  insufficient: boolean;
}

/** Forest plot: each subgroup level's estimate and CI, with a reference line at the overall estimate. */
export function forestChart(id: string, input: { metric: string; rows: ForestRow[]; overall: number | null }): Promise<ChartSvg> {
  const rows = input.rows.map((r, i) => ({
    i,
    label: `${r.label} (n=${r.n})${r.insufficient ? ' — insufficient' : ''}`,
    value: r.estimate.value,
    lo: r.estimate.ci?.[0] ?? null,
    hi: r.estimate.ci?.[1] ?? null,
    status: r.insufficient ? 'Insufficient data' : 'Estimate',
  }));
  const labels = rows.map((r) => r.label);
  const y = { field: 'label', type: 'nominal', sort: labels, title: null, axis: { labelLimit: 420 } };
  const layers: unknown[] = [];
  if (input.overall !== null) {
    layers.push({
      data: { values: [{ x: input.overall }] },
      mark: { type: 'rule', color: WARN, strokeDash: [5, 4], strokeWidth: 1.5 },
      encoding: { x: { field: 'x', type: 'quantitative' } },
    });
  }
  layers.push(
    {
      data: { values: rows.filter((r) => r.lo !== null && r.hi !== null) },
      mark: { type: 'rule', strokeWidth: 2 },
      encoding: {
        x: { field: 'lo', type: 'quantitative' },
        x2: { field: 'hi' },
        y,
        color: { field: 'status', type: 'nominal', title: null, scale: { domain: ['Estimate', 'Insufficient data'], range: [ACCENT, MUTED] } },
      },
    },
    {
      data: { values: rows.filter((r) => r.value !== null) },
      mark: { type: 'point', shape: 'square', filled: true, size: 70 },
      encoding: {
        x: { field: 'value', type: 'quantitative' },
        y,
        color: { field: 'status', type: 'nominal', title: null, scale: { domain: ['Estimate', 'Insufficient data'], range: [ACCENT, MUTED] } },
      },
    },
  );
  const title = `Subgroups: ${input.metric}`;
  const sub = input.overall !== null ? `Estimate and confidence interval per level; dashed line: overall ${formatNumber(input.overall)}` : 'Estimate and confidence interval per level';
  return renderSpec({
    id,
    title,
    description: `Forest plot of ${input.metric} by subgroup: ${input.rows
      .map((r) => `${r.label} ${formatNumber(r.estimate.value)} (${formatCi(r.estimate.ci)})${r.insufficient ? ', insufficient data' : ''}`)
      .join('; ')}${input.overall !== null ? `. Overall ${formatNumber(input.overall)}.` : '.'}`,
    spec: {
      title: { text: title, subtitle: sub },
      width: 320,
      height: { step: 24 },
      encoding: { x: { title: input.metric, type: 'quantitative', scale: { zero: false, nice: true } } },
      layer: layers,
    } as unknown as TopLevelSpec,
  });
}

/**
 * challengeR-style blob plot of this submission's bootstrap rank distribution: rank on x, the share of bootstrap
 * samples at each rank as dot area, the median rank as a cross and its 95% interval as a bar.
 */
export function rankBlobChart(
  id: string,
  input: { label: string; entries: number; rankShare: number[]; medianRank: number | null; rankInterval: [number, number] | null },
): Promise<ChartSvg> {
  const shares = input.rankShare.map((share, i) => ({ rank: i + 1, share, who: input.label }));
  const y = { field: 'who', type: 'nominal', title: null, axis: { labelLimit: 200 } };
  const layers: unknown[] = [
    {
      data: { values: shares.filter((s) => s.share > 0) },
      mark: { type: 'circle', color: ACCENT, opacity: 0.8 },
      encoding: {
        x: { field: 'rank', type: 'quantitative' },
        y,
        size: { field: 'share', type: 'quantitative', title: 'Share of bootstrap samples', scale: { domain: [0, 1], range: [0, 900] }, legend: { format: '.0%', values: [0.1, 0.5, 1], titleLimit: 300 } },
      },
    },
  ];
  if (input.rankInterval) {
    layers.push({
      data: { values: [{ lo: input.rankInterval[0], hi: input.rankInterval[1], who: input.label }] },
      mark: { type: 'rule', color: INK, strokeWidth: 2 },
      encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' }, y },
    });
  }
  if (input.medianRank !== null) {
    layers.push({
      data: { values: [{ m: input.medianRank, who: input.label }] },
      mark: { type: 'point', shape: 'cross', color: WARN, filled: true, size: 220, stroke: '#ffffff', strokeWidth: 1 },
      encoding: { x: { field: 'm', type: 'quantitative' }, y },
    });
  }
  const title = 'Rank distribution (bootstrap)';
  const ci = input.rankInterval ? `${input.rankInterval[0]}–${input.rankInterval[1]}` : 'not available';
  return renderSpec({
    id,
    title,
    description: `Share of bootstrap samples in which the submission takes each rank among ${input.entries} entries: ${shares
      .filter((s) => s.share > 0)
      .map((s) => `rank ${s.rank} ${(s.share * 100).toFixed(1)}%`)
      .join(', ')}. Median rank ${formatValue(input.medianRank)}, 95% interval ${ci}.`,
    spec: {
      title: { text: title, subtitle: `Dot area: share of samples; cross: median rank; bar: 95% rank interval (${ci})` },
      width: Math.max(240, Math.min(520, input.entries * 28)),
      height: { step: 70 },
      encoding: {
        x: { title: 'Rank (1 = best)', type: 'quantitative', scale: { domain: [0.5, input.entries + 0.5], nice: false }, axis: { tickMinStep: 1, format: 'd', values: Array.from({ length: input.entries }, (_, i) => i + 1) } },
      },
      layer: layers,
    } as unknown as TopLevelSpec,
  });
}

/** One plot for one curve of the record. */
export function curveChart(id: string, curve: Curve): Promise<ChartSvg> {
  switch (curve.kind) {
    case 'roc':
      return rocChart(id, curve);
    case 'pr':
      return prChart(id, curve);
    case 'reliability':
    case 'survival-calibration':
      return reliabilityChart(id, curve);
    case 'decision':
      return decisionCurveChart(id, curve);
    case 'froc':
      return frocChart(id, curve);
    case 'distribution':
      return distributionChart(id, curve);
  }
}

/** The keys under which renderCharts files each plot; the template looks them up the same way. */
export const chartKey = {
  primary: (i: number): string => `primary-curve-${i}`,
  calibration: (i: number): string => `calibration-curve-${i}`,
  forest: 'subgroups-forest',
  rank: 'context-rank',
} as const;

/** The overall value that a forest plot's reference line marks: the primary endpoint or a secondary of that metric. */
export function overallFor(evidence: EvidenceRecord, metric: string): number | null {
  const all = [evidence.primary.endpoint, ...evidence.primary.secondary];
  return all.find((e) => e.metric === metric)?.value ?? null;
}

/** Every plot of the report as SVG, keyed by chartKey. Sequential: the same record gives the same bytes. */
export async function renderCharts(evidence: EvidenceRecord): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [i, curve] of evidence.primary.curves.entries()) out[chartKey.primary(i)] = (await curveChart(`chart-${chartKey.primary(i)}`, curve)).svg;
  for (const [i, curve] of (evidence.calibration?.curves ?? []).entries())
    out[chartKey.calibration(i)] = (await curveChart(`chart-${chartKey.calibration(i)}`, curve)).svg;
  if (evidence.subgroups.rows.length > 0) {
    out[chartKey.forest] = (
      await forestChart(`chart-${chartKey.forest}`, {
        metric: evidence.subgroups.metric,
        overall: overallFor(evidence, evidence.subgroups.metric),
        rows: evidence.subgroups.rows.map((r) => ({ label: `${r.attribute}: ${r.level}`, n: r.n, estimate: r.estimate, insufficient: r.insufficient })),
      })
    ).svg;
  }
  const ctx = evidence.benchmarkContext;
  if (ctx?.rankShare && ctx.rankShare.length > 0) {
    out[chartKey.rank] = (
      await rankBlobChart(`chart-${chartKey.rank}`, {
        label: evidence.identity.submission.name,
        entries: ctx.entries,
        rankShare: ctx.rankShare,
        medianRank: ctx.medianRank,
        rankInterval: ctx.rankInterval,
      })
    ).svg;
  }
  return out;
}
