import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SignedEvidence } from '../evidence';
import type { TopLevelSpec } from 'vega-lite';
import { chartKey, distributionChart, forestChart, frocChart, quantile, rankBlobChart, renderCharts, renderSpec, rocChart } from './charts';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'reports');
const load = (name: string): SignedEvidence => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as SignedEvidence;

const ids = (svg: string): string[] => [...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1] as string);

describe('report charts', () => {
  jest.setTimeout(60_000);

  it('draws every plot of each fixture as an SVG with role="img", a <title> and a <desc>', async () => {
    const expected: Record<string, string[]> = {
      'binary-wdbc.json': [chartKey.primary(0), chartKey.primary(1), chartKey.calibration(0), chartKey.calibration(1), chartKey.forest, chartKey.rank],
      'survival-synthetic.json': [chartKey.primary(0), chartKey.forest],
      'segmentation-vendor.json': [chartKey.primary(0), chartKey.primary(1), chartKey.primary(2), chartKey.forest, chartKey.rank],
      'detection-synthetic.json': [chartKey.primary(0), chartKey.forest, chartKey.rank],
    };
    for (const [file, keys] of Object.entries(expected)) {
      const charts = await renderCharts(load(file).evidence);
      expect(Object.keys(charts)).toEqual(keys);
      for (const [key, svg] of Object.entries(charts)) {
        const id = `chart-${key}`;
        expect(svg.startsWith('<svg ')).toBe(true);
        expect(svg).toContain(`id="${id}" role="img" aria-labelledby="${id}-title ${id}-desc"`);
        expect(svg).toMatch(new RegExp(`<title id="${id}-title">[^<]+</title><desc id="${id}-desc">[^<]+</desc>`));
        // Axis titles are drawn: each plot has at least one axis-title text.
        expect(svg).toContain('role-axis-title');
      }
    }
  });

  it('gives the same bytes for the same record, and ids that are unique across one report', async () => {
    const evidence = load('binary-wdbc.json').evidence;
    const first = await renderCharts(evidence);
    // Another record in between moves vega's internal id counters; the output must not depend on them.
    await renderCharts(load('segmentation-vendor.json').evidence);
    const second = await renderCharts(evidence);
    expect(second).toEqual(first);
    const all = Object.values(first).flatMap(ids);
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((i) => /^(clip\d+|gradient_\d+)$/.test(i))).toEqual([]);
  });

  it('renames the clip-path ids vega numbers from a process-wide counter, and leaves label text alone', async () => {
    const spec = {
      data: { values: [{ x: 0, y: 0, l: 'clip1' }, { x: 2, y: 2, l: 'clip1' }] },
      width: 100,
      height: 100,
      layer: [
        { mark: { type: 'line', clip: true }, encoding: { x: { field: 'x', type: 'quantitative', scale: { domain: [0, 1] } }, y: { field: 'y', type: 'quantitative', scale: { domain: [0, 1] } } } },
        { mark: { type: 'text' }, encoding: { text: { field: 'l' }, x: { datum: 0.5, type: 'quantitative' }, y: { datum: 0.5, type: 'quantitative' } } },
      ],
    } as unknown as TopLevelSpec;
    const a = await renderSpec({ id: 't-clip', title: 't', description: 'd', spec });
    await renderSpec({ id: 't-other', title: 't', description: 'd', spec });
    const b = await renderSpec({ id: 't-clip', title: 't', description: 'd', spec });
    expect(b.svg).toBe(a.svg);
    expect(a.svg).toContain('<clipPath id="t-clip-def0">');
    expect(a.svg).toContain('clip-path="url(#t-clip-def0)"');
    expect(a.svg).toMatch(/>clip1<\/text>/);
  });

  it('names the interval and method of the AUROC in the ROC plot and its text alternative', async () => {
    const evidence = load('binary-wdbc.json').evidence;
    const roc = evidence.primary.curves[0];
    if (roc?.kind !== 'roc') throw new Error('fixture: first curve is the ROC');
    const chart = await rocChart('t-roc', roc);
    expect(chart.description).toContain('AUROC 0.977 (CI 0.963 to 0.992; 95% CI DeLong)');
    expect(chart.svg).toContain('False-positive rate (1 − specificity)');
    expect(chart.svg).toContain('True-positive rate (sensitivity)');
  });

  it('escapes text that came from the record inside the SVG', async () => {
    const chart = await forestChart('t-forest', {
      metric: 'dice',
      overall: 0.8,
      rows: [
        { label: 'site: <script>alert(1)</script>', n: 30, estimate: { value: 0.8, ci: [0.7, 0.9], method: 'm' }, insufficient: false },
        { label: 'site: </script>&"', n: 3, estimate: { value: null, ci: null, method: 'not estimated' }, insufficient: true },
      ],
    });
    expect(chart.svg).not.toMatch(/<\/?script/i);
    expect(chart.svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('draws a FROC on a log2 axis when every operating point has false positives', async () => {
    const chart = await frocChart('t-froc', { kind: 'froc', points: [{ fpPerCase: 0.125, sensitivity: 0.5 }, { fpPerCase: 8, sensitivity: 0.9 }] });
    expect(chart.svg).toContain('log₂ scale');
    const linear = await frocChart('t-froc2', { kind: 'froc', points: [{ fpPerCase: 0, sensitivity: 0 }, { fpPerCase: 2, sensitivity: 0.9 }] });
    expect(linear.svg).not.toContain('log₂ scale');
  });

  it('summarises a distribution with type-7 quartiles', async () => {
    expect(quantile([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75, 12);
    expect(quantile([1, 2, 3, 4], 0.5)).toBeCloseTo(2.5, 12);
    expect(quantile([5], 0.75)).toBe(5);
    const chart = await distributionChart('t-dist', { kind: 'distribution', metric: 'Dice', values: [0.1, 0.8, 0.85, 0.9, 0.95] });
    expect(chart.description).toContain('median 0.850, quartiles 0.800 and 0.900');
    // Whiskers stop at the last point inside 1.5 × IQR: 0.1 is an outlier.
    expect(chart.description).toContain('whiskers 0.800 to 0.950');
  });

  it('states the median rank and rank interval of the blob plot', async () => {
    const chart = await rankBlobChart('t-rank', { label: 'A', entries: 3, rankShare: [0.7, 0.3, 0], medianRank: 1, rankInterval: [1, 2] });
    expect(chart.description).toBe('Share of bootstrap samples in which the submission takes each rank among 3 entries: rank 1 70.0%, rank 2 30.0%. Median rank 1, 95% interval 1–2.');
  });
});
